"""Long-tailed data sets, and readers for the annotation formats of the long-tailed benchmarks
(methods.md section 5).

* :func:`long_tailed_counts` and :func:`long_tailed_subset` build the CIFAR-LT style splits with
  the exact arithmetic and sampling of the reference code (kaidic/LDAM-DRW ``imbalance_cifar.py``);
  :class:`CIFAR10LT` and :class:`CIFAR100LT` apply them to torchvision's CIFAR (the ``vision``
  extra).
* :class:`ImageListDataset` (:class:`ImageNetLT`, :class:`PlacesLT`) reads the ``path label``
  list files of ImageNet-LT and Places-LT; :func:`read_inaturalist` and :func:`read_lvis` read the
  iNaturalist 2018 and LVIS JSON files.
* :func:`class_counts` counts labels per class; :func:`read_labels` and
  :func:`image_folder_labels` load labels from a file or an ImageFolder-style directory.

Labels are class indices ``0 .. C-1``; class counts are 1-D ``int64`` NumPy arrays, which every
``class_counts`` argument of the package accepts.
"""

from __future__ import annotations

import csv
import json
import math
import numbers
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from torch.utils.data import Dataset

from longtail._validation import INT64_MAX, ArrayLike, as_labels, check_int

__all__ = [
    "CIFAR10LT",
    "CIFAR100LT",
    "INaturalistAnnotations",
    "ImageListDataset",
    "ImageNetLT",
    "LVISAnnotations",
    "PlacesLT",
    "class_counts",
    "image_folder_labels",
    "long_tailed_counts",
    "long_tailed_subset",
    "lvis_groups",
    "read_image_list",
    "read_inaturalist",
    "read_labels",
    "read_lvis",
]

PathLike = str | os.PathLike

PROFILES = ("exp", "step")

#: Image extensions counted by :func:`image_folder_labels` (torchvision's ``IMG_EXTENSIONS``).
IMG_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")


# --------------------------------------------------------------------------------------------
# Argument checks.


# Arrays are sized by it: a bound keeps a typo from asking for terabytes.
_MAX_CLASSES = 1 << 31


def _check_ratio(imbalance_ratio: Any) -> float:
    if isinstance(imbalance_ratio, bool) or not isinstance(imbalance_ratio, numbers.Real):
        raise TypeError(
            f"imbalance_ratio should be a real number >= 1, but got "
            f"imbalance_ratio={imbalance_ratio!r}"
        )
    ratio = float(imbalance_ratio)
    if not math.isfinite(ratio) or ratio < 1.0:
        raise ValueError(
            f"imbalance_ratio should be a finite number >= 1 (n_max / n_min), but got "
            f"imbalance_ratio={imbalance_ratio}"
        )
    return ratio


def _check_profile(profile: Any) -> str:
    if profile not in PROFILES:
        raise ValueError(f"profile should be one of 'exp', 'step', but got profile={profile!r}")
    return profile


# --------------------------------------------------------------------------------------------
# Counts and long-tailed subsets.


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


