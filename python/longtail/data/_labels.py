"""Labels and class counts: :func:`class_counts` (labels -> per-class ``int64`` counts, the
form every ``class_counts`` argument of the package accepts), :func:`read_labels` (a ``.npy``,
``.txt`` or ``.csv`` labels file) and :func:`image_folder_labels` (an ImageFolder-style
directory, torchvision's ``DatasetFolder`` conventions), re-exported from :mod:`longtail.data`.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from longtail._validation import INT64_MAX, ArrayLike, as_labels, check_int

__all__ = ["class_counts", "image_folder_labels", "read_labels"]

PathLike = str | os.PathLike

#: Image extensions counted by :func:`image_folder_labels` (torchvision's ``IMG_EXTENSIONS``).
IMG_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")


# Arrays are sized by it: a bound keeps a typo from asking for terabytes.
_MAX_CLASSES = 1 << 31


def class_counts(labels: ArrayLike, num_classes: int | None = None) -> np.ndarray:
    """The number of samples of each class.

    Args:
        labels: class index of each sample, a 1-D sequence, array or tensor of integers >= 0.
        num_classes: the number of classes ``C``; by default ``max(labels) + 1``. Classes
            without a sample count 0.

    Returns:
        A 1-D ``int64`` array of length ``C``.

    Example:
        >>> longtail.class_counts([0, 0, 2, 1, 0]).tolist()
        [3, 1, 1]
        >>> longtail.class_counts([0, 1], num_classes=4).tolist()
        [1, 1, 0, 0]
    """
    array = as_labels(labels)
    if num_classes is not None:
        num_classes = check_int("num_classes", num_classes, low=1, high=_MAX_CLASSES)
        if array.size and array.max() >= num_classes:
            bad = int(np.flatnonzero(array >= num_classes)[0])
            raise ValueError(
                f"labels should be < num_classes={num_classes}, but got labels[{bad}]={array[bad]}"
            )
    elif array.size == 0:
        raise ValueError("labels should not be empty when num_classes is not given")
    return np.bincount(array, minlength=num_classes or 0).astype(np.int64)


# --------------------------------------------------------------------------------------------
# Labels from a file or a directory.


def read_labels(path: PathLike, column: str | int | None = None) -> np.ndarray:
    """Reads integer class labels from a ``.npy``, ``.txt`` or ``.csv`` file.

    * ``.npy``: a 1-D integer array.
    * ``.txt``: one label per line, or ``path label`` lines (the label is the last field).
    * ``.csv``: the column ``column`` (a header name or a 0-based position); by default the
      column named ``label``, ``labels``, ``target``, ``class`` or ``y`` when there is a header,
      else the last column.

    Args:
        path: the file.
        column: the ``.csv`` column to read.

    Returns:
        A 1-D ``int64`` array of labels.

    Raises:
        ValueError: if a value is not a non-negative integer, or the file holds no label.

    Example:
        >>> np.save("labels.npy", np.array([0, 0, 1]))
        >>> read_labels("labels.npy").tolist()
        [0, 0, 1]
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".npy":
        try:
            array = np.load(path, allow_pickle=False)
        except (ValueError, EOFError) as err:
            # An empty file is an EOFError ("No data left in file").
            raise ValueError(f"{path} is not a NumPy array file: {err or 'empty file'}") from None
        labels = as_labels(array, f"the array in {path}")
    elif suffix == ".txt":
        labels = _parse_ints([line.split()[-1] for line in _read_lines(path) if line.strip()], path)
    elif suffix == ".csv":
        labels = _read_csv_column(path, column)
    else:
        raise ValueError(
            f"path should be a .npy, .txt or .csv labels file, but got path={os.fspath(path)!r}"
        )
    if labels.size == 0:
        raise ValueError(f"{path} should hold at least one label, but it is empty")
    return labels


def _read_text(path: Path) -> str:
    with open(path, "rb") as f:
        raw = f.read()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise ValueError(
            f"{os.fspath(path)} should be a UTF-8 text file, but byte {err.start} is not UTF-8"
        ) from None


def _read_lines(path: Path) -> list[str]:
    return _read_text(path).splitlines()


