"""Re-sampling for long-tailed datasets, as ``Sampler[int]`` classes.

Every sampler streams its epoch's indices from the Rust core (GIL released), in fixed
chunks, as a function of ``(seed, epoch)`` alone: no global random state (except
:class:`WeightedSampler` without a seed, as ``WeightedRandomSampler``), the same order on
every rank and after a resume, and memory O(chunk) whatever the epoch's length, so a huge
``num_samples`` is just a long iterator. The epoch is split across ranks exactly as
:class:`torch.utils.data.distributed.DistributedSampler` splits it: the list is padded by
wrapping around its start (unless ``drop_last``) and rank ``r`` takes
``indices[r:total:num_replicas]``. :meth:`epoch_indices` builds the whole epoch as one array
and raises ``MemoryError`` (naming the size) when it cannot be allocated.

Integer arguments are Python ints, NumPy integers or 0-d integer tensors (``bool`` is
rejected), seeds lie in ``[0, 2**64)`` and epochs in ``[0, 2**64)``; bad input raises
``ValueError`` / ``TypeError`` in torch's form "x should be ..., but got x=...".

All samplers share the keyword arguments ``seed=0``, ``num_replicas=None``, ``rank=None`` and
``drop_last=False`` (``num_replicas`` / ``rank`` default to the ``torch.distributed`` world
when it is initialised, else 1 / 0), and the methods ``set_epoch(epoch)`` (epochs count from
0, as for ``DistributedSampler``), ``__len__`` (indices per rank), ``epoch_indices(epoch)``
(the global, unsharded epoch), ``state_dict()`` and ``load_state_dict(state)``.

Example:
    >>> import torch
    >>> from torch.utils.data import DataLoader, TensorDataset
    >>> from longtail.samplers import ClassAwareSampler
    >>> labels = torch.tensor([0, 0, 0, 0, 1, 2])
    >>> dataset = TensorDataset(torch.randn(6, 3), labels)
    >>> sampler = ClassAwareSampler(labels, seed=0)
    >>> loader = DataLoader(dataset, batch_size=4, sampler=sampler)
    >>> for epoch in range(2):
    ...     sampler.set_epoch(epoch)
    ...     for x, y in loader:
    ...         pass
    >>> len(sampler)  # n_max * C = 4 * 3
    12

The samplers live in one module per family, all re-exported here: :mod:`._base` (the shared
epoch / sharding / resume machinery), :mod:`.weighted`, :mod:`.class_weighted` (class-balanced,
power, square-root, progressively balanced, reversed), :mod:`.class_aware`, :mod:`.resample`
(random over- / under-sampling), :mod:`.repeat_factor` and :mod:`.meta` (the BALMS Meta
Sampler).
"""

# The base classes and the ArrayLike alias stay reachable here (for typing and subclasses).
from longtail.samplers._base import ArrayLike, _EpochSampler, _LabelSampler  # noqa: F401
from longtail.samplers.class_aware import ClassAwareSampler
from longtail.samplers.class_weighted import (
    ClassBalancedSampler,
    PowerSampler,
    ProgressivelyBalancedSampler,
    ReversedSampler,
    SquareRootSampler,
)
from longtail.samplers.meta import MetaSampler
from longtail.samplers.repeat_factor import RepeatFactorSampler, repeat_factors
from longtail.samplers.resample import RandomOverSampler, RandomUnderSampler
from longtail.samplers.weighted import WeightedSampler

__all__ = [
    "ClassAwareSampler",
    "ClassBalancedSampler",
    "MetaSampler",
    "PowerSampler",
    "ProgressivelyBalancedSampler",
    "RandomOverSampler",
    "RandomUnderSampler",
    "RepeatFactorSampler",
    "ReversedSampler",
    "SquareRootSampler",
    "WeightedSampler",
    "repeat_factors",
]
