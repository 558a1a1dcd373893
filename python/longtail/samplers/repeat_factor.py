"""LVIS repeat-factor sampling (Gupta et al. CVPR 2019): :func:`repeat_factors`, detectron2's
``repeat_factors_from_category_frequency``, and :class:`RepeatFactorSampler`, with the
stochastic rounding of detectron2's ``RepeatFactorTrainingSampler``
(facebookresearch/detectron2, detectron2/data/samplers/distributed_sampler.py) or the ceiling
of mmdetection's ``ClassBalancedDataset`` (open-mmlab/mmdetection).
"""

from __future__ import annotations

import itertools
import math
import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np
from torch import Tensor

from longtail import _core
from longtail.samplers._base import (
    ArrayLike,
    _as_labels,
    _as_weights,
    _check_bool,
    _EpochSampler,
)

__all__ = ["RepeatFactorSampler", "repeat_factors"]

_ROUNDINGS = ("stochastic", "ceil")


def repeat_factors(
    image_labels: Sequence[Sequence[int]], threshold: float = 0.001, sqrt: bool = True
) -> np.ndarray:
    r"""LVIS per-image repeat factors (Gupta et al. 2019; detectron2's
    ``repeat_factors_from_category_frequency``).

    With :math:`f_c` the fraction of images whose label set contains category ``c``
    (duplicates inside an image count once), :math:`r_c = \max(1, \sqrt{t / f_c})` (or
    :math:`\max(1, t / f_c)` with ``sqrt=False``) and :math:`r_I = \max_{c \in I} r_c`, or 1.0
    for an image without labels.

    Args:
        image_labels: one sequence of category ids per image.
        threshold: ``t``, the frequency threshold (0.001 in the LVIS configs).
        sqrt: use the square root (detectron2's default).

    Returns:
        The float64 repeat factor of each image.

    Example:
        >>> repeat_factors([[0, 1], [1], [1], [1]], threshold=0.5).tolist()
        [1.4142135623730951, 1.0, 1.0, 1.0]
    """
    if isinstance(image_labels, (str, bytes, Tensor, np.ndarray)) or not isinstance(
        image_labels, Sequence
    ):
        raise TypeError(
            "image_labels should be a sequence of per-image category lists, but got "
            f"image_labels of type {type(image_labels).__name__}"
        )
    if len(image_labels) == 0:
        raise ValueError("image_labels should be non-empty, but got 0 images")
    if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real):
        raise TypeError(f"threshold should be a real number, but got threshold={threshold!r}")
    if not (math.isfinite(threshold) and threshold >= 0):
        raise ValueError(f"threshold should be finite and >= 0, but got threshold={threshold}")
    sqrt = _check_bool("sqrt", sqrt)
    lengths = np.fromiter((len(cats) for cats in image_labels), dtype=np.int64)
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    flat = list(itertools.chain.from_iterable(image_labels))
    categories = _as_labels(flat, "image_labels") if flat else np.zeros(0, dtype=np.int64)
    return _core.repeat_factors(offsets, categories, float(threshold), sqrt)


class RepeatFactorSampler(_EpochSampler):
    r"""LVIS repeat-factor sampling (Gupta et al. CVPR 2019): image ``I`` appears about ``r_I``
    times per epoch, then the epoch is shuffled.

    ``rounding="stochastic"`` is detectron2's ``RepeatFactorTrainingSampler``:
    ``floor(r_I) + Bernoulli(frac(r_I))`` copies, redrawn every epoch, so the epoch length
    varies (its expectation is ``sum(r)``); ``len(sampler)`` is the current epoch's length.
    ``rounding="ceil"`` is mmdetection's ``ClassBalancedDataset``: ``ceil(r_I)`` copies.

    Args:
        repeat_factors: the repeat factor of each image (see :func:`repeat_factors`),
            finite and non-negative.
        rounding: ``'stochastic'`` or ``'ceil'``.
        seed, num_replicas, rank, drop_last: as for :class:`WeightedSampler`.

    Example:
        >>> sampler = RepeatFactorSampler([1.0, 2.0, 3.0], rounding="ceil")
        >>> sorted(sampler)
        [0, 1, 1, 2, 2, 2]
    """

    def __init__(
        self,
        repeat_factors: ArrayLike,
        rounding: str = "stochastic",
        *,
        seed: int = 0,
        num_replicas: int | None = None,
        rank: int | None = None,
        drop_last: bool = False,
    ) -> None:
        super().__init__(seed=seed, num_replicas=num_replicas, rank=rank, drop_last=drop_last)
        if rounding not in _ROUNDINGS:
            raise ValueError(
                f"rounding should be one of 'stochastic', 'ceil', but got rounding={rounding!r}"
            )
        self.rounding = rounding
        self.repeat_factors: np.ndarray = _as_weights(repeat_factors, "repeat_factors")

    def _epoch_length(self, epoch: int) -> int:
        return self._epoch_length_for(epoch, self.seed)

    def _epoch_length_for(self, epoch: int, seed: int) -> int:
        return _core.repeat_factor_epoch_length(self.repeat_factors, self.rounding, seed, epoch)

    def _stream(self, epoch: int) -> Any:
        return _core.repeat_factor_stream(self.repeat_factors, self.rounding, self.seed, epoch)
