"""Index-level weighted sampling: :class:`WeightedSampler`, a seeded, sharded, resumable
drop-in for ``torch.utils.data.WeightedRandomSampler`` (torch/utils/data/sampler.py) with its
law: i.i.d. draws with replacement through an alias table (Walker 1977; Vose 1991), or
successive draws without replacement through exponential keys (Efraimidis & Spirakis 2006),
the law of ``torch.multinomial(replacement=False)``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

from longtail import _core
from longtail._checks import I64_MAX, _integer_or_none
from longtail.samplers._base import ArrayLike, _as_weights, _EpochSampler

__all__ = ["WeightedSampler"]


class WeightedSampler(_EpochSampler):
    r"""Samples ``num_samples`` indices with probability proportional to ``weights``.

    A drop-in for :class:`torch.utils.data.WeightedRandomSampler` with the same four
    positional arguments and the same law: i.i.d. draws with replacement, or, with
    ``replacement=False``, successive draws proportional to the remaining weights (the law of
    ``torch.multinomial(replacement=False)``), zero weights coming last (in a uniformly random
    order) as torch yields them. Weights are kept in float64 and there is no limit on their
    number (``torch.multinomial`` stops at :math:`2^{24}`). With replacement it uses an alias
    table (O(1) per draw); without, exponential keys. The epoch is streamed, so a huge
    ``num_samples`` is just a long iterator.

    Where the order comes from:

    - ``seed=`` given: the epoch is a function of ``(seed, epoch)`` (call :meth:`set_epoch`),
      the same on every rank: the rule for DDP.
    - ``generator=`` given: every ``__iter__`` draws a fresh seed from it, as
      ``WeightedRandomSampler`` does (``seed`` must then be left out).
    - neither: every ``__iter__`` draws a fresh seed from torch's global RNG, as
      ``WeightedRandomSampler`` does, so ``torch.manual_seed`` makes a run reproducible and
      successive iterations differ without :meth:`set_epoch`. Under DDP, give ``seed``.

    The seed of the latest iteration is :attr:`seed`; :meth:`state_dict` records it, so a
    resumed epoch continues that iteration exactly.

    Args:
        weights: non-negative weights, one per dataset index (need not sum to 1).
        num_samples: indices per epoch (before sharding across ranks), in ``[1, 2**63)``.
        replacement: draw with replacement. Without it, ``num_samples`` must not exceed
            ``len(weights)``.
        generator: a ``torch.Generator`` to draw each iteration's seed from, or None.
        seed: the seed, in ``[0, 2**64)``, or None (see above).
        num_replicas: number of ranks; defaults to the ``torch.distributed`` world size.
        rank: this rank; defaults to the ``torch.distributed`` rank.
        drop_last: drop the ragged tail instead of padding the epoch to a multiple of
            ``num_replicas``.

    Example:
        >>> sampler = WeightedSampler([0.1, 0.9, 0.4, 0.7, 3.0, 0.6], 5, seed=0)
        >>> indices = list(sampler)
        >>> len(indices), all(0 <= i < 6 for i in indices)
        (5, True)
    """

    def __init__(
        self,
        weights: ArrayLike,
        num_samples: int,
        replacement: bool = True,
        generator: torch.Generator | None = None,
        *,
        seed: int | None = None,
        num_replicas: int | None = None,
        rank: int | None = None,
        drop_last: bool = False,
    ) -> None:
        # torch's checks and messages (ValueError for both), before anything else.
        count = _integer_or_none(num_samples)
        if count is None or not 0 < count <= I64_MAX:
            raise ValueError(
                f"num_samples should be a positive integer value, but got num_samples={num_samples}"
            )
        if not isinstance(replacement, (bool, np.bool_)):
            raise ValueError(
                f"replacement should be a boolean value, but got replacement={replacement}"
            )
        if generator is not None and not isinstance(generator, torch.Generator):
            raise TypeError(
                "generator should be a torch.Generator or None, but got generator of type "
                f"{type(generator).__name__}"
            )
        if generator is not None and seed is not None:
            raise ValueError(
                "seed should be None when a generator is given (each iteration draws its seed "
                f"from the generator), but got seed={seed!r}"
            )
        super().__init__(
            seed=0 if seed is None else seed,
            num_replicas=num_replicas,
            rank=rank,
            drop_last=drop_last,
        )
        self.generator = generator
        #: Whether each iteration draws its seed (from ``generator`` or the global RNG).
        self.fresh_seed_per_iteration: bool = seed is None
        self.weights: np.ndarray = _as_weights(weights)
        self.num_samples: int = count
        self.replacement: bool = bool(replacement)
        if not self.replacement and self.num_samples > len(self.weights):
            raise ValueError(
                f"num_samples should be at most len(weights)={len(self.weights)} when "
                f"replacement=False, but got num_samples={self.num_samples}"
            )

    def _epoch_length(self, epoch: int) -> int:
        return self.num_samples

    def __iter__(self) -> Iterator[int]:
        if self.fresh_seed_per_iteration and self._resume_from == 0:
            # WeightedRandomSampler's behaviour: a new draw from the generator (or torch's
            # global RNG) every time.
            self.seed = int(torch.randint(0, 2**62, (), generator=self.generator))
        return super().__iter__()

    def _stream(self, epoch: int) -> Any:
        return _core.weighted_stream(
            self.weights, self.num_samples, self.replacement, self.seed, epoch
        )
