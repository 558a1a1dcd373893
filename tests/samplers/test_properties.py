"""Property tests (Hypothesis) of the samplers' public calls: for generated arguments, a call
either raises a clean ``ValueError`` / ``TypeError`` naming its argument, or succeeds on input
that is valid by the documented rules (computed independently here) and gives a correct
result. Never a crash, never a bad input silently accepted."""

from __future__ import annotations

import itertools
import math

import _hypothesis  # noqa: F401  (loads the ci / dev profile)
import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from longtail import samplers as S

I64_MAX = 2**63 - 1
U64_MAX = 2**64 - 1

integers_and_junk = st.one_of(
    st.integers(-3, 40),
    st.sampled_from([2**40, 2**62, I64_MAX, 2**63, U64_MAX, 2**64, -(2**63)]),
    st.booleans(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.none(),
    st.text(max_size=2),
)


def is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def assert_clean(err: Exception, *names: str) -> None:
    text = str(err)
    assert isinstance(err, (ValueError, TypeError)), repr(err)
    assert "should" in text and any(n in text for n in names), text


@given(
    weights=st.lists(
        st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-2, 3)),
        max_size=12,
    ),
    num_samples=integers_and_junk,
    replacement=st.one_of(st.booleans(), st.integers(0, 1), st.none()),
    seed=st.one_of(st.none(), integers_and_junk),
)
def test_weighted_sampler_contract(weights, num_samples, replacement, seed):
    w = np.array(weights, dtype=np.float64)
    valid = (
        is_int(num_samples)
        and 0 < num_samples <= I64_MAX
        and isinstance(replacement, bool)
        and (seed is None or (is_int(seed) and 0 <= seed <= U64_MAX))
        and w.size > 0
        and bool(np.isfinite(w).all() and (w >= 0).all())
        and w.sum() > 0
        and math.isfinite(w.sum())
        and (replacement or num_samples <= w.size)
    )
    try:
        s = S.WeightedSampler(weights, num_samples, replacement, seed=seed)
    except (ValueError, TypeError) as err:
        assert not valid, f"valid input rejected: {err}"
        assert_clean(err, "weights", "num_samples", "replacement", "seed")
        return
    assert valid, "bad input accepted"
    assert len(s) == num_samples
    head = list(itertools.islice(iter(s), 64))
    assert len(head) == min(64, num_samples)
    assert all(type(i) is int and 0 <= i < w.size for i in head)
    positive = int((w > 0).sum())
    if replacement:
        assert all(w[i] > 0 for i in head)
    else:
        assert len(set(head)) == len(head)
        assert all(w[i] > 0 for i in head[:positive]) and all(w[i] == 0 for i in head[positive:])
    if seed is not None:
        assert list(itertools.islice(iter(s), 64)) == head


label_lists = st.lists(st.integers(-2, 6), max_size=30)


