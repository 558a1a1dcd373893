"""Robustness of the samplers to bad and extreme inputs: integer and seed validation, exact and
transactional ``load_state_dict``, WeightedRandomSampler's RNG and zero-weight behaviour,
imbalanced-learn's rules for the random over/under-samplers, and streamed epochs equal to the whole
arrays."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from longtail import samplers as S
from sampler_helpers import FACTORIES, long_tail_labels

NAMES = sorted(FACTORIES)
L = [0, 0, 0, 1, 1, 2]


def make(name: str, **kw):
    return FACTORIES[name](long_tail_labels(), **kw)


# -- integers and seeds ------------------------------------------------------------------------


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


# -- WeightedSampler as WeightedRandomSampler --------------------------------------------------


def test_weighted_sampler_without_seed_draws_from_torchs_global_rng():
    weights = [0.5, 1.0, 2.0, 4.0, 8.0]
    s = S.WeightedSampler(weights, 40)
    torch.manual_seed(123)
    first, second = list(s), list(s)
    assert first != second, "a fresh order on every iteration, as WeightedRandomSampler"
    torch.manual_seed(123)
    assert list(s) == first and list(s) == second, "reproducible under torch.manual_seed"
    # The state records the iteration's seed, so a resume continues that very iteration.
    torch.manual_seed(5)
    it = iter(s)
    head = [next(it) for _ in range(7)]
    state = s.state_dict()
    rest = list(it)
    t = S.WeightedSampler(weights, 40)
    t.load_state_dict(state)
    assert list(t) == rest and len(head) + len(rest) == 40


def test_weighted_sampler_seed_keeps_the_seed_epoch_rule():
    a = S.WeightedSampler([1.0, 2.0, 3.0], 30, seed=4)
    torch.manual_seed(0)
    first = list(a)
    torch.manual_seed(1)
    assert list(a) == first
    a.set_epoch(1)
    assert list(a) != first
    with pytest.raises(ValueError, match="seed should be None when a generator is given"):
        S.WeightedSampler([1.0], 1, generator=torch.Generator(), seed=0)


def test_zero_weights_come_last_without_replacement_as_torch_does():
    w = [0.0, 1.0, 0.0, 2.0, 0.0]
    ref = torch.multinomial(torch.tensor(w), 5, replacement=False)
    assert sorted(ref[:2].tolist()) == [1, 3] and sorted(ref[2:].tolist()) == [0, 2, 4]
    tails = set()
    for epoch in range(60):
        s = S.WeightedSampler(w, 5, replacement=False, seed=2)
        out = s.epoch_indices(epoch).tolist()
        assert sorted(out[:2]) == [1, 3] and sorted(out[2:]) == [0, 2, 4]
        tails.add(tuple(out[2:]))
    assert len(tails) == 6, "the zero weights follow in a random order"
    with pytest.raises(ValueError, match=r"at most len\(weights\)=5"):
        S.WeightedSampler(w, 6, replacement=False)


@pytest.mark.parametrize(
    ("num_samples", "replacement", "match"),
    [
        (0, True, "num_samples should be a positive integer value, but got num_samples=0"),
        (-3, True, "num_samples=-3"),
        (2.0, True, "num_samples=2.0"),
        ("2", True, "num_samples=2"),
        (None, True, "num_samples=None"),
        (3, 1, "replacement should be a boolean value, but got replacement=1"),
        (3, "yes", "replacement=yes"),
    ],
)
def test_weighted_sampler_raises_torchs_value_errors(num_samples, replacement, match):
    for cls in (S.WeightedSampler, torch.utils.data.WeightedRandomSampler):
        with pytest.raises(ValueError, match=match):
            cls([1.0, 2.0, 3.0], num_samples, replacement)


# -- imbalanced-learn's rules ------------------------------------------------------------------


def test_string_labels_go_through_a_label_encoder():
    labels = ["cat", "dog", "dog", "emu", "emu", "emu"]
    over = S.RandomOverSampler(labels, seed=1)
    assert over.classes.tolist() == ["cat", "dog", "emu"]
    assert over.target_counts.tolist() == [3, 3, 3]
    counts = np.bincount(np.array([0, 1, 1, 2, 2, 2])[over.epoch_indices()])
    assert counts.tolist() == [3, 3, 3]
    under = S.RandomUnderSampler(labels, {"emu": 2})
    assert under.target_counts.tolist() == [1, 2, 2]
    with pytest.raises(ValueError, match="should name classes present"):
        S.RandomUnderSampler(labels, {"eel": 1})
    enc = S.RandomOverSampler(np.array(labels, dtype=object), {"cat": 4}, seed=1)
    assert enc.target_counts.tolist() == [4, 2, 3]
    assert S.RandomOverSampler([True, False, False]).target_counts.tolist() == [2, 2]


@pytest.mark.parametrize("cls", [S.RandomOverSampler, S.RandomUnderSampler])
def test_a_single_class_is_a_value_error(cls):
    for labels in ([4, 4, 4], ["a"], torch.tensor([1, 1])):
        with pytest.raises(ValueError, match="more than 1 class"):
            cls(labels)


def test_float_strategies_that_generate_nothing_are_value_errors():
    # imbalanced-learn: int(n_max * ratio) - n_minority must be positive when over-sampling.
    with pytest.raises(ValueError, match="large enough to generate"):
        S.RandomOverSampler([0] * 10 + [1] * 5, 0.5)
    assert S.RandomOverSampler([0] * 10 + [1] * 5, 0.6).target_counts.tolist() == [10, 6]
    with pytest.raises(ValueError, match="should be larger"):
        S.RandomUnderSampler([0] * 10 + [1] * 5, 0.4)


@pytest.mark.parametrize("key", [True, 1.0, "1"])
def test_integer_labels_take_integer_strategy_keys(key):
    with pytest.raises(TypeError, match="integer class keys"):
        S.RandomOverSampler(L, {key: 5})


# -- streamed epochs ---------------------------------------------------------------------------


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


@pytest.mark.parametrize(("q", "heaviest"), [(1e308, 0), (-1e308, 2), (-40.0, 2), (40.0, 0)])
def test_power_sampler_is_exact_for_extreme_exponents(q, heaviest):
    labels = [0] * 50 + [1] * 3 + [2]
    p = S.PowerSampler(labels, q).class_probabilities()
    assert np.isfinite(p).all() and p.sum() == pytest.approx(1.0)
    assert int(np.argmax(p)) == heaviest and p[heaviest] == pytest.approx(1.0)


def test_meta_sampler_rejects_an_init_pow_that_overflows():
    with pytest.raises(ValueError, match="init_pow should be small enough"):
        S.MetaSampler([0] * 50 + [1], 4, init_pow=1e308)
