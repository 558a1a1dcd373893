"""The ``path label`` list files of ImageNet-LT and Places-LT (Liu et al. CVPR 2019, the OLTR
code zhmiao/OpenLongTailRecognition-OLTR) and of the iNaturalist 2018 splits of the decoupling
code (Kang et al. ICLR 2020, facebookresearch/classifier-balancing): :func:`read_image_list`,
:class:`ImageListDataset`, :class:`ImageNetLT` and :class:`PlacesLT`, re-exported from
:mod:`longtail.data`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from torch.utils.data import Dataset

from longtail.data._labels import PathLike, class_counts

__all__ = ["ImageListDataset", "ImageNetLT", "PlacesLT", "read_image_list"]

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
