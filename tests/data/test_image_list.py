"""read_image_list and ImageListDataset (ImageNetLT, PlacesLT): the ``path label`` list files of
the OLTR release (longtail/data/image_list.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from data_helpers import IMAGENET_LT_LINES, PLACES_LT_LINES
from longtail.data import (
    ImageListDataset,
    ImageNetLT,
    PlacesLT,
    read_image_list,
)


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
