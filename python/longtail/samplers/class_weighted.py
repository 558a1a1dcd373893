r"""Class-level i.i.d. sampling: draw a class ``j`` with probability :math:`p_j`, then a
uniformly random sample of it (with replacement).

* :class:`PowerSampler`, :math:`p_j \propto n_j^q` (Mahajan et al. ECCV 2018; Kang et al.
  ICLR 2020), with :class:`ClassBalancedSampler` (:math:`q = 0`) and
  :class:`SquareRootSampler` (:math:`q = 1/2`, the ``MixedPrioritizedSampler(nroot=2)`` of
  facebookresearch/classifier-balancing);
* :class:`ProgressivelyBalancedSampler`, instance- to class-balanced over the epochs (Kang et
  al. ICLR 2020, facebookresearch/classifier-balancing);
* :class:`ReversedSampler`, :math:`p_j \propto n_{max} / n_j`, the reversed sampler of BBN
  (Zhou et al. CVPR 2020, Megvii-Nanjing/BBN).
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

from longtail import _core
from longtail._checks import U64_MAX
from longtail.samplers._base import ArrayLike, _check_int, _LabelSampler, _num_samples_or

__all__ = [
    "ClassBalancedSampler",
    "PowerSampler",
    "ProgressivelyBalancedSampler",
    "ReversedSampler",
    "SquareRootSampler",
]


class _ClassWeightedSampler(_LabelSampler):
    """i.i.d. draws: a class with probability :meth:`class_probabilities`, then a uniformly
    random sample of it (with replacement). Epoch length ``N`` unless ``num_samples``."""

    def __init__(
        self,
        labels: ArrayLike,
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
        self.num_samples: int = _num_samples_or(self.dataset_size, num_samples)

    def _class_weights(self, epoch: int) -> np.ndarray:
        raise NotImplementedError

    def class_probabilities(self, epoch: int | None = None) -> np.ndarray:
        """``p_j`` for each class in :attr:`classes` at ``epoch`` (default: the current one)."""
        epoch = self.epoch if epoch is None else _check_int("epoch", epoch, low=0, high=U64_MAX)
        w = self._class_weights(epoch)
        return w / w.sum()

    def _epoch_length(self, epoch: int) -> int:
        return self.num_samples

    def _stream(self, epoch: int) -> Any:
        return _core.class_weighted_stream(
            self._offsets,
            self._members,
            np.ascontiguousarray(self._class_weights(epoch), dtype=np.float64),
            self.num_samples,
            self.seed,
            epoch,
        )


class ClassBalancedSampler(_ClassWeightedSampler):
    r"""Class-balanced sampling (Kang et al. ICLR 2020, :math:`q = 0`): i.i.d. draws of a class
    uniformly, :math:`p_j = 1/C` over the ``C`` classes present, then of a uniformly random
    sample of that class.

    Args:
        labels: the class index of every sample (list, NumPy array or tensor of ints).
        num_samples: draws per epoch (before sharding); defaults to ``N = len(labels)``.
        seed, num_replicas, rank, drop_last: as for :class:`WeightedSampler`.

    Example:
        >>> sampler = ClassBalancedSampler([0, 0, 0, 0, 1, 2], seed=0)
        >>> sampler.class_probabilities()
        array([0.33333333, 0.33333333, 0.33333333])
    """

    def _class_weights(self, epoch: int) -> np.ndarray:
        return np.ones(self.num_classes)


class PowerSampler(_ClassWeightedSampler):
    r"""The power family (Mahajan et al. ECCV 2018; Kang et al. ICLR 2020): i.i.d. draws of class
    ``j`` with probability :math:`p_j = n_j^q / \sum_i n_i^q`, then of a uniformly random sample
    of it.

    ``q = 1`` is instance-balanced sampling (ordinary shuffling with replacement), ``q = 0``
    class-balanced, ``q = 1/2`` square-root sampling. Empty classes get probability 0 (they
    are never drawn, for every ``q``). Draws are with replacement; the epoch has ``N`` draws.

    Args:
        labels: the class index of every sample.
        q: the exponent, any finite real number.
        num_samples: draws per epoch (before sharding); defaults to ``N``.
        seed, num_replicas, rank, drop_last: as for :class:`WeightedSampler`.

    Example:
        >>> sampler = PowerSampler([0, 0, 0, 0, 1], q=0.5)
        >>> sampler.class_probabilities()
        array([0.66666667, 0.33333333])
    """

    q: float  # set before the base class's __init__ computes the weights

    def __init__(
        self,
        labels: ArrayLike,
        q: float,
        num_samples: int | None = None,
        *,
        seed: int = 0,
        num_replicas: int | None = None,
        rank: int | None = None,
        drop_last: bool = False,
    ) -> None:
        if isinstance(q, bool) or not isinstance(q, numbers.Real):
            raise TypeError(f"q should be a real number, but got q={q!r}")
        if not math.isfinite(q):
            raise ValueError(f"q should be finite, but got q={q}")
        self.q = float(q)
        super().__init__(
            labels,
            num_samples,
            seed=seed,
            num_replicas=num_replicas,
            rank=rank,
            drop_last=drop_last,
        )

    def _class_weights(self, epoch: int) -> np.ndarray:
        # n^q relative to the largest of them, in log space: every exponent is <= 0 (the
        # reference is n_max for q > 0 and n_min for q < 0), so no overflow for any finite q.
        log_n = np.log(self.class_counts.astype(np.float64))
        ref = log_n.max() if self.q > 0 else log_n.min()
        with np.errstate(over="ignore"):  # an exponent of -inf is a weight of exactly 0
            return np.exp(self.q * (log_n - ref))


class SquareRootSampler(PowerSampler):
    r"""Square-root sampling: :class:`PowerSampler` with ``q = 1/2``, the law of the decoupling
    code's ``MixedPrioritizedSampler(nroot=2)``.

    Args:
        labels: the class index of every sample.
        num_samples: draws per epoch (before sharding); defaults to ``N``.
        seed, num_replicas, rank, drop_last: as for :class:`WeightedSampler`.

    Example:
        >>> SquareRootSampler([0, 0, 0, 0, 1]).class_probabilities()
        array([0.66666667, 0.33333333])
    """

    def __init__(
        self,
        labels: ArrayLike,
        num_samples: int | None = None,
        *,
        seed: int = 0,
        num_replicas: int | None = None,
        rank: int | None = None,
        drop_last: bool = False,
    ) -> None:
        super().__init__(
            labels,
            0.5,
            num_samples,
            seed=seed,
            num_replicas=num_replicas,
            rank=rank,
            drop_last=drop_last,
        )


class ProgressivelyBalancedSampler(_ClassWeightedSampler):
    r"""Progressively-balanced sampling (Kang et al. ICLR 2020), driven by :meth:`set_epoch`:

    .. math::
        p_j(e) = (1 - \lambda_e)\,\frac{n_j}{N} + \lambda_e\,\frac{1}{C},
        \qquad \lambda_e = \min\Big(\frac{e}{T - 1}, 1\Big)

    with epochs ``e`` counted from 0 and ``T = total_epochs``. So epoch 0 is instance-balanced
    and epoch ``T - 1`` (and any later one) class-balanced, as in the official code (whose
    ``linspace(0, 1, T)`` schedule is applied at the end of 1-based epochs). With
    ``total_epochs=1`` the schedule is ``linspace(0, 1, 1) = [0]``: every epoch is
    instance-balanced. ``C`` counts the classes present. Draws are i.i.d. with replacement.

    Args:
        labels: the class index of every sample.
        total_epochs: ``T``, the number of training epochs.
        num_samples: draws per epoch (before sharding); defaults to ``N``.
        seed, num_replicas, rank, drop_last: as for :class:`WeightedSampler`.

    Example:
        >>> sampler = ProgressivelyBalancedSampler([0, 0, 0, 1], total_epochs=3)
        >>> [sampler.class_probabilities(e).tolist() for e in range(3)]
        [[0.75, 0.25], [0.625, 0.375], [0.5, 0.5]]
    """

    def __init__(
        self,
        labels: ArrayLike,
        total_epochs: int,
        num_samples: int | None = None,
        *,
        seed: int = 0,
        num_replicas: int | None = None,
        rank: int | None = None,
        drop_last: bool = False,
    ) -> None:
        self.total_epochs = _check_int("total_epochs", total_epochs, low=1)
        super().__init__(
            labels,
            num_samples,
            seed=seed,
            num_replicas=num_replicas,
            rank=rank,
            drop_last=drop_last,
        )

    def balance(self, epoch: int | None = None) -> float:
        """:math:`\\lambda_e`, the weight of the class-balanced part at ``epoch``."""
        epoch = self.epoch if epoch is None else _check_int("epoch", epoch, low=0, high=U64_MAX)
        if self.total_epochs == 1:
            return 0.0
        return min(epoch / (self.total_epochs - 1), 1.0)

    def _class_weights(self, epoch: int) -> np.ndarray:
        lam = self.balance(epoch)
        n = self.class_counts.astype(np.float64)
        return (1.0 - lam) * n / n.sum() + lam / self.num_classes


class ReversedSampler(_ClassWeightedSampler):
    r"""BBN's reversed sampling (Zhou et al. CVPR 2020): i.i.d. draws of class ``j`` with
    probability :math:`\propto n_{max} / n_j`, then of a uniformly random sample of it (with
    replacement). The epoch has ``N`` draws, one per conventional sample, as BBN's dataset
    returns a reversed sample alongside each conventional one.

    Args:
        labels: the class index of every sample.
        num_samples: draws per epoch (before sharding); defaults to ``N``.
        seed, num_replicas, rank, drop_last: as for :class:`WeightedSampler`.

    Example:
        >>> ReversedSampler([0, 0, 0, 1]).class_probabilities()
        array([0.25, 0.75])
    """

    def _class_weights(self, epoch: int) -> np.ndarray:
        n = self.class_counts.astype(np.float64)
        return n.max() / n