@given(
    labels=label_lists,
    which=st.sampled_from(["class_balanced", "class_aware", "power", "reversed", "progressive"]),
    num_samples=st.one_of(st.none(), integers_and_junk),
    seed=integers_and_junk,
    num_replicas=st.one_of(st.integers(-1, 5), st.booleans()),
    rank=st.one_of(st.integers(-1, 5), st.booleans()),
    drop_last=st.one_of(st.booleans(), st.integers(0, 1)),
)
def test_label_sampler_contract(labels, which, num_samples, seed, num_replicas, rank, drop_last):
    build = {
        "class_balanced": lambda **kw: S.ClassBalancedSampler(labels, num_samples, **kw),
        "class_aware": lambda **kw: S.ClassAwareSampler(labels, 2, num_samples, **kw),
        "power": lambda **kw: S.PowerSampler(labels, 0.5, num_samples, **kw),
        "reversed": lambda **kw: S.ReversedSampler(labels, num_samples, **kw),
        "progressive": lambda **kw: S.ProgressivelyBalancedSampler(labels, 3, num_samples, **kw),
    }[which]
    valid = (
        len(labels) > 0
        and min(labels) >= 0
        and (num_samples is None or (is_int(num_samples) and 0 < num_samples <= I64_MAX))
        and is_int(seed)
        and 0 <= seed <= U64_MAX
        and is_int(num_replicas)
        and is_int(rank)
        and 0 <= rank < num_replicas
        and isinstance(drop_last, bool)
    )
    kw = {"seed": seed, "num_replicas": num_replicas, "rank": rank, "drop_last": drop_last}
    try:
        s = build(**kw)
    except (ValueError, TypeError) as err:
        assert not valid, f"valid input rejected: {err}"
        assert_clean(err, "labels", "num_samples", "seed", "num_replicas", "rank", "drop_last")
        return
    assert valid, "bad input accepted"
    n = s.num_samples
    if which == "class_aware":
        default = int(np.bincount(labels).max()) * len(set(labels))
    else:
        default = len(labels)
    assert n == (default if num_samples is None else num_samples)
    per_rank = n // num_replicas if drop_last else -(-n // num_replicas)
    assert len(s) == per_rank
    head = list(itertools.islice(iter(s), 40))
    assert len(head) == min(40, per_rank)
    assert all(type(i) is int and 0 <= i < len(labels) for i in head)
    if n <= 200:
        # Disjoint, complete DistributedSampler shards of the whole epoch.
        full = s.epoch_indices().tolist()
        total = per_rank * num_replicas
        padded = (full * (total // n + 1))[:total]
        shards = [list(build(**{**kw, "rank": r})) for r in range(num_replicas)]
        assert [shards[i % num_replicas][i // num_replicas] for i in range(total)] == padded


@given(
    state=st.dictionaries(
        st.sampled_from(["epoch", "seed", "yielded", "extra"]), integers_and_junk, max_size=4
    )
)
def test_load_state_dict_contract(state):
    s = S.ClassAwareSampler([0, 0, 1, 2, 2, 2], num_replicas=2, rank=0, seed=1)
    it = iter(s)
    next(it)
    before = s.state_dict()
    valid = (
        set(state) == {"epoch", "seed", "yielded"}
        and all(is_int(v) for v in state.values())
        and 0 <= state["epoch"] <= U64_MAX
        and 0 <= state["seed"] <= U64_MAX
        and 0 <= state["yielded"] <= len(s)
    )
    try:
        s.load_state_dict(state)
    except (ValueError, TypeError) as err:
        assert not valid, f"valid state rejected: {err}"
        assert_clean(err, "state_dict")
        assert s.state_dict() == before
        return
    assert valid, "bad state accepted"
    assert s.state_dict() == state
    s.set_epoch(state["epoch"])
    assert len(list(s)) == len(s) - state["yielded"]


@given(
    over=st.booleans(),
    strategy=st.dictionaries(
        st.one_of(st.integers(-1, 4), st.text(max_size=1)), integers_and_junk, max_size=4
    ),
)
def test_resampler_dict_strategy_contract(over, strategy):
    labels = [0, 0, 0, 1, 1, 3]
    counts = {0: 3, 1: 2, 3: 1}
    targets = dict(counts)
    valid = True
    for key, value in strategy.items():
        if not (is_int(key) and key in counts and is_int(value)):
            valid = False
            break
        low, high = (counts[key], I64_MAX) if over else (0, counts[key])
        valid &= low <= value <= high
        targets[key] = value
    valid = valid and 0 < sum(targets.values()) <= I64_MAX
    cls = S.RandomOverSampler if over else S.RandomUnderSampler
    try:
        s = cls(labels, strategy, seed=2)
    except (ValueError, TypeError) as err:
        assert not valid, f"valid strategy rejected: {err}"
        assert_clean(err, "sampling_strategy")
        return
    assert valid, "bad strategy accepted"
    assert s.target_counts.tolist() == [targets[c] for c in (0, 1, 3)]
    assert len(s) == sum(targets.values())
    head = list(itertools.islice(iter(s), 200))
    if len(s) <= 200:
        got = np.bincount(np.array(labels)[head], minlength=4)
        assert [int(got[c]) for c in (0, 1, 3)] == [targets[c] for c in (0, 1, 3)]
    else:
        assert all(0 <= i < len(labels) and targets[labels[i]] > 0 for i in head)
