"""Readers for the JSON annotations of the long-tailed benchmarks: iNaturalist 2018 (Van Horn et
al. CVPR 2018) with :func:`read_inaturalist`, and LVIS v1 (Gupta et al. CVPR 2019) with
:func:`read_lvis` and its rare / common / frequent groups :func:`lvis_groups` (the thresholds of
lvis-dataset/lvis-api), re-exported from :mod:`longtail.data`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from longtail._validation import INT64_MAX, ArrayLike, as_labels
from longtail.data._labels import PathLike

__all__ = [
    "INaturalistAnnotations",
    "LVISAnnotations",
    "lvis_groups",
    "read_inaturalist",
    "read_lvis",
]

# --------------------------------------------------------------------------------------------
# iNaturalist 2018 and LVIS JSON files.


def _load_json(path: PathLike, keys: Sequence[str], what: str) -> dict:
    with open(path, "rb") as f:
        raw = f.read()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise ValueError(
            f"{os.fspath(path)} should be UTF-8 JSON, but byte {err.start} is not UTF-8"
        ) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is not valid JSON: {err}") from None
    except RecursionError:
        raise ValueError(
            f"{path} is not a {what} annotation file: its JSON nests too deeply"
        ) from None
    if not isinstance(data, dict):
        raise ValueError(
            f"{path} should hold a {what} JSON object, but got a {type(data).__name__}"
        )
    missing = [k for k in keys if not isinstance(data.get(k), list)]
    if missing:
        raise ValueError(
            f"{path} should be a {what} annotation file with lists {', '.join(map(repr, keys))}, "
            f"but {', '.join(map(repr, missing))} is missing"
        )
    return data


def _field(record: Any, key: str, path: PathLike, where: str) -> Any:
    if not isinstance(record, dict) or key not in record:
        raise ValueError(f"{path}: every entry of {where!r} should have a {key!r} field")
    return record[key]


def _id_field(record: Any, key: str, path: PathLike, where: str) -> int:
    """An integer id field: a JSON integer in the int64 range (not a float, bool or string)."""
    value = _field(record, key, path, where)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(
            f"{path}: {key!r} in {where!r} should be an integer id, but got {key}={value!r}"
        )
    if not -INT64_MAX - 1 <= value <= INT64_MAX:
        raise ValueError(f"{path}: {key!r} in {where!r} should fit in int64, but got {key}={value}")
    return value


def _unique_ids(records: list, path: PathLike, where: str) -> list[int]:
    """The ``id`` of every entry of ``where``, each at most once."""
    ids = [_id_field(r, "id", path, where) for r in records]
    seen: set[int] = set()
    for value in ids:
        if value in seen:
            raise ValueError(f"{path}: {where!r} should have unique ids, but id={value} repeats")
        seen.add(value)
    return ids


@dataclass(frozen=True)
class INaturalistAnnotations:
    """The labels of an iNaturalist 2018 (or 2017/2019, same format) annotation file.

    Attributes:
        file_names: the image path of each image, in the order of ``images``.
        labels: the class index of each image (``int64``), an index into ``category_ids``;
            for iNaturalist 2018, whose category ids are ``0 .. 8141``, equal to the id.
        category_ids: the category id of each class, ascending.
        class_counts: the number of images of each class (``int64``).
    """

    file_names: list[str]
    labels: np.ndarray
    category_ids: np.ndarray
    class_counts: np.ndarray


def read_inaturalist(path: PathLike) -> INaturalistAnnotations:
    """Reads an iNaturalist 2018 annotation file (``train2018.json``, ``val2018.json``).

    The file is COCO-style: ``images`` (``id``, ``file_name``), ``annotations`` (``image_id``,
    ``category_id``, one per image) and ``categories`` (``id``).

    Args:
        path: the JSON file.

    Returns:
        An :class:`INaturalistAnnotations`.

    Raises:
        ValueError: if the file is not valid JSON, lacks a section or field, or an image has no
            annotation or an annotation names an unknown image or category.

    Example:
        >>> ann = read_inaturalist("train2018.json")
        >>> len(ann.class_counts), int(ann.class_counts.max()), int(ann.class_counts.min())
        (8142, 1000, 2)
    """
    data = _load_json(path, ("images", "annotations", "categories"), "iNaturalist")
    ids = sorted(_unique_ids(data["categories"], path, "categories"))
    image_ids = _unique_ids(data["images"], path, "images")
    index_of = {cid: i for i, cid in enumerate(ids)}
    label_of: dict[int, int] = {}
    for a in data["annotations"]:
        cid = _id_field(a, "category_id", path, "annotations")
        if cid not in index_of:
            raise ValueError(f"{path}: an annotation names category_id={cid}, not in 'categories'")
        image_id = _id_field(a, "image_id", path, "annotations")
        if image_id in label_of:
            # iNaturalist has one label per image: a second one is an error, not an override.
            raise ValueError(
                f"{path}: image_id={image_id} should have one annotation, but it has several"
            )
        label_of[image_id] = index_of[cid]
    file_names, labels = [], []
    for image, image_id in zip(data["images"], image_ids, strict=True):
        if image_id not in label_of:
            raise ValueError(
                f"{path}: image id={image_id} has no annotation (an unlabelled split?)"
            )
        file_name = _field(image, "file_name", path, "images")
        if not isinstance(file_name, str) or not file_name:
            raise ValueError(
                f"{path}: 'file_name' of image id={image_id} should be a non-empty string, but "
                f"got file_name={file_name!r}"
            )
        file_names.append(file_name)
        labels.append(label_of[image_id])
    label_array = np.asarray(labels, dtype=np.int64)
    return INaturalistAnnotations(
        file_names=file_names,
        labels=label_array,
        category_ids=np.asarray(ids, dtype=np.int64),
        class_counts=np.bincount(label_array, minlength=len(ids)).astype(np.int64),
    )


def lvis_groups(image_counts: ArrayLike) -> np.ndarray:
    """LVIS frequency groups (Gupta et al. CVPR 2019) from per-category training *image* counts:
    ``"r"`` (rare, 1–10 images), ``"c"`` (common, 11–100) and ``"f"`` (frequent, > 100). A category
    with no training image is put with the rare ones, as LVIS's own ``frequency`` field does.

    Example:
        >>> lvis_groups([1, 10, 11, 100, 101]).tolist()
        ['r', 'r', 'c', 'c', 'f']
    """
    counts = as_labels(image_counts, "image_counts")
    return np.where(counts > 100, "f", np.where(counts > 10, "c", "r"))


@dataclass(frozen=True)
class LVISAnnotations:
    """The categories of an LVIS (v0.5 or v1) annotation file.

    Attributes:
        image_ids: the id of each image, in the order of ``images``.
        category_ids: the category id of each class, ascending (LVIS ids start at 1).
        category_names: the ``name`` of each class.
        image_categories: for each image, the sorted class indices (into ``category_ids``) of its
            annotations, each once — the input of :func:`longtail.samplers.repeat_factors`.
        image_counts: the number of images each class appears in (``int64``), recomputed from
            the annotations.
        instance_counts: the number of annotations of each class (``int64``).
        groups: ``"r"``, ``"c"`` or ``"f"`` per class, from ``image_counts`` (:func:`lvis_groups`).
    """

    image_ids: np.ndarray
    category_ids: np.ndarray
    category_names: list[str]
    image_categories: list[list[int]]
    image_counts: np.ndarray
    instance_counts: np.ndarray
    groups: np.ndarray

    @property
    def class_counts(self) -> np.ndarray:
        """The per-class image counts (``image_counts``), the frequency LVIS groups by."""
        return self.image_counts


def read_lvis(path: PathLike) -> LVISAnnotations:
    """Reads an LVIS annotation file (``lvis_v1_train.json``, ``lvis_v0.5_train.json``).

    Args:
        path: the JSON file, with ``images`` (``id``), ``annotations`` (``image_id``,
            ``category_id``) and ``categories`` (``id``, ``name``).

    Returns:
        An :class:`LVISAnnotations`; its groups use image counts recomputed from the
        annotations (on the v1 training file they are 337 rare, 461 common, 405 frequent).

    Raises:
        ValueError: if the file is not valid JSON, lacks a section or field, or an annotation
            names an unknown image or category.

    Example:
        >>> lvis = read_lvis("lvis_v1_train.json")
        >>> r = longtail.samplers.repeat_factors(lvis.image_categories, threshold=0.001)
    """
    data = _load_json(path, ("images", "annotations", "categories"), "LVIS")
    category_ids = _unique_ids(data["categories"], path, "categories")
    order = sorted(range(len(category_ids)), key=category_ids.__getitem__)
    categories = [data["categories"][i] for i in order]
    ids = [category_ids[i] for i in order]
    names = [str(c.get("name", c["id"])) for c in categories]
    index_of = {cid: i for i, cid in enumerate(ids)}
    image_ids = _unique_ids(data["images"], path, "images")
    row_of = {iid: r for r, iid in enumerate(image_ids)}
    per_image: list[set[int]] = [set() for _ in image_ids]
    instances = np.zeros(len(ids), dtype=np.int64)
    for a in data["annotations"]:
        cid = _id_field(a, "category_id", path, "annotations")
        iid = _id_field(a, "image_id", path, "annotations")
        if cid not in index_of:
            raise ValueError(f"{path}: an annotation names category_id={cid}, not in 'categories'")
        if iid not in row_of:
            raise ValueError(f"{path}: an annotation names image_id={iid}, not in 'images'")
        per_image[row_of[iid]].add(index_of[cid])
        instances[index_of[cid]] += 1
    image_categories = [sorted(s) for s in per_image]
    flat = [c for cats in image_categories for c in cats]
    image_counts = np.bincount(np.asarray(flat, dtype=np.int64), minlength=len(ids)).astype(
        np.int64
    )
    return LVISAnnotations(
        image_ids=np.asarray(image_ids, dtype=np.int64),
        category_ids=np.asarray(ids, dtype=np.int64),
        category_names=names,
        image_categories=image_categories,
        image_counts=image_counts,
        instance_counts=instances,
        groups=lvis_groups(image_counts),
    )
