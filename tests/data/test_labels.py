"""class_counts, read_labels and image_folder_labels: labels from tensors, files and
ImageFolder directories (longtail/data/_labels.py)."""

from __future__ import annotations

from pathlib import Path

import longtail
import numpy as np
import pytest
import torch
from data_helpers import IMAGENET_LT_LINES
from longtail.data import (
    image_folder_labels,
    read_labels,
)


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


def test_class_counts() -> None:
    assert longtail.class_counts([0, 0, 2, 1, 0]).tolist() == [3, 1, 1]
    counts = longtail.class_counts(torch.tensor([1, 1]), num_classes=4)
    assert counts.tolist() == [0, 2, 0, 0] and counts.dtype == np.int64
    assert longtail.class_counts([], num_classes=2).tolist() == [0, 0]
    with pytest.raises(
        ValueError, match=r"labels should be < num_classes=2, but got labels\[1\]=5"
    ):
        longtail.class_counts([1, 5], num_classes=2)
    with pytest.raises(ValueError, match=r"labels should be non-negative .* labels\[0\]=-1"):
        longtail.class_counts([-1, 0])
    with pytest.raises(ValueError, match="labels should be 1-D"):
        longtail.class_counts([[0, 1]])
    with pytest.raises(TypeError, match=r"dtype=torch\.float32"):
        longtail.class_counts(torch.zeros(3))
    with pytest.raises(ValueError, match="labels should not be empty"):
        longtail.class_counts([])
