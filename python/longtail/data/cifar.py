"""CIFAR-10-LT and CIFAR-100-LT (Cao et al. NeurIPS 2019, kaidic/LDAM-DRW
``IMBALANCECIFAR10`` / ``IMBALANCECIFAR100``): :class:`CIFAR10LT` and :class:`CIFAR100LT`, the
:func:`~longtail.data.long_tailed_subset` of torchvision's CIFAR (the ``vision`` extra),
re-exported from :mod:`longtail.data`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from torch.utils.data import Dataset

from longtail._validation import as_labels
from longtail.data._labels import PathLike, class_counts
from longtail.data.subsets import _check_profile, _check_ratio, long_tailed_subset

__all__ = ["CIFAR10LT", "CIFAR100LT"]

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
    """CIFAR-10-LT: torchvision's CIFAR-10 with a long-tailed training set (Cao et al.
    NeurIPS 2019).

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
    """CIFAR-100-LT: torchvision's CIFAR-100 with a long-tailed training set (Cao et al.
    NeurIPS 2019).

    As :class:`CIFAR10LT`, over ``cifar-100-python``: 10,847 training images at
    ``imbalance_ratio=100``, 500 in the head class and 5 in the tail class.

    Example:
        >>> train = CIFAR100LT("data", imbalance_ratio=100)
        >>> len(train)
        10847
    """

    _base = "CIFAR100"
    _num_classes = 100