def _parse_ints(values: Sequence[str], path: PathLike, first_row: int = 1) -> np.ndarray:
    out = []
    for i, value in enumerate(values):
        value = value.strip()
        digits = value.lstrip("+").lstrip("0") or "0"
        # isdigit() accepts non-ASCII digits that int() reads; the length bound keeps int() (and
        # its 4300-digit limit) away from an over-long value.
        if not (value.lstrip("+").isascii() and value.lstrip("+").isdigit()) or len(digits) > 19:
            raise ValueError(
                f"{path}: row {i + first_row} should be a non-negative integer label, but got "
                f"{value[:40]!r}{'...' if len(value) > 40 else ''}"
            )
        label = int(digits)
        if label > INT64_MAX:
            raise ValueError(
                f"{path}: row {i + first_row} should be a label that fits in int64, but got "
                f"{value!r}"
            )
        out.append(label)
    return np.asarray(out, dtype=np.int64)


_LABEL_COLUMNS = ("label", "labels", "target", "targets", "class", "y")


def _read_csv_column(path: Path, column: str | int | None) -> np.ndarray:
    text = _read_text(path)
    try:
        rows = [r for r in csv.reader(text.splitlines()) if r and any(cell.strip() for cell in r)]
    except csv.Error as err:
        raise ValueError(f"{path} is not a valid CSV file: {err}") from None
    if not rows:
        return np.zeros(0, dtype=np.int64)
    header = [cell.strip() for cell in rows[0]]
    has_header = not all(cell.lstrip("+-").isdigit() for cell in header)
    if isinstance(column, str):
        if not has_header or column not in header:
            raise ValueError(f"{path} should have a column named {column!r}, but got {header}")
        index = header.index(column)
    elif isinstance(column, int):
        index = column
    elif has_header:
        found = [i for i, cell in enumerate(header) if cell.lower() in _LABEL_COLUMNS]
        index = found[0] if found else len(header) - 1
    else:
        index = len(header) - 1
    body = rows[1:] if has_header else rows
    try:
        values = [r[index] for r in body]
    except IndexError:
        raise ValueError(f"{path}: column {index} is missing from some rows") from None
    return _parse_ints(values, path, first_row=2 if has_header else 1)


def image_folder_labels(root: PathLike) -> tuple[np.ndarray, list[str]]:
    """Labels of an ImageFolder-style directory: one sub-directory per class (sorted by name, as
    torchvision's ``ImageFolder``), holding that class's images at any depth.

    Args:
        root: the directory.

    Returns:
        ``(labels, classes)``: the label of each image file (``int64``) and the class names.

    Raises:
        NotADirectoryError: if ``root`` is not a directory.
        ValueError: if it has no class sub-directory or no image.

    Example:
        >>> labels, classes = image_folder_labels("train/")
    """
    root = Path(root)
    if not root.is_dir():
        raise NotADirectoryError(f"{os.fspath(root)!r} is not a directory")
    classes = sorted(entry.name for entry in os.scandir(root) if entry.is_dir())
    if not classes:
        raise ValueError(
            f"{os.fspath(root)!r} should hold one sub-directory per class, but it has none"
        )
    counts = [_count_images(root / name) for name in classes]
    if sum(counts) == 0:
        raise ValueError(
            f"{os.fspath(root)!r} should hold images ({', '.join(IMG_EXTENSIONS)}) in its class "
            "sub-directories, but it has none"
        )
    labels = np.repeat(np.arange(len(classes), dtype=np.int64), counts)
    return labels, classes


def _count_images(directory: Path) -> int:
    """The image files under ``directory``, following symlinks (as torchvision's ``ImageFolder``)
    but visiting each directory once and counting each file once, so a symlink loop or two links
    to one file cannot inflate the count."""
    seen_dirs: set[tuple[int, int]] = set()
    seen_files: set[tuple[int, int]] = set()
    for current, dirs, files in os.walk(directory, followlinks=True):
        st = os.stat(current)
        if (st.st_dev, st.st_ino) in seen_dirs:
            dirs[:] = []  # a loop, or a second link to a directory already walked
            continue
        seen_dirs.add((st.st_dev, st.st_ino))
        for f in files:
            if not f.lower().endswith(IMG_EXTENSIONS):
                continue
            try:
                fst = os.stat(os.path.join(current, f))
            except OSError:  # a dangling link is not an image
                continue
            seen_files.add((fst.st_dev, fst.st_ino))
    return len(seen_files)
