"""Re-sampling for long-tailed datasets (methods.md section 1), as ``Sampler[int]`` classes.

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
"""

from __future__ import annotations

import itertools
import math
import numbers
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Sampler

from longtail import _core
from longtail._checks import (
    I64_MAX,
    U64_MAX,
    _integer_or_none,
    check_bool,
    check_int,
    check_seed,
)

__all__ = [
    "ClassAwareSampler",
    "ClassBalancedSampler",
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

ArrayLike = Sequence[int] | Sequence[float] | np.ndarray | Tensor


# --------------------------------------------------------------------------------------------
# Argument checks (torch-style messages: "<arg> should be ..., but got <arg>=...").


def _check_int(name: str, value: Any, *, low: int | None = None, high: int | None = I64_MAX) -> int:
    return check_int(name, value, low=low, high=high)


_check_bool = check_bool


def _preview(a: np.ndarray) -> str:
    return np.array2string(a[:8], separator=", ") + (" ..." if a.size > 8 else "")


def _check_tensor_device(name: str, t: Tensor) -> None:
    if t.device.type == "meta":
        raise ValueError(
            f"{name} should be a tensor with data (CPU or CUDA), but got {name} on device=meta"
        )


def _as_labels(labels: Any, name: str = "labels") -> np.ndarray:
    """``labels`` as a 1-D, contiguous int64 array of non-negative class indices."""
    if isinstance(labels, Tensor):
        _check_tensor_device(name, labels)
        if labels.is_complex() or labels.dtype == torch.bool:
            raise TypeError(
                f"{name} should hold integer class indices, but got {name} of dtype={labels.dtype}"
            )
        arr = labels.detach().cpu().numpy()
    else:
        try:
            arr = np.asarray(labels)
        except (TypeError, ValueError) as err:
            raise TypeError(
                f"{name} should be a sequence of integer class indices, but got {name}={labels!r}"
            ) from err
    if arr.ndim != 1:
        raise ValueError(
            f"{name} should be a 1-D sequence of class indices, but got {name} of shape {arr.shape}"
        )
    if arr.size == 0:
        raise ValueError(f"{name} should be non-empty, but got {name} of length 0")
    kind = arr.dtype.kind
    if kind == "f":
        if not (np.isfinite(arr).all() and (arr == np.round(arr)).all()):
            raise TypeError(
                f"{name} should hold integer class indices, but got {name}={_preview(arr)} "
                f"of dtype={arr.dtype}"
            )
    elif kind == "u":
        if arr.dtype.itemsize == 8 and (arr > np.iinfo(np.int64).max).any():
            raise ValueError(f"{name} should fit in int64, but got {name}={_preview(arr)}")
    elif kind != "i":
        raise TypeError(
            f"{name} should hold integer class indices, but got {name}={_preview(arr)} of "
            f"dtype={arr.dtype}"
        )
    out = np.ascontiguousarray(arr, dtype=np.int64)
    if (out < 0).any():
        i = int(np.flatnonzero(out < 0)[0])
        raise ValueError(
            f"{name} should be non-negative class indices, but got {name}[{i}]={out[i]}"
        )
    return out


def _as_weights(weights: Any, name: str = "weights") -> np.ndarray:
    """``weights`` as a 1-D, contiguous float64 array: finite, non-negative, positive sum."""
    if isinstance(weights, Tensor):
        _check_tensor_device(name, weights)
        if weights.is_complex() or weights.dtype == torch.bool:
            raise TypeError(
                f"{name} should be real numbers, but got {name} of dtype={weights.dtype}"
            )
        arr = weights.detach().cpu().to(torch.float64).numpy()
    else:
        try:
            raw = np.asarray(weights)
        except (TypeError, ValueError) as err:
            raise TypeError(
                f"{name} should be a sequence of non-negative numbers, but got {name}={weights!r}"
            ) from err
        # Only real numbers: no strings parsed as numbers, no booleans, no complex parts
        # dropped, no objects.
        if raw.dtype.kind not in "iuf" and not (raw.size == 0 and raw.dtype.kind == "f"):
            raise TypeError(
                f"{name} should be a sequence of non-negative numbers, but got {name} of "
                f"dtype={raw.dtype}: {_preview(raw.reshape(-1))}"
            )
        arr = raw.astype(np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{name} should be a 1d sequence, but got {name} of shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} should be non-empty, but got {name} of length 0")
    bad = ~np.isfinite(arr) | (arr < 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{name} should be finite and non-negative, but got {name}[{i}]={arr[i]}")
    if not arr.sum() > 0:
        raise ValueError(f"{name} should have a positive sum, but got all {arr.size} {name} = 0")
    return np.ascontiguousarray(arr)


def _distributed_default(num_replicas: int | None, rank: int | None) -> tuple[int, int]:
    initialised = torch.distributed.is_available() and torch.distributed.is_initialized()
    if num_replicas is None:
        num_replicas = torch.distributed.get_world_size() if initialised else 1
    if rank is None:
        rank = torch.distributed.get_rank() if initialised else 0
    num_replicas = check_int("num_replicas", num_replicas, low=1, high=I64_MAX)
    rank = check_int("rank", rank)
    if not 0 <= rank < num_replicas:
        raise ValueError(
            f"rank should be in the interval [0, {num_replicas - 1}] for num_replicas="
            f"{num_replicas}, but got rank={rank}"
        )
    return num_replicas, rank


# --------------------------------------------------------------------------------------------
# The shared base: epochs, sharding, resume, pickling.


_ITER_CHUNK = 1 << 14  # indices turned into Python ints at a time (stays in cache)
_BLOCK = 1 << 20  # global positions read from the core at a time, whatever num_replicas is


class _Progress:
    """Where an epoch iterator is: the chunk being handed out and its list iterator."""

    __slots__ = ("base", "it", "size")

    def __init__(self, start: int) -> None:
        self.base, self.size = start, 0
        self.it: Iterator[Any] | None = None

    def yielded(self) -> int:
        if self.it is None:
            return self.base
        return self.base + self.size - self.it.__length_hint__()  # type: ignore[attr-defined]


class _ArrayStream:
    """An epoch already built as an array (rows for pair samplers), read like a core stream."""

    def __init__(self, array: np.ndarray) -> None:
        self._array, self._pos = array, 0

    @property
    def remaining(self) -> int:
        return len(self._array) - self._pos

    def read(self, count: int) -> np.ndarray:
        out = self._array[self._pos : self._pos + count]
        self._pos += len(out)
        return out

    def skip(self, count: int) -> None:
        self._pos += count


def _shard_chunks(
    stream: Any, start: int, rank: int, num_replicas: int, per_rank: int, progress: _Progress
) -> Iterator[Iterator[Any]]:
    """This rank's items ``start, start + 1, ...`` of a sharded epoch, as list iterators.

    Rank ``r`` takes global positions ``r + k * R`` (DistributedSampler's ``indices[r::R]``);
    positions past the epoch's end ``n`` are padding and wrap to ``p % n``, which always falls
    in the first ``min(n, R)`` items. The epoch is read front to back in blocks, so memory is
    O(block) whatever its length.
    """
    n = stream.remaining
    if start >= per_rank:
        return
    head = stream.read(min(n, num_replicas)) if per_rank * num_replicas > n else stream.read(0)
    cursor = len(head)  # global position of the stream's next item
    # Items k < in_epoch come from the epoch itself, the rest are padding.
    in_epoch = min(per_rank, max(0, -(-(n - rank) // num_replicas)))
    count_max = max(1, min(_ITER_CHUNK, _BLOCK // num_replicas))
    k = start
    while k < in_epoch:
        count = min(count_max, in_epoch - k)
        p = rank + k * num_replicas
        parts = []
        if p < cursor:  # still inside the head already read
            part = head[p:cursor:num_replicas][:count]
            parts.append(part)
            p += len(part) * num_replicas
        left = count - sum(len(x) for x in parts)
        if left > 0:
            if p > cursor:
                stream.skip(p - cursor)
                cursor = p
            span = (left - 1) * num_replicas + 1
            parts.append(stream.read(span)[::num_replicas])
            cursor += span
        items = (parts[0] if len(parts) == 1 else np.concatenate(parts)).tolist()
        it = iter(items)
        progress.base, progress.size, progress.it = k, len(items), it
        yield it
        k += count
    if k < per_rank:
        positions = (rank + np.arange(k, per_rank) * num_replicas) % n
        items = head[positions].tolist()
        it = iter(items)
        progress.base, progress.size, progress.it = k, len(items), it
        yield it


class _EpochSampler(Sampler[int]):
    """Base of every sampler here. A subclass says how long epoch ``e`` is
    (:meth:`_epoch_length`) and how to stream its global indices (:meth:`_stream`, a core
    ``IndexStream``); samplers whose epoch is a small array may override :meth:`_generate`
    instead."""

    def __init__(
        self,
        *,
        seed: int = 0,
        num_replicas: int | None = None,
        rank: int | None = None,
        drop_last: bool = False,
    ) -> None:
        super().__init__()
        self.seed = check_seed("seed", seed)
        self.num_replicas, self.rank = _distributed_default(num_replicas, rank)
        self.drop_last = check_bool("drop_last", drop_last)
        self.epoch = 0
        # How many indices of the current epoch a loaded state had already yielded.
        self._resume_from = 0
        # How far the latest __iter__ call's iterator got.
        self._progress: _Progress | None = None

    # -- what subclasses provide -------------------------------------------------------------

    def _epoch_length(self, epoch: int) -> int:
        """The global (unsharded) length of epoch ``epoch``."""
        raise NotImplementedError

    def _epoch_length_for(self, epoch: int, seed: int) -> int:
        """The epoch's length under another seed (only the stochastic repeat factors care)."""
        return self._epoch_length(epoch)

    def _stream(self, epoch: int) -> Any:
        """The global epoch ``epoch``, a function of (seed, epoch) only, as a stream with
        ``remaining``, ``read(count)`` and ``skip(count)``."""
        return _ArrayStream(self._generate(epoch))

    def _generate(self, epoch: int) -> np.ndarray:
        """The global epoch ``epoch`` as one array (``MemoryError`` when it cannot fit)."""
        stream = self._stream(epoch)
        return stream.read(stream.remaining)

    # -- public API ---------------------------------------------------------------------------

    def set_epoch(self, epoch: int) -> None:
        """Sets the epoch (counting from 0) for the next ``__iter__``.

        Call it at the start of every epoch, as with ``DistributedSampler``; otherwise every
        epoch repeats the same order. A pending resume (from :meth:`load_state_dict`) is kept
        when ``epoch`` is the loaded epoch and dropped otherwise.

        Args:
            epoch: the epoch number, in ``[0, 2**64)``.
        """
        epoch = check_int("epoch", epoch, low=0, high=U64_MAX)
        if epoch != self.epoch:
            self._resume_from = 0
            self._progress = None
        self.epoch = epoch

    def epoch_indices(self, epoch: int | None = None) -> np.ndarray:
        """The whole epoch, before sharding, as an int64 NumPy array (the same on every rank).

        Iteration streams the epoch; this builds it whole, and raises ``MemoryError`` (naming
        the size) when it cannot be allocated.

        Args:
            epoch: the epoch to build; defaults to the current one (see :meth:`set_epoch`).
        """
        epoch = self.epoch if epoch is None else check_int("epoch", epoch, low=0, high=U64_MAX)
        return self._generate(epoch)

    def _per_rank(self, total: int) -> int:
        # DistributedSampler's rule: drop the ragged tail, or pad up to a multiple.
        if self.drop_last:
            return total // self.num_replicas
        return -(-total // self.num_replicas)

    def __len__(self) -> int:
        return self._per_rank(self._epoch_length(self.epoch))

    def __iter__(self) -> Iterator[int]:
        stream = self._stream(self.epoch)
        per_rank = self._per_rank(stream.remaining)
        start, self._resume_from = self._resume_from, 0
        progress = _Progress(start)
        self._progress = progress
        # Python ints are made a chunk at a time (ndarray.tolist, the fastest conversion) and
        # handed out by C-level iterators: list speed, and O(chunk) Python objects alive.
        chunks = _shard_chunks(stream, start, self.rank, self.num_replicas, per_rank, progress)
        return itertools.chain.from_iterable(chunks)

    def state_dict(self) -> dict[str, int]:
        """The position in the current epoch: ``{"epoch", "seed", "yielded"}``.

        ``yielded`` counts the indices this rank's latest iterator has handed out (including
        those skipped by a resume). Load it into a sampler built with the same arguments to
        continue the epoch where it stopped.
        """
        if self._progress is not None:
            yielded = self._progress.yielded()
        else:
            yielded = self._resume_from
        return {"epoch": self.epoch, "seed": self.seed, "yielded": yielded}

    def load_state_dict(self, state_dict: Mapping[str, int]) -> None:
        """Restores :meth:`state_dict`'s position: the next ``__iter__`` yields the rest of that
        epoch, and the calls after it start fresh epochs.

        Everything is checked before anything changes: a rejected state leaves the sampler as
        it was.

        Args:
            state_dict: a mapping with exactly the keys ``"epoch"`` (in ``[0, 2**64)``),
                ``"seed"`` (in ``[0, 2**64)``) and ``"yielded"`` (at most this rank's length
                of that epoch).
        """
        if not isinstance(state_dict, Mapping):
            raise TypeError(
                f"state_dict should be a mapping, but got state_dict of type "
                f"{type(state_dict).__name__}"
            )
        keys = set(state_dict)
        expected = {"epoch", "seed", "yielded"}
        if keys != expected:
            raise ValueError(
                "state_dict should have exactly the keys 'epoch', 'seed', 'yielded', but got "
                f"state_dict missing {sorted(expected - keys, key=str)} and with extra keys "
                f"{sorted(keys - expected, key=str)}"
            )
        epoch = check_int("state_dict['epoch']", state_dict["epoch"], low=0, high=U64_MAX)
        seed = check_seed("state_dict['seed']", state_dict["seed"])
        yielded = check_int("state_dict['yielded']", state_dict["yielded"], low=0, high=I64_MAX)
        length = self._per_rank(self._epoch_length_for(epoch, seed))
        if yielded > length:
            raise ValueError(
                f"state_dict['yielded'] should be at most the {length} indices this rank has in "
                f"epoch {epoch}, but got state_dict['yielded']={yielded}"
            )
        self.seed, self.epoch = seed, epoch
        self._resume_from = yielded
        self._progress = None

    def __getstate__(self) -> dict[str, Any]:
        # Plain Python / NumPy state only; a live iterator is not part of the sampler's state.
        state = self.__dict__.copy()
        state["_progress"] = None
        return state

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(len={len(self)}, seed={self.seed}, epoch={self.epoch}, "
            f"num_replicas={self.num_replicas}, rank={self.rank}, drop_last={self.drop_last})"
        )


class _LabelSampler(_EpochSampler):
    """A sampler over a labelled dataset: keeps the dataset's indices grouped by class (built
    once, in Rust), which replaces the labels and is all an epoch needs."""

    def __init__(self, labels: ArrayLike, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        classes, offsets, members = _core.group_labels(_as_labels(labels))
        #: The label value of each class present, ascending.
        self.classes: np.ndarray = classes
        #: ``n_j``, the number of samples of each class in :attr:`classes`.
        self.class_counts: np.ndarray = np.diff(offsets)
        self._offsets: np.ndarray = offsets
        self._members: np.ndarray = members

    @property
    def num_classes(self) -> int:
        """``C``, the number of distinct labels present."""
        return len(self.classes)

    @property
    def dataset_size(self) -> int:
        """``N``, the number of labels."""
        return len(self._members)


def _num_samples_or(default: int, num_samples: int | None) -> int:
    if num_samples is None:
        return default
    return _check_int("num_samples", num_samples, low=1, high=I64_MAX)


# --------------------------------------------------------------------------------------------
# Index-level weighted sampling.


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


# --------------------------------------------------------------------------------------------
# i.i.d. class → instance sampling.


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
    r"""Class-balanced sampling (methods.md 1.2, :math:`q = 0`): i.i.d. draws of a class
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
    r"""The power family of methods.md 1.2: i.i.d. draws of class ``j`` with probability
    :math:`p_j = n_j^q / \sum_i n_i^q`, then of a uniformly random sample of it.

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
    r"""Progressively-balanced sampling (Kang et al. 2020; methods.md 1.4), driven by
    :meth:`set_epoch`:

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
    r"""BBN's reversed sampling (methods.md 1.5): i.i.d. draws of class ``j`` with probability
    :math:`\propto n_{max} / n_j`, then of a uniformly random sample of it (with replacement).
    The epoch has ``N`` draws, one per conventional sample, as BBN's dataset returns a reversed
    sample alongside each conventional one.

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


# --------------------------------------------------------------------------------------------
# Class-aware cycling.


class ClassAwareSampler(_LabelSampler):
    r"""Class-aware sampling with the exact cycling of the decoupling code (Shen et al. 2016;
    ``ClassAwareSampler`` of facebookresearch/classifier-balancing; methods.md 1.3).

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


# --------------------------------------------------------------------------------------------
# Random over- and under-sampling with imbalanced-learn's sampling_strategy.

_STRATEGIES = ("auto", "minority", "majority", "not minority", "not majority", "all")


def _strategy_targets(
    strategy: Any, over: bool, classes: np.ndarray, counts: np.ndarray, labels: np.ndarray
) -> np.ndarray:
    """Per-class target counts for imbalanced-learn's ``sampling_strategy`` vocabulary.

    Ties for the majority / minority class go to the smallest label, as imbalanced-learn's
    ``max``/``min`` over its sorted class counts do.
    """
    kind = "over-sampling" if over else "under-sampling"
    targets = counts.astype(np.int64).copy()
    n_max, n_min = int(counts.max()), int(counts.min())
    majority, minority = int(np.argmax(counts)), int(np.argmin(counts))
    if callable(strategy):
        strategy = strategy(labels)
        if not isinstance(strategy, Mapping):
            raise TypeError(
                "sampling_strategy should return a dict {class: count} when callable, but got "
                f"{strategy!r}"
            )
    if isinstance(strategy, str):
        if strategy not in _STRATEGIES:
            raise ValueError(
                f"sampling_strategy should be one of {', '.join(map(repr, _STRATEGIES))}, a "
                f"float, a dict or a callable, but got sampling_strategy={strategy!r}"
            )
        if strategy == "auto":
            strategy = "not majority" if over else "not minority"
        if over and strategy == "majority":
            raise ValueError(
                "sampling_strategy should not be 'majority' for an over-sampler, but got "
                "sampling_strategy='majority'"
            )
        if not over and strategy == "minority":
            raise ValueError(
                "sampling_strategy should not be 'minority' for an under-sampler, but got "
                "sampling_strategy='minority'"
            )
        chosen = np.ones(len(classes), dtype=bool)
        if strategy == "minority":
            chosen[:] = False
            chosen[minority] = True
        elif strategy == "majority":
            chosen[:] = False
            chosen[majority] = True
        elif strategy == "not minority":
            chosen[minority] = False
        elif strategy == "not majority":
            chosen[majority] = False
        targets[chosen] = n_max if over else n_min
        return targets
    if isinstance(strategy, numbers.Real) and not isinstance(strategy, bool):
        ratio = float(strategy)
        if not 0 < ratio <= 1:
            raise ValueError(
                f"sampling_strategy should be in the range (0, 1] when a float, but got "
                f"sampling_strategy={strategy}"
            )
        if len(classes) > 2:
            raise ValueError(
                "sampling_strategy should be a float only for two classes (imbalanced-learn's "
                f"rule; use a dict for more), but got sampling_strategy={strategy} with "
                f"{len(classes)} classes"
            )
        # imbalanced-learn: over → the others get int(n_max * ratio) in total (never fewer than
        # they have); under → the others keep int(n_min / ratio) (never more than they have).
        for c in range(len(classes)):
            if over and c != majority:
                extra = int(n_max * ratio - counts[c])
                # imbalanced-learn's _sampling_strategy_float raises unless every other class
                # gains at least one sample.
                if extra <= 0:
                    raise ValueError(
                        f"sampling_strategy should be large enough to generate samples of the "
                        f"minority class (int({n_max} * ratio) > its {counts[c]} samples), but "
                        f"got sampling_strategy={strategy}"
                    )
                targets[c] = counts[c] + extra
            elif not over and c != minority:
                keep = int(n_min / ratio)
                if keep > counts[c]:
                    raise ValueError(
                        f"sampling_strategy={strategy} would add samples to the majority class "
                        "while under-sampling; sampling_strategy should be larger, but got "
                        f"sampling_strategy={strategy}"
                    )
                targets[c] = keep
        return targets
    if isinstance(strategy, Mapping):
        position = {c.item() if isinstance(c, np.generic) else c: i for i, c in enumerate(classes)}
        integer_classes = classes.dtype.kind in "iu"
        for key, value in strategy.items():
            if integer_classes and _integer_or_none(key) is None:
                raise TypeError(
                    f"sampling_strategy should have integer class keys, but got key {key!r}"
                )
            try:
                known = key in position
            except TypeError:  # an unhashable key
                known = False
            if not known:
                raise ValueError(
                    f"sampling_strategy should name classes present in labels, but got class "
                    f"{key!r} in sampling_strategy={dict(strategy)!r}"
                )
            if _integer_or_none(value) is None:
                raise TypeError(
                    f"sampling_strategy should map classes to integer counts, but got "
                    f"sampling_strategy[{key!r}]={value!r}"
                )
            c, value = position[key], int(value)
            if value > I64_MAX:
                raise ValueError(
                    f"sampling_strategy should ask for at most 2**63 - 1 samples per class, but "
                    f"got sampling_strategy[{key!r}]={value}"
                )
            if value < 0:
                raise ValueError(
                    f"sampling_strategy should ask for non-negative counts, but got "
                    f"sampling_strategy[{key}]={value}"
                )
            if over and value < counts[c]:
                raise ValueError(
                    f"sampling_strategy should ask for at least the {counts[c]} samples class "
                    f"{key} has (over-sampling keeps every original), but got "
                    f"sampling_strategy[{key}]={value}"
                )
            if not over and value > counts[c]:
                raise ValueError(
                    f"sampling_strategy should ask for at most the {counts[c]} samples class "
                    f"{key} has (under-sampling draws without replacement), but got "
                    f"sampling_strategy[{key}]={value}"
                )
            targets[c] = value
        return targets
    raise TypeError(
        f"sampling_strategy should be a float, a str, a dict or a callable for {kind}, but got "
        f"sampling_strategy={strategy!r}"
    )


def _encode_labels(labels: Any) -> tuple[np.ndarray, np.ndarray | None, Any]:
    """``(codes, values, original)``: integer labels pass as they are (``values`` None);
    labels of any other hashable, sortable type (strings, booleans, objects) are encoded as
    indices into their sorted distinct ``values``, as imbalanced-learn's label encoder does."""
    if isinstance(labels, Tensor):
        return _as_labels(labels), None, labels
    try:
        arr = np.asarray(labels)
    except (TypeError, ValueError) as err:
        raise TypeError(
            f"labels should be a 1-D sequence of hashable class labels, but got labels={labels!r}"
        ) from err
    if arr.dtype.kind in "iuf" or arr.ndim != 1 or arr.size == 0:
        return _as_labels(arr), None, arr
    if arr.dtype.kind == "c":
        raise TypeError(
            f"labels should hold integer or hashable class labels, but got labels of "
            f"dtype={arr.dtype}"
        )
    try:
        values, codes = np.unique(arr, return_inverse=True)
    except TypeError as err:
        raise TypeError(
            "labels should be mutually comparable (imbalanced-learn sorts the classes), but got "
            f"labels={_preview(arr)}"
        ) from err
    return np.ascontiguousarray(codes.reshape(-1), dtype=np.int64), values, arr


class _ResamplingSampler(_LabelSampler):
    _over: bool

    def __init__(
        self,
        labels: ArrayLike,
        sampling_strategy: float | str | Mapping[Any, int] | Callable[..., Any] = "auto",
        *,
        seed: int = 0,
        num_replicas: int | None = None,
        rank: int | None = None,
        drop_last: bool = False,
    ) -> None:
        codes, values, original = _encode_labels(labels)
        super().__init__(
            codes, seed=seed, num_replicas=num_replicas, rank=rank, drop_last=drop_last
        )
        if values is not None:
            # imbalanced-learn's label encoding: classes are the sorted distinct labels.
            self.classes = values[self.classes]
        if self.num_classes < 2:
            raise ValueError(
                "labels should hold more than 1 class (imbalanced-learn's rule), but got "
                f"labels with 1 class: {self.classes.tolist()}"
            )
        self.sampling_strategy = sampling_strategy
        #: The number of samples of each class in :attr:`classes` in every epoch.
        self.target_counts: np.ndarray = _strategy_targets(
            sampling_strategy, self._over, self.classes, self.class_counts, original
        )
        total = sum(int(t) for t in self.target_counts)
        if total > I64_MAX:
            raise ValueError(
                "sampling_strategy should ask for at most 2**63 - 1 samples in all, but got "
                f"sampling_strategy={sampling_strategy!r}, which asks for {total}"
            )
        self.num_samples: int = total
        if self.num_samples == 0:
            raise ValueError(
                "sampling_strategy should leave at least one sample, but got "
                f"sampling_strategy={sampling_strategy!r}, which keeps none"
            )

    def _epoch_length(self, epoch: int) -> int:
        return self.num_samples

    def _stream(self, epoch: int) -> Any:
        return _core.resample_stream(
            self._offsets, self._members, self.target_counts, self.seed, epoch
        )


class RandomOverSampler(_ResamplingSampler):
    r"""Random over-sampling (methods.md 1.1) with imbalanced-learn's ``sampling_strategy``.

    Every original sample is kept, and each class chosen by the strategy gets duplicates drawn
    with replacement from its own samples, redrawn every epoch; the epoch is shuffled. The
    default ``'auto'`` (= ``'not majority'``) brings every class up to ``n_max``, so the epoch
    has ``C * n_max`` indices.

    As in imbalanced-learn, ``labels`` may be of any hashable, sortable type (strings ...):
    they go through a label encoder, :attr:`classes` holds the sorted distinct labels and a
    dict strategy is keyed by them; a single class is a ``ValueError``.

    Args:
        labels: the class label of every sample.
        sampling_strategy: as in ``imblearn.over_sampling.RandomOverSampler``: ``'auto'``,
            ``'minority'``, ``'not minority'``, ``'not majority'``, ``'all'`` (chosen classes
            reach ``n_max``); a float ``r`` in (0, 1] for two classes (the minority reaches
            ``int(r * n_max)``, which must add at least one sample); a dict
            ``{class: target count}``; or a callable
            ``labels -> dict``.
        seed, num_replicas, rank, drop_last: as for :class:`WeightedSampler`.

    Example:
        >>> sampler = RandomOverSampler([0, 0, 0, 1])
        >>> len(sampler), sampler.target_counts.tolist()
        (6, [3, 3])
    """

    _over = True


class RandomUnderSampler(_ResamplingSampler):
    r"""Random under-sampling (methods.md 1.1) with imbalanced-learn's ``sampling_strategy``.

    Each class chosen by the strategy keeps a uniformly random subset of its samples (drawn
    without replacement, anew every epoch); the others keep all theirs. The epoch is
    shuffled. The default ``'auto'`` (= ``'not minority'``) cuts every class to ``n_min``, so
    the epoch has ``C * n_min`` indices.

    Labels of any hashable, sortable type are encoded as for :class:`RandomOverSampler`; a
    single class is a ``ValueError``.

    Args:
        labels: the class label of every sample.
        sampling_strategy: as in ``imblearn.under_sampling.RandomUnderSampler``: ``'auto'``,
            ``'majority'``, ``'not minority'``, ``'not majority'``, ``'all'`` (chosen classes
            are cut to ``n_min``); a float ``r`` in (0, 1] for two classes (the majority keeps
            ``int(n_min / r)``); a dict ``{class: target count}``; or a callable.
        seed, num_replicas, rank, drop_last: as for :class:`WeightedSampler`.

    Example:
        >>> sampler = RandomUnderSampler([0, 0, 0, 1, 1, 2])
        >>> len(sampler), sampler.target_counts.tolist()
        (3, [1, 1, 1])
    """

    _over = False


# --------------------------------------------------------------------------------------------
# LVIS repeat-factor sampling.

_ROUNDINGS = ("stochastic", "ceil")


def repeat_factors(
    image_labels: Sequence[Sequence[int]], threshold: float = 0.001, sqrt: bool = True
) -> np.ndarray:
    r"""LVIS per-image repeat factors (Gupta et al. 2019; detectron2's
    ``repeat_factors_from_category_frequency``; methods.md 1.7).

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
    r"""LVIS repeat-factor sampling (methods.md 1.7): image ``I`` appears about ``r_I`` times
    per epoch, then the epoch is shuffled.

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


from longtail.samplers.meta import MetaSampler  # noqa: E402  (BALMS)

__all__ += ["MetaSampler"]