def long_tailed_counts(
    num_classes: int, imbalance_ratio: float, n_max: int, profile: str = "exp"
) -> list[int]:
    r"""Per-class sample counts of a long-tailed split, class 0 the head.

    The arithmetic of the reference code (LDAM-DRW ``get_img_num_per_cls``, methods.md 5),
    integer for integer:

    * ``"exp"``: :math:`n_i = \lfloor n_{max} \cdot (1/\rho)^{i/(C-1)} \rfloor`;
    * ``"step"``: the first ``C // 2`` classes get ``n_max``, the others
      :math:`\lfloor n_{max} / \rho \rfloor`. (For an odd ``C`` the reference code returns only
      ``C - 1`` counts; here the extra class is a tail class.)

    Args:
        num_classes: the number of classes ``C``.
        imbalance_ratio: :math:`\rho = n_{max} / n_{min}` (>= 1); the reference code's
            ``imb_factor`` is ``1 / imbalance_ratio``.
        n_max: the size of the head class (500 for CIFAR-100, 5000 for CIFAR-10).
        profile: ``"exp"`` or ``"step"``.

    Returns:
        A list of ``C`` integers.

    Example:
        >>> sum(long_tailed_counts(100, 100, 500))  # CIFAR-100-LT
        10847
        >>> long_tailed_counts(4, 10, 100, profile="step")
        [100, 100, 10, 10]
    """
    num_classes = check_int("num_classes", num_classes, low=1, high=_MAX_CLASSES)
    ratio = _check_ratio(imbalance_ratio)
    n_max = check_int("n_max", n_max, low=1)
    profile = _check_profile(profile)
    imb_factor = 1.0 / ratio
    if profile == "step":
        head = num_classes // 2
        return [int(n_max)] * head + [int(n_max * imb_factor)] * (num_classes - head)
    if num_classes == 1:
        return [int(n_max)]
    # The same float expression, in the same order, as the reference: the result is truncated.
    return [int(n_max * (imb_factor ** (i / (num_classes - 1.0)))) for i in range(num_classes)]


def long_tailed_subset(
    labels: ArrayLike,
    imbalance_ratio: float,
    profile: str = "exp",
    seed: int = 0,
    n_max: int | None = None,
) -> np.ndarray:
    """Indices of a long-tailed subset of a labelled data set, deterministic for a seed.

    Follows LDAM-DRW's ``gen_imbalanced_data``: the classes present, in ascending order, get the
    counts of :func:`long_tailed_counts` (the smallest class id is the head); a NumPy
    ``RandomState(seed)`` shuffles the indices of each class in turn and the first ``n_i`` are
    kept. With ``seed=0`` and CIFAR this selects exactly the images of LDAM-DRW's
    ``IMBALANCECIFAR10/100``. No global random state is used.

    Args:
        labels: class index of each sample of the full (balanced) data set.
        imbalance_ratio: ``n_max / n_min`` (>= 1).
        profile: ``"exp"`` or ``"step"``.
        seed: seed of the per-class shuffles.
        n_max: the head class size; by default the size of the smallest class, which for a
            balanced set like CIFAR is the reference's ``len(data) // C``.

    Returns:
        A 1-D ``int64`` array of indices into ``labels``, grouped by class in class order (the
        order of the reference's new ``data``).

    Raises:
        ValueError: if a class has fewer samples than its count in the profile.

    Example:
        >>> labels = np.repeat(np.arange(10), 500)
        >>> idx = long_tailed_subset(labels, imbalance_ratio=100, seed=0)
        >>> np.bincount(labels[idx]).tolist()[:3], len(idx)
        ([500, 299, 179], 1236)
    """
    array = as_labels(labels)
    if array.size == 0:
        raise ValueError("labels should not be empty")
    seed = check_int("seed", seed, low=0, high=2**32 - 1)  # np.random.RandomState's range
    classes = np.unique(array)
    available = np.array([int((array == c).sum()) for c in classes])
    if n_max is None:
        n_max = int(available.min())
    counts = long_tailed_counts(len(classes), imbalance_ratio, n_max, profile)
    short = np.flatnonzero(available < np.asarray(counts))
    if short.size:
        c = int(short[0])
        raise ValueError(
            f"n_max={n_max} asks for {counts[c]} samples of class {classes[c]}, which has only "
            f"{available[c]}; pass a smaller n_max"
        )
    rng = np.random.RandomState(seed)
    chosen = []
    for c, n in zip(classes, counts, strict=True):
        idx = np.flatnonzero(array == c)
        rng.shuffle(idx)
        chosen.append(idx[:n])
    return np.concatenate(chosen).astype(np.int64)


# --------------------------------------------------------------------------------------------
# CIFAR-10/100-LT over torchvision.


