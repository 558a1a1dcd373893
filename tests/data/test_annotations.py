"""read_inaturalist, read_lvis and lvis_groups: the iNaturalist 2018 and LVIS JSON files, on
small files in the real formats (longtail/data/annotations.py)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from longtail.data import (
    lvis_groups,
    read_inaturalist,
    read_lvis,
)

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
