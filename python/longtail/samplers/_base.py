"""The shared base of every sampler in :mod:`longtail.samplers`: argument coercion and the
epoch machinery.

* :func:`_as_labels` / :func:`_as_weights` turn labels and weights into contiguous int64 /
  float64 arrays, with torch-style messages ("x should be ..., but got x=...");
  :func:`_distributed_default` fills ``num_replicas`` / ``rank`` from ``torch.distributed``.
* :class:`_EpochSampler` streams epoch ``e`` as a function of ``(seed, e)`` from the Rust core,
  shards it across ranks exactly as ``torch.utils.data.distributed.DistributedSampler`` does
  (pad by wrapping around, rank ``r`` takes ``indices[r:total:num_replicas]``;
  torch/utils/data/distributed.py), resumes mid-epoch from :meth:`~_EpochSampler.state_dict`
  and pickles without its live iterator.
* :class:`_LabelSampler` adds the dataset's indices grouped by class (built once, in Rust),
  the input of every class-level sampler (and of :class:`longtail.bbn.BilateralSampler`).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Sampler

from longtail import _core
from longtail._checks import I64_MAX, U64_MAX, check_bool, check_int, check_seed

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