def _torchvision_datasets(what: str) -> Any:
    try:
        import torchvision
    except ImportError as err:
        raise ImportError(
            f"{what} needs torchvision, which is not installed; install the 'vision' extra: "
            "pip install 'longtail[vision]'"
        ) from err
    return torchvision.datasets


class _CIFARLT(Dataset):
    _base: str = ""
    _num_classes: int = 0

    def __init__(
        self,
        root: PathLike,
        imbalance_ratio: float = 100.0,
        train: bool = True,
        profile: str = "exp",
        seed: int = 0,
        transform: Callable | None = None,
        target_transform: Callable | None = None,
        download: bool = False,
    ) -> None:
        ratio = _check_ratio(imbalance_ratio)
        profile = _check_profile(profile)
        datasets = _torchvision_datasets(type(self).__name__)
        base = getattr(datasets, self._base)(
            root,
            train=train,
            transform=transform,
            target_transform=target_transform,
            download=download,
        )
        targets = as_labels(np.asarray(base.targets), "targets")
        if train:
            indices = long_tailed_subset(
                targets, ratio, profile, seed, n_max=len(targets) // self._num_classes
            )
            base.data = base.data[indices]
            base.targets = targets[indices].tolist()
        else:
            indices = np.arange(len(targets), dtype=np.int64)
        #: The wrapped torchvision data set, with ``data`` and ``targets`` subset in place.
        self.dataset = base
        #: Indices of the kept samples in the original (balanced) split.
        self.indices: np.ndarray = indices
        self.imbalance_ratio, self.profile, self.train = ratio, profile, train

    @property
    def targets(self) -> list[int]:
        """The label of each sample."""
        return list(self.dataset.targets)

    @property
    def classes(self) -> list[str]:
        """The class names."""
        return list(self.dataset.classes)

    @property
    def class_counts(self) -> np.ndarray:
        """The number of samples of each class (``int64``, length ``C``)."""
        return class_counts(self.dataset.targets, self._num_classes)

    def __len__(self) -> int:
        return len(self.dataset.targets)

    def __getitem__(self, index: int) -> Any:
        return self.dataset[index]

    def __repr__(self) -> str:
        split = "train" if self.train else "test"
        return (
            f"{type(self).__name__}(split={split}, imbalance_ratio={self.imbalance_ratio:g}, "
            f"profile={self.profile!r}, size={len(self)})"
        )


class CIFAR10LT(_CIFARLT):
    """CIFAR-10-LT: torchvision's CIFAR-10 with a long-tailed training set (methods.md 5).

    The training split keeps :func:`long_tailed_subset` of the 50,000 images (12,406 at
    ``imbalance_ratio=100``, the images LDAM-DRW selects with ``seed=0``); the test split stays
    balanced. Needs torchvision (``pip install 'longtail[vision]'``).

    Args:
        root: the directory holding ``cifar-10-batches-py`` (as for torchvision's ``CIFAR10``).
        imbalance_ratio: ``n_max / n_min``, e.g. 10, 50, 100 or 200.
        train: the (long-tailed) training split, or the balanced test split.
        profile: ``"exp"`` or ``"step"``.
        seed: seed of the per-class selection.
        transform, target_transform, download: passed to torchvision's ``CIFAR10``.

    Example:
        >>> train = CIFAR10LT("data", imbalance_ratio=100)
        >>> len(train), train.class_counts[[0, -1]].tolist()
        (12406, [5000, 50])
    """

    _base = "CIFAR10"
    _num_classes = 10


class CIFAR100LT(_CIFARLT):
    """CIFAR-100-LT: torchvision's CIFAR-100 with a long-tailed training set (methods.md 5).

    As :class:`CIFAR10LT`, over ``cifar-100-python``: 10,847 training images at
    ``imbalance_ratio=100``, 500 in the head class and 5 in the tail class.

    Example:
        >>> train = CIFAR100LT("data", imbalance_ratio=100)
        >>> len(train)
        10847
    """

    _base = "CIFAR100"
    _num_classes = 100


