"""Readers of the benchmark annotation formats, on small files in the real formats."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from longtail.data import (
    ImageListDataset,
    ImageNetLT,
    PlacesLT,
    image_folder_labels,
    lvis_groups,
    read_image_list,
    read_inaturalist,
    read_labels,
    read_lvis,
)

# Lines as in ImageNet_LT_train.txt / Places_LT_train.txt of the OLTR release.
IMAGENET_LT_LINES = """\
train/n01440764/n01440764_10026.JPEG 0
train/n01440764/n01440764_10027.JPEG 0
train/n01440764/n01440764_10029.JPEG 0
train/n01443537/n01443537_10007.JPEG 1

train/n01484850/n01484850_10016.JPEG 2
train/n01484850/n01484850_10036.JPEG 2
"""

PLACES_LT_LINES = """\
/a/airfield/00000001.jpg 0
/a/airfield/00000002.jpg 0
/a/airplane_cabin/00000001.jpg 1
"""


def test_read_image_list(tmp_path: Path) -> None:
    path = tmp_path / "ImageNet_LT_train.txt"
    path.write_text(IMAGENET_LT_LINES)
    paths, labels = read_image_list(path)
    assert paths[3] == "train/n01443537/n01443537_10007.JPEG"
    assert labels.tolist() == [0, 0, 0, 1, 2, 2] and labels.dtype == np.int64


def test_image_list_dataset(tmp_path: Path) -> None:
    path = tmp_path / "Places_LT_train.txt"
    path.write_text(PLACES_LT_LINES)
    loaded = []

    def loader(p: str) -> str:
        loaded.append(p)
        return p.upper()

    ds = PlacesLT(tmp_path / "places", path, loader=loader, target_transform=lambda t: t + 10)
    assert isinstance(ds, ImageListDataset) and len(ds) == 3
    assert ds.class_counts.tolist() == [2, 1]
    image, target = ds[2]
    assert target == 11
    # The listed path is joined onto the root as written (Places-LT paths start with '/').
    assert loaded == [str(tmp_path / "places" / "/a/airplane_cabin/00000001.jpg")]
    assert image == loaded[0].upper()


def test_image_list_dataset_loads_pil_images(tmp_path: Path) -> None:
    image_module = pytest.importorskip("PIL.Image")
    (tmp_path / "train" / "n1").mkdir(parents=True)
    image_module.new("L", (4, 3), color=7).save(tmp_path / "train" / "n1" / "a.png")
    (tmp_path / "list.txt").write_text("train/n1/a.png 4\n")
    ds = ImageNetLT(tmp_path, tmp_path / "list.txt", transform=np.asarray)
    image, target = ds[0]
    assert target == 4 and image.shape == (3, 4, 3) and int(image[0, 0, 0]) == 7


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("train/a.jpg 0\ntrain/b.jpg\n", r"list.txt:2: a line should be '<image path> <label>'"),
        ("train/a.jpg zero\n", r"list.txt:1: .* but got 'train/a.jpg zero'"),
        ("train/a.jpg -1\n", r"list.txt:1:"),
        ("\n\n", "should list at least one image, but it is empty"),
    ],
)
def test_read_image_list_errors(tmp_path: Path, text: str, fragment: str) -> None:
    path = tmp_path / "list.txt"
    path.write_text(text)
    with pytest.raises(ValueError, match=fragment):
        read_image_list(path)


def test_read_image_list_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_image_list(tmp_path / "nope.txt")


# --------------------------------------------------------------------------------------------
# iNaturalist 2018.


def inat_json(categories=(0, 1, 2), per_class=(3, 1, 2)) -> dict:
    images, annotations = [], []
    for cid, n in zip(categories, per_class, strict=True):
        for _ in range(n):
            iid = 1000 + len(images)
            images.append(
                {
                    "id": iid,
                    "file_name": f"train_val2018/Plantae/{cid}/{iid}.jpg",
                    "width": 800,
                    "height": 600,
                    "license": 3,
                    "rights_holder": "someone",
                }
            )
            annotations.append({"id": iid, "image_id": iid, "category_id": cid})
    # Annotations in another order than the images.
    annotations.reverse()
    cats = [
        {"id": c, "name": f"Species {c}", "supercategory": "Plantae", "kingdom": "Plantae"}
        for c in categories
    ]
    return {
        "info": {"year": 2018},
        "images": images,
        "annotations": annotations,
        "categories": cats,
        "licenses": [],
    }


def test_read_inaturalist(tmp_path: Path) -> None:
    path = tmp_path / "train2018.json"
    path.write_text(json.dumps(inat_json()))
    ann = read_inaturalist(path)
    assert ann.labels.tolist() == [0, 0, 0, 1, 2, 2]
    assert ann.class_counts.tolist() == [3, 1, 2]
    assert ann.category_ids.tolist() == [0, 1, 2]
    assert ann.file_names[3] == "train_val2018/Plantae/1/1003.jpg"


def test_read_inaturalist_maps_sparse_category_ids(tmp_path: Path) -> None:
    path = tmp_path / "val.json"
    path.write_text(json.dumps(inat_json(categories=(40, 5, 17), per_class=(1, 2, 4))))
    ann = read_inaturalist(path)
    assert ann.category_ids.tolist() == [5, 17, 40]
    assert ann.class_counts.tolist() == [2, 4, 1]
    assert ann.labels.tolist() == [2, 0, 0, 1, 1, 1, 1]


@pytest.mark.parametrize(
    ("mutate", "fragment"),
    [
        (
            lambda d: d.pop("annotations"),
            "with lists 'images', 'annotations', 'categories', but 'annotations' is missing",
        ),
        (lambda d: d["annotations"].pop(), r"image id=1000 has no annotation"),
        (lambda d: d["annotations"][0].update(category_id=99), "category_id=99, not in"),
        (
            lambda d: d["images"][0].pop("file_name"),
            "entry of 'images' should have a 'file_name' field",
        ),
    ],
)
def test_read_inaturalist_errors(tmp_path: Path, mutate, fragment: str) -> None:
    data = inat_json()
    mutate(data)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=fragment):
        read_inaturalist(path)


def test_malformed_json(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"images": [1, 2')
    with pytest.raises(ValueError, match=r"broken.json is not valid JSON"):
        read_inaturalist(path)
    with pytest.raises(ValueError, match=r"broken.json is not valid JSON"):
        read_lvis(path)
    path.write_text("[1, 2]")
    with pytest.raises(ValueError, match="should hold a LVIS JSON object, but got a list"):
        read_lvis(path)


# --------------------------------------------------------------------------------------------
# LVIS.


def lvis_json() -> dict:
    """Four categories (LVIS ids start at 1); category 3 is in 12 images, 4 in 101."""
    images = [
        {
            "id": i,
            "height": 480,
            "width": 640,
            "neg_category_ids": [],
            "not_exhaustive_category_ids": [],
            "coco_url": f"http://x/{i:012d}.jpg",
        }
        for i in range(1, 121)
    ]
    anns = []

    def add(image_id: int, category_id: int) -> None:
        anns.append(
            {
                "id": len(anns) + 1,
                "image_id": image_id,
                "category_id": category_id,
                "bbox": [0, 0, 5, 5],
                "area": 25.0,
                "segmentation": [[0, 0, 5, 0, 5, 5]],
            }
        )

    add(1, 1)
    add(1, 1)  # a second instance of category 1 in the same image
    add(2, 2)
    for i in range(3, 15):
        add(i, 3)
    for i in range(5, 106):
        add(i, 4)
    cats = [
        {
            "id": c,
            "name": n,
            "synset": f"{n}.n.01",
            "frequency": f,
            "image_count": 0,
            "instance_count": 0,
            "synonyms": [n],
            "def": "...",
        }
        for c, n, f in [(4, "dog", "f"), (1, "aerosol", "r"), (2, "banjo", "r"), (3, "cat", "c")]
    ]
    return {"info": {}, "licenses": [], "images": images, "annotations": anns, "categories": cats}


def test_read_lvis(tmp_path: Path) -> None:
    path = tmp_path / "lvis_v1_train.json"
    path.write_text(json.dumps(lvis_json()))
    lvis = read_lvis(path)
    assert lvis.category_ids.tolist() == [1, 2, 3, 4]
    assert lvis.category_names == ["aerosol", "banjo", "cat", "dog"]
    assert lvis.image_counts.tolist() == [1, 1, 12, 101]
    assert lvis.class_counts.tolist() == [1, 1, 12, 101]
    assert lvis.instance_counts.tolist() == [2, 1, 12, 101]
    assert lvis.groups.tolist() == ["r", "r", "c", "f"]
    assert len(lvis.image_categories) == 120
    assert lvis.image_categories[0] == [0]  # duplicates inside an image count once
    assert lvis.image_categories[4] == [2, 3]
    assert lvis.image_categories[119] == []
    assert lvis.image_ids[:3].tolist() == [1, 2, 3]


def test_read_lvis_errors(tmp_path: Path) -> None:
    data = lvis_json()
    data["annotations"][0]["image_id"] = 9999
    path = tmp_path / "lvis.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="image_id=9999, not in 'images'"):
        read_lvis(path)
    data = lvis_json()
    data["annotations"][0].pop("category_id")
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="entry of 'annotations' should have a 'category_id'"):
        read_lvis(path)


def test_lvis_groups_boundaries() -> None:
    assert lvis_groups([0, 1, 10, 11, 100, 101, 5000]).tolist() == [
        "r",
        "r",
        "r",
        "c",
        "c",
        "f",
        "f",
    ]


# --------------------------------------------------------------------------------------------
# Label files and ImageFolder directories.


def test_read_labels_formats(tmp_path: Path) -> None:
    np.save(tmp_path / "y.npy", np.array([2, 0, 1], dtype=np.int32))
    assert read_labels(tmp_path / "y.npy").tolist() == [2, 0, 1]
    (tmp_path / "y.txt").write_text("3\n1\n\n1\n")
    assert read_labels(tmp_path / "y.txt").tolist() == [3, 1, 1]
    (tmp_path / "list.txt").write_text(IMAGENET_LT_LINES)
    assert read_labels(tmp_path / "list.txt").tolist() == [0, 0, 0, 1, 2, 2]
    (tmp_path / "h.csv").write_text("file,label,split\na.png,4,train\nb.png,0,train\n")
    assert read_labels(tmp_path / "h.csv").tolist() == [4, 0]
    assert read_labels(tmp_path / "h.csv", column="label").tolist() == [4, 0]
    (tmp_path / "n.csv").write_text("7,1\n8,2\n")
    assert read_labels(tmp_path / "n.csv").tolist() == [1, 2]
    assert read_labels(tmp_path / "n.csv", column=0).tolist() == [7, 8]


@pytest.mark.parametrize(
    ("name", "content", "error", "fragment"),
    [
        (
            "y.txt",
            "1\ncat\n",
            ValueError,
            "y.txt: row 2 should be a non-negative integer label, but got 'cat'",
        ),
        ("y.csv", "label\n1\n-2\n", ValueError, "y.csv: row 3 should be a non-negative integer"),
        ("y.csv", "a,b\n1,2\n", ValueError, None),
        ("y.txt", "\n", ValueError, "should hold at least one label, but it is empty"),
        ("y.json", "{}", ValueError, "path should be a .npy, .txt or .csv labels file"),
        ("y.npy", "not numpy", ValueError, "is not a NumPy array file"),
    ],
)
def test_read_labels_errors(tmp_path: Path, name, content, error, fragment) -> None:
    (tmp_path / name).write_text(content)
    with pytest.raises(error, match=fragment):
        read_labels(
            tmp_path / name, column="label" if name == "y.csv" and "a,b" in content else None
        )


def test_read_labels_rejects_float_arrays(tmp_path: Path) -> None:
    np.save(tmp_path / "p.npy", np.zeros((3,), dtype=np.float32))
    with pytest.raises(TypeError, match=r"should hold integer class indices, .*float32"):
        read_labels(tmp_path / "p.npy")
    with pytest.raises(FileNotFoundError):
        read_labels(tmp_path / "missing.npy")


def test_image_folder_labels(tmp_path: Path) -> None:
    for name, n in [("zebra", 1), ("ant", 3), ("bee", 0)]:
        (tmp_path / name / "sub").mkdir(parents=True)
        for i in range(n):
            (tmp_path / name / ("sub" if i else ".") / f"{i}.JPG").write_bytes(b"")
    (tmp_path / "ant" / "notes.txt").write_text("not an image")
    (tmp_path / "README").write_text("a file at the top is not a class")
    labels, classes = image_folder_labels(tmp_path)
    assert classes == ["ant", "bee", "zebra"]
    assert labels.tolist() == [0, 0, 0, 2]


def test_image_folder_errors(tmp_path: Path) -> None:
    with pytest.raises(
        ValueError, match="should hold one sub-directory per class, but it has none"
    ):
        image_folder_labels(tmp_path)
    (tmp_path / "cls").mkdir()
    with pytest.raises(ValueError, match=r"should hold images .* but it has none"):
        image_folder_labels(tmp_path)
    with pytest.raises(NotADirectoryError, match="is not a directory"):
        image_folder_labels(tmp_path / "missing")


def test_lvis_image_categories_feed_repeat_factors(tmp_path: Path) -> None:
    import longtail

    path = tmp_path / "lvis.json"
    path.write_text(json.dumps(lvis_json()))
    lvis = read_lvis(path)
    r = longtail.samplers.repeat_factors(lvis.image_categories, threshold=0.1)
    # f_c = image_counts / 120 images; r_c = max(1, sqrt(0.1 / f_c)); r_I = max over its classes.
    r_c = np.maximum(1.0, np.sqrt(0.1 / (lvis.image_counts / 120)))
    assert r[0] == pytest.approx(r_c[0]) and r[1] == pytest.approx(r_c[1])
    assert r[4] == pytest.approx(max(r_c[2], r_c[3]))
    assert r[119] == 1.0


def test_public_names() -> None:
    import longtail

    assert longtail.class_counts is longtail.data.class_counts
    for name in ("data", "metrics", "stats", "class_counts"):
        assert name in longtail.__all__
