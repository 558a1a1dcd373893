"""Class-aware sampling (Shen et al. ECCV 2016, "Relay Backpropagation"):
:class:`ClassAwareSampler`, with the exact class / instance cycling of the ``ClassAwareSampler``
of the decoupling code (Kang et al. ICLR 2020, facebookresearch/classifier-balancing).
"""

from __future__ import annotations

from typing import Any

import numpy as np  # noqa: F401  (the docstring example uses it)

from longtail import _core
from longtail.samplers._base import ArrayLike, _check_int, _LabelSampler, _num_samples_or

__all__ = ["ClassAwareSampler"]


class ClassAwareSampler(_LabelSampler):
    r"""Class-aware sampling with the exact cycling of the decoupling code (Shen et al. 2016;
    ``ClassAwareSampler`` of facebookresearch/classifier-balancing).

    Classes are visited in a random permutation that is reshuffled at the start of every pass
    (the first included); each visit takes the next ``samples_per_class`` samples from that
    class's own cycle, which is reshuffled at every wrap-around, so a class is sampled without
    replacement within a pass over its samples. The default epoch length is ``n_max * C``
    (``C`` = number of distinct labels), and every class then appears exactly ``n_max`` times
    when ``samples_per_class`` divides ``n_max``.

    Unlike the official sampler, whose cycles carry over from one epoch to the next, every
    epoch here is built from ``(seed, epoch)`` alone (all cycles start afresh), so every rank
    and every resumed run rebuild it exactly. The per-epoch law of class counts is the same.

    Args:
        labels: the class index of every sample.
        samples_per_class: ``k``, consecutive samples taken from a class per visit (the
            official ``num_samples_cls``; 4 in the cRT / LWS configs).
        num_samples: indices per epoch (before sharding); defaults to ``n_max * C``.
        seed, num_replicas, rank, drop_last: as for :class:`WeightedSampler`.

    Example:
        >>> sampler = ClassAwareSampler([0, 0, 0, 0, 1, 2], samples_per_class=2)
        >>> idx = sampler.epoch_indices()
        >>> sorted(np.bincount(np.array([0, 0, 0, 0, 1, 2])[idx]).tolist())
        [4, 4, 4]
    """

    def __init__(
        self,
        labels: ArrayLike,
        samples_per_class: int = 1,
        num_samples: int | None = None,
        *,
        seed: int = 0,
        num_replicas: int | None = None,
        rank: int | None = None,
        drop_last: bool = False,
    ) -> None:
        super().__init__(
            labels, seed=seed, num_replicas=num_replicas, rank=rank, drop_last=drop_last
        )
        self.samples_per_class = _check_int("samples_per_class", samples_per_class, low=1)
        self.num_samples: int = _num_samples_or(
            int(self.class_counts.max()) * self.num_classes, num_samples
        )

    def _epoch_length(self, epoch: int) -> int:
        return self.num_samples

    def _stream(self, epoch: int) -> Any:
        return _core.class_aware_stream(
            self._offsets,
            self._members,
            self.samples_per_class,
            self.num_samples,
            self.seed,
            epoch,
        )