# --------------------------------------------------------------------------------------------
# ImageNet-LT and Places-LT list files.


def read_image_list(path: PathLike) -> tuple[list[str], np.ndarray]:
    """Reads a ``path label`` list file (``ImageNet_LT_train.txt``, ``Places_LT_val.txt``, the
    iNaturalist 2018 lists of the decoupling code).

    Args:
        path: the list file; one ``relative/path.jpg label`` pair per line, blank lines ignored.

    Returns:
        ``(paths, labels)``: the relative image paths and their ``int64`` labels.

    Example:
        >>> paths, labels = read_image_list("ImageNet_LT_train.txt")
        >>> longtail.class_counts(labels).max()
        1280
    """
    paths: list[str] = []
    labels: list[int] = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            parts = line.rsplit(maxsplit=1)
            if len(parts) != 2 or not parts[1].lstrip("+").isdigit():
                raise ValueError(
                    f"{path}:{lineno}: a line should be '<image path> <label>', but got {line!r}"
                )
            paths.append(parts[0])
            labels.append(int(parts[1]))
    if not labels:
        raise ValueError(f"{path} should list at least one image, but it is empty")
    return paths, np.asarray(labels, dtype=np.int64)


def _pil_loader(path: str) -> Any:
    try:
        from PIL import Image
    except ImportError as err:
        raise ImportError(
            "loading images needs Pillow, which is not installed; install the 'vision' extra: "
            "pip install 'longtail[vision]'"
        ) from err
    with open(path, "rb") as f:
        return Image.open(f).convert("RGB")


class ImageListDataset(Dataset):
    """Images listed in a ``path label`` file, under an image root: the ImageNet-LT, Places-LT
    and iNaturalist 2018 splits of the OLTR and decoupling code.

    Args:
        root: the directory the listed paths are relative to.
        list_file: the list file (see :func:`read_image_list`).
        transform: applied to the loaded image.
        target_transform: applied to the label.
        loader: loads an image from its full path; by default a PIL RGB image (needs Pillow).

    Example:
        >>> train = ImageNetLT("/data/imagenet", "ImageNet_LT_train.txt")
        >>> len(train), len(train.class_counts)
        (115846, 1000)
    """

    def __init__(
        self,
        root: PathLike,
        list_file: PathLike,
        transform: Callable | None = None,
        target_transform: Callable | None = None,
        loader: Callable[[str], Any] | None = None,
    ) -> None:
        self.root = Path(root)
        paths, labels = read_image_list(list_file)
        #: The relative path of each image.
        self.paths: list[str] = paths
        #: The label of each image (``int64``).
        self.targets: np.ndarray = labels
        self.transform, self.target_transform = transform, target_transform
        self.loader = loader if loader is not None else _pil_loader

    @property
    def class_counts(self) -> np.ndarray:
        """The number of images of each class (``max(label) + 1`` classes)."""
        return class_counts(self.targets)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> tuple[Any, int]:
        image = self.loader(os.fspath(self.root / self.paths[index]))
        target = int(self.targets[index])
        if self.transform is not None:
            image = self.transform(image)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return image, target


class ImageNetLT(ImageListDataset):
    """ImageNet-LT (Liu et al. 2019): 1000 classes, 115.8K training images (1280 to 5 per
    class), from ``ImageNet_LT_{train,val,test}.txt`` over the ImageNet-2012 root."""


class PlacesLT(ImageListDataset):
    """Places-LT (Liu et al. 2019): 365 classes, 62.5K training images (4980 to 5 per class),
    from ``Places_LT_{train,val,test}.txt`` over the Places-365 root."""


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
    """LVIS frequency groups from per-category training *image* counts (methods.md 5): ``"r"``
    (rare, 1–10 images), ``"c"`` (common, 11–100) and ``"f"`` (frequent, > 100). A category
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
