"""Long-tailed splits with the exact arithmetic and sampling of the LDAM-DRW reference code (Cao
et al. NeurIPS 2019; kaidic/LDAM-DRW ``imbalance_cifar.py``: ``get_img_num_per_cls`` and
``gen_imbalanced_data``): :func:`long_tailed_counts` and :func:`long_tailed_subset`, with the
exponential and step profiles, re-exported from :mod:`longtail.data`.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

from longtail._validation import ArrayLike, as_labels, check_int
from longtail.data._labels import _MAX_CLASSES

__all__ = ["long_tailed_counts", "long_tailed_subset"]

PROFILES = ("exp", "step")


# --------------------------------------------------------------------------------------------
# Argument checks.


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


def long_tailed_counts(
    num_classes: int, imbalance_ratio: float, n_max: int, profile: str = "exp"
) -> list[int]:
    r"""Per-class sample counts of a long-tailed split, class 0 the head.

    The arithmetic of the reference code (kaidic/LDAM-DRW ``get_img_num_per_cls``),
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
