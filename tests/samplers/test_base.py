"""The contract every sampler inherits from longtail/samplers/_base.py: determinism per (seed,
epoch), DistributedSampler-style sharding, resume through state_dict, pickling, use through a real
DataLoader; integer and seed validation, exact and transactional ``load_state_dict``, streamed
epochs equal to the whole arrays, and the checks of weights and label tensors.

Across every sampler too: test_distributed.py (two gloo processes), test_huge_lengths.py,
test_properties.py (Hypothesis) and test_sampler_errors.py (bad arguments)."""

from __future__ import annotations

import itertools
import pickle

import numpy as np
import pytest
import torch
from longtail import samplers as S
from sampler_helpers import FACTORIES, long_tail_labels
from torch.utils.data import DataLoader, Dataset, TensorDataset

NAMES = sorted(FACTORIES)


def make(name: str, **kw):
    return FACTORIES[name](long_tail_labels(), **kw)


@pytest.mark.parametrize("name", NAMES)
def test_is_a_torch_sampler_yielding_python_ints(name):
    s = make(name)
    assert isinstance(s, torch.utils.data.Sampler)
    out = list(s)
    assert len(out) == len(s) > 0
    assert all(type(i) is int for i in out)
    assert out == s.epoch_indices().tolist()
    assert s.epoch_indices().dtype == np.int64


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_and_epoch_same_order_else_different(name):
    a, b = make(name, seed=5), make(name, seed=5)
    a.set_epoch(3)
    b.set_epoch(3)
    first = list(a)
    assert first == list(b)
    assert first == list(a), "iterating twice in one epoch repeats the epoch"
    a.set_epoch(4)
    assert list(a) != first
    c = make(name, seed=6)
    c.set_epoch(3)
    assert list(c) != first


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("num_replicas", [1, 2, 3, 8])
@pytest.mark.parametrize("drop_last", [False, True])
def test_shards_are_distributed_sampler_slices(name, num_replicas, drop_last):
    full = make(name, seed=1).epoch_indices(2).tolist()
    n = len(full)
    shards = []
    for rank in range(num_replicas):
        s = make(name, seed=1, num_replicas=num_replicas, rank=rank, drop_last=drop_last)
        s.set_epoch(2)
        shards.append(list(s))
        assert len(shards[-1]) == len(s)
    per = n // num_replicas if drop_last else -(-n // num_replicas)
    assert all(len(sh) == per for sh in shards)
    total = per * num_replicas
    # torch's rule: pad by wrapping around the start, or cut the tail.
    padded = (full * (total // n + 1))[:total]
    for rank, sh in enumerate(shards):
        assert sh == padded[rank:total:num_replicas]
    # Interleaving the shards gives back the epoch (plus the padding).
    merged = [shards[i % num_replicas][i // num_replicas] for i in range(total)]
    assert merged == padded
    if drop_last:
        assert total <= n and n - total < num_replicas
    else:
        assert 0 <= total - n < num_replicas


def test_padding_matches_torch_distributed_sampler():
    # Against torch itself: a dataset of the epoch's indices through DistributedSampler.
    s = make("class_aware", seed=2)
    full = s.epoch_indices().tolist()
    for num_replicas in (3, 7):
        for drop_last in (False, True):
            for rank in range(num_replicas):
                ref = torch.utils.data.DistributedSampler(
                    full, num_replicas=num_replicas, rank=rank, shuffle=False, drop_last=drop_last
                )
                ours = make(
                    "class_aware", seed=2, num_replicas=num_replicas, rank=rank, drop_last=drop_last
                )
                assert list(ours) == [full[i] for i in ref]


def test_tiny_epoch_pads_beyond_its_length():
    s = S.RepeatFactorSampler([1.0, 1.0], rounding="ceil", num_replicas=5, rank=4)
    full = s.epoch_indices().tolist()
    assert list(s) == [full[0]]  # position 4 of the wrapped list [a, b, a, b, a]
    assert len(S.RepeatFactorSampler([1.0], num_replicas=3, rank=1, drop_last=True)) == 0


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("stop", [0, 1, 17])
def test_resume_continues_the_epoch(name, stop):
    s = make(name, seed=9, num_replicas=2, rank=1)
    s.set_epoch(4)
    full = list(s)
    stop = min(stop, len(full) - 1)
    it = iter(s)
    for _ in range(stop):
        next(it)
    state = s.state_dict()
    assert state == {"epoch": 4, "seed": 9, "yielded": stop}
    t = make(name, seed=0, num_replicas=2, rank=1)
    t.load_state_dict(pickle.loads(pickle.dumps(state)))
    t.set_epoch(4)  # the usual loop calls set_epoch(epoch) again: the resume survives it
    assert list(t) == full[stop:]
    assert list(t) == full, "after the resumed epoch, iteration starts afresh"


def test_resume_state_counts_across_a_resume_and_after_exhaustion():
    s = make("class_balanced", seed=3)
    full = list(s)
    s.load_state_dict({"epoch": 0, "seed": 3, "yielded": 5})
    assert s.state_dict()["yielded"] == 5
    it = iter(s)
    next(it), next(it)
    assert s.state_dict()["yielded"] == 7
    s2 = make("class_balanced")
    s2.load_state_dict(s.state_dict())
    assert list(s2) == full[7:]
    assert s2.state_dict()["yielded"] == len(full)
    s2.load_state_dict({"epoch": 0, "seed": 3, "yielded": 5})
    s2.set_epoch(1)  # moving to another epoch drops the pending resume
    assert len(list(s2)) == len(s2)
    assert s2.state_dict() == {"epoch": 1, "seed": 3, "yielded": len(s2)}


@pytest.mark.parametrize("name", NAMES)
def test_pickle_round_trip(name):
    s = make(name, seed=4, num_replicas=3, rank=2)
    s.set_epoch(7)
    it = iter(s)
    next(it)
    t = pickle.loads(pickle.dumps(s))
    assert type(t) is type(s)
    assert (t.epoch, t.seed, t.num_replicas, t.rank) == (7, 4, 3, 2)
    assert list(t) == list(s)
    assert len(t) == len(s)


class _Indexed(Dataset):
    """Returns its index, and a sampler's epoch rebuilt inside the worker process."""

    def __init__(self, n: int, sampler: S._EpochSampler) -> None:
        self.n, self.sampler = n, sampler

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int):
        return i, torch.from_numpy(self.sampler.epoch_indices(1)[:8].copy())


def test_through_a_dataloader_with_workers():
    labels = long_tail_labels()
    dataset = TensorDataset(torch.arange(len(labels)), torch.from_numpy(labels))
    s = S.ClassAwareSampler(labels, samples_per_class=2, seed=11)
    s.set_epoch(1)
    loader = DataLoader(dataset, batch_size=8, sampler=s, num_workers=2, timeout=120)
    got = torch.cat([idx for idx, _ in loader]).tolist()
    assert got == s.epoch_indices(1).tolist()
    # Exactly n_max per class (k = 2 divides n_max = 40).
    counts = np.bincount(labels[got])
    assert set(counts[counts > 0].tolist()) == {40}


def test_generation_inside_forked_workers_after_the_parent_used_rayon():
    # The parent runs a large parallel epoch first, so forked workers inherit a used pool;
    # the core must then fall back to serial code and give the same indices, not hang.
    big = S.ClassBalancedSampler(np.arange(300_000) % 97, seed=2)
    ref = big.epoch_indices(1)[:8]
    loader = DataLoader(_Indexed(4, big), batch_size=2, num_workers=2, timeout=120)
    for _, rows in loader:
        for row in rows:
            assert row.tolist() == ref.tolist()


@pytest.mark.parametrize("stop", [0, 16_383, 16_384, 16_385, 40_000, 50_000])
def test_resume_across_iteration_chunks(stop):
    # Python ints are produced 2^14 at a time; the position must be exact across chunks.
    labels = np.arange(50_000) % 13
    s = S.ClassBalancedSampler(labels, seed=1)
    full = list(s)
    it = iter(s)
    for _ in range(stop):
        next(it)
    state = s.state_dict()
    assert state["yielded"] == stop
    t = S.ClassBalancedSampler(labels)
    t.load_state_dict(state)
    assert list(t) == full[stop:]


# -- integers and seeds ------------------------------------------------------------------------


L = [0, 0, 0, 1, 1, 2]


@pytest.mark.parametrize(
    "value", [np.int64(3), np.uint8(3), torch.tensor(3), torch.tensor(3, dtype=torch.int16)]
)
def test_numpy_and_0d_tensor_integers_are_integers(value):
    a = S.ClassAwareSampler(L, samples_per_class=value, num_samples=value, seed=value)
    b = S.ClassAwareSampler(L, samples_per_class=3, num_samples=3, seed=3)
    a.set_epoch(value)
    b.set_epoch(3)
    assert list(a) == list(b)


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"seed": True}, TypeError, r"seed should be an integer, but got seed=True"),
        ({"seed": np.bool_(True)}, TypeError, "seed should be an integer"),
        ({"seed": 1.0}, TypeError, "seed should be an integer"),
        ({"seed": torch.tensor([1])}, TypeError, "seed should be an integer"),
        ({"seed": torch.tensor(1.0)}, TypeError, "seed should be an integer"),
        ({"seed": 2**64}, ValueError, r"seed should be an integer in \[0, 2\*\*64 - 1\]"),
        ({"seed": -1}, ValueError, r"but got seed=-1"),
        ({"num_samples": True}, TypeError, "num_samples should be an integer"),
        ({"num_samples": 2**63}, ValueError, r"num_samples should be an integer <= 2\*\*63 - 1"),
        ({"num_samples": 2**64}, ValueError, r"num_samples=18446744073709551616"),
        ({"num_replicas": 2**64, "rank": 0}, ValueError, "num_replicas should be"),
        ({"num_replicas": 2, "rank": True}, TypeError, "rank should be an integer"),
        ({"drop_last": 1}, TypeError, "drop_last should be a boolean"),
    ],
)
def test_bad_integers_are_named_and_never_overflow_errors(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        S.ClassBalancedSampler(L, **kwargs)


def test_seeds_are_not_folded():
    top = S.ClassBalancedSampler(L, num_samples=64, seed=2**64 - 1)
    assert top.seed == 2**64 - 1
    others = [S.ClassBalancedSampler(L, num_samples=64, seed=s) for s in (0, 2**63, 2**63 - 1)]
    assert all(list(top) != list(o) for o in others)


@pytest.mark.parametrize(
    ("epoch", "exc"),
    [(2**64, ValueError), (2**70, ValueError), (-1, ValueError), (True, TypeError)],
)
def test_set_epoch_range(epoch, exc):
    s = S.ClassBalancedSampler(L)
    with pytest.raises(exc, match="epoch should be"):
        s.set_epoch(epoch)
    assert s.epoch == 0
    s.set_epoch(2**64 - 1)
    assert len(list(s)) == len(s)


# -- load_state_dict ---------------------------------------------------------------------------


BAD_STATES = [
    ({"epoch": 0, "seed": 0}, ValueError, "missing"),
    ({"epoch": 0, "seed": 0, "yielded": 0, "extra": 1}, ValueError, "extra keys"),
    ({"epoch": 2**70, "seed": 0, "yielded": 0}, ValueError, r"state_dict\['epoch'\]"),
    ({"epoch": -1, "seed": 0, "yielded": 0}, ValueError, r"state_dict\['epoch'\]"),
    ({"epoch": 0, "seed": "x", "yielded": 0}, TypeError, r"state_dict\['seed'\]"),
    ({"epoch": 0, "seed": 2**64, "yielded": 0}, ValueError, r"state_dict\['seed'\]"),
    ({"epoch": 0, "seed": 0, "yielded": 10**18}, ValueError, r"state_dict\['yielded'\]"),
    ({"epoch": 0, "seed": 0, "yielded": 999}, ValueError, "at most the"),
    ({"epoch": 0, "seed": 0, "yielded": -1}, ValueError, r"state_dict\['yielded'\]"),
    ({"epoch": 0, "seed": 0, "yielded": 1.0}, TypeError, r"state_dict\['yielded'\]"),
    ([("epoch", 0)], TypeError, "state_dict should be a mapping"),
]


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize(("state", "exc", "match"), BAD_STATES)
def test_rejected_state_changes_nothing(name, state, exc, match):
    s = make(name, seed=3, num_replicas=2, rank=1)
    s.set_epoch(2)
    it = iter(s)
    next(it)
    before = s.state_dict()
    with pytest.raises(exc, match=match):
        s.load_state_dict(state)
    assert s.state_dict() == before
    # A rejected call followed by a good one equals the good one alone.
    good = {"epoch": 1, "seed": 7, "yielded": 3}
    s.load_state_dict(good)
    fresh = make(name, seed=0, num_replicas=2, rank=1)
    fresh.load_state_dict(good)
    assert list(s) == list(fresh)


def test_yielded_may_equal_the_epoch_length():
    s = S.ClassBalancedSampler(L, num_replicas=4, rank=3)
    s.load_state_dict({"epoch": 0, "seed": 0, "yielded": len(s)})
    assert list(s) == []
    with pytest.raises(ValueError, match="at most the 2 indices"):
        s.load_state_dict({"epoch": 0, "seed": 0, "yielded": len(s) + 1})


# -- streamed epochs, weights and label tensors ------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("num_replicas", [1, 3, 40])
def test_streamed_shards_equal_the_whole_epoch_across_block_boundaries(
    monkeypatch, name, num_replicas
):
    # Tiny blocks make every epoch span many reads, skips and the padding head.
    monkeypatch.setattr(S._base, "_ITER_CHUNK", 5)
    monkeypatch.setattr(S._base, "_BLOCK", 7)
    full = make(name, seed=1).epoch_indices(2).tolist()
    total = -(-len(full) // num_replicas) * num_replicas
    padded = (full * (total // len(full) + 1))[:total]
    for rank in range(min(num_replicas, 4)):
        s = make(name, seed=1, num_replicas=num_replicas, rank=rank)
        s.set_epoch(2)
        assert list(s) == padded[rank:total:num_replicas]
        for stop in (0, 3, 11):
            it = iter(s)
            head = list(itertools.islice(it, stop))
            state = s.state_dict()
            t = make(name, seed=0, num_replicas=num_replicas, rank=rank)
            t.load_state_dict(state)
            assert head + list(t) == padded[rank:total:num_replicas]


@pytest.mark.parametrize(
    "weights",
    [["1.0", "2"], np.array([1 + 1j, 2]), [True, False], np.array([1, None], dtype=object)],
)
def test_weights_are_real_numbers_only(weights):
    with pytest.raises(TypeError, match="weights should be a sequence of non-negative numbers"):
        S.WeightedSampler(weights, 1, seed=0)
    with pytest.raises(TypeError, match="repeat_factors should be"):
        S.RepeatFactorSampler(weights)


def test_meta_tensors_are_rejected_by_name():
    with pytest.raises(ValueError, match="weights should be a tensor with data"):
        S.WeightedSampler(torch.ones(3, device="meta"), 1, seed=0)
    with pytest.raises(ValueError, match="labels should be a tensor with data"):
        S.ClassAwareSampler(torch.zeros(3, dtype=torch.long, device="meta"))
