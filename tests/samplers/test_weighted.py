"""WeightedSampler against torch's WeightedRandomSampler / torch.multinomial law, with and
without replacement, and beyond torch's 2^24-category limit."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from longtail.samplers import WeightedSampler
from sampler_helpers import assert_chisquare, assert_same_law

WEIGHTS = [0.1, 0.9, 0.4, 0.7, 3.0, 0.0, 0.6]


def test_with_replacement_matches_weighted_random_sampler():
    ours = np.bincount(WeightedSampler(WEIGHTS, 100_000, seed=0).epoch_indices(), minlength=7)
    gen = torch.Generator().manual_seed(0)
    ref_sampler = torch.utils.data.WeightedRandomSampler(WEIGHTS, 100_000, generator=gen)
    ref = np.bincount(list(ref_sampler), minlength=7)
    assert_chisquare(ours, np.array(WEIGHTS))
    assert_same_law(ours, ref)


def test_tensor_and_list_weights_agree():
    a = WeightedSampler(torch.tensor(WEIGHTS), 50, seed=3).epoch_indices()
    b = WeightedSampler(np.array(WEIGHTS, dtype=np.float32), 50, seed=3).epoch_indices()
    assert np.array_equal(a, WeightedSampler(WEIGHTS, 50, seed=3).epoch_indices())
    # float32 0.1 is not float64 0.1, so this epoch may differ; it still avoids weight 0.
    assert set(b.tolist()) <= {0, 1, 2, 3, 4, 6}


def _ordered_pair_law(w: list[float]) -> dict[tuple[int, int], float]:
    """Exact law of two successive draws without replacement ∝ the remaining weights."""
    total = sum(w)
    return {
        (i, j): w[i] / total * w[j] / (total - w[i])
        for i, j in itertools.permutations(range(len(w)), 2)
    }


def test_without_replacement_matches_successive_draws_exactly():
    w = [1.0, 2.0, 3.0, 4.0, 0.0]
    law = _ordered_pair_law(w)
    pairs = sorted(law)
    s = WeightedSampler(w, 2, replacement=False, seed=1)
    observed = dict.fromkeys(pairs, 0)
    for epoch in range(20_000):
        i, j = s.epoch_indices(epoch).tolist()
        observed[(i, j)] += 1
    assert_chisquare(np.array([observed[p] for p in pairs]), np.array([law[p] for p in pairs]))


def test_without_replacement_matches_torch_multinomial():
    w = torch.tensor([5.0, 1.0, 1.0, 2.0, 0.5, 0.5])
    gen = torch.Generator().manual_seed(2)
    first_ours, first_ref = np.zeros(6), np.zeros(6)
    incl_ours, incl_ref = np.zeros(6), np.zeros(6)
    for epoch in range(8000):
        ours = WeightedSampler(w, 3, replacement=False, seed=2).epoch_indices(epoch)
        ref = torch.multinomial(w, 3, replacement=False, generator=gen).numpy()
        assert len(set(ours.tolist())) == 3
        first_ours[ours[0]] += 1
        first_ref[ref[0]] += 1
        incl_ours[ours] += 1
        incl_ref[ref] += 1
    assert_chisquare(first_ours, w.numpy())
    assert_same_law(first_ours, first_ref)
    assert_same_law(incl_ours, incl_ref)


def test_more_than_2_pow_24_categories():
    n = 20_000_000
    w = np.zeros(n)
    far = [2**24 + 5, n - 1]
    w[far] = [1.0, 3.0]
    # torch.multinomial refuses this many categories; we do not.
    s = WeightedSampler(w, 4000, seed=0)
    idx = s.epoch_indices()
    counts = np.array([(idx == far[0]).sum(), (idx == far[1]).sum()])
    assert counts.sum() == 4000
    assert_chisquare(counts, np.array([1.0, 3.0]))
    wor = WeightedSampler(w, 2, replacement=False, seed=0).epoch_indices()
    assert sorted(wor.tolist()) == far


def test_alias_table_beyond_2_pow_24():
    # Many draws over > 2^24 weights use the alias table; the last weight carries half the mass.
    n = 2**24 + 16
    w = np.ones(n)
    w[-1] = n - 1
    idx = WeightedSampler(w, 2**21, seed=1).epoch_indices()
    hits = int((idx == n - 1).sum())
    assert_chisquare(np.array([hits, len(idx) - hits]), np.array([1.0, 1.0]))


def test_generator_argument_behaves_like_weighted_random_sampler():
    """With ``generator`` (WeightedRandomSampler's fourth argument) every iteration draws
    afresh from it; identically seeded generators give identical sequences."""
    weights = [0.5, 1.0, 2.0, 4.0, 8.0]
    a = WeightedSampler(weights, 50, True, torch.Generator().manual_seed(3))
    b = WeightedSampler(weights, 50, True, torch.Generator().manual_seed(3))
    first, second = list(a), list(a)
    assert first != second
    assert first == list(b) and second == list(b)
    with pytest.raises(TypeError, match="generator"):
        WeightedSampler(weights, 5, True, 3)


def test_generator_sampler_resumes_the_interrupted_epoch():
    weights = np.arange(1.0, 21.0)
    a = WeightedSampler(weights, 40, generator=torch.Generator().manual_seed(1))
    it = iter(a)
    head = [next(it) for _ in range(15)]
    state = a.state_dict()
    rest = list(it)
    b = WeightedSampler(weights, 40, generator=torch.Generator().manual_seed(99))
    b.load_state_dict(state)
    assert list(b) == rest
    assert len(head) + len(rest) == 40


# -- as WeightedRandomSampler: the global RNG, zero weights, torch's errors --------------------


def test_weighted_sampler_without_seed_draws_from_torchs_global_rng():
    weights = [0.5, 1.0, 2.0, 4.0, 8.0]
    s = WeightedSampler(weights, 40)
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
    t = WeightedSampler(weights, 40)
    t.load_state_dict(state)
    assert list(t) == rest and len(head) + len(rest) == 40


def test_weighted_sampler_seed_keeps_the_seed_epoch_rule():
    a = WeightedSampler([1.0, 2.0, 3.0], 30, seed=4)
    torch.manual_seed(0)
    first = list(a)
    torch.manual_seed(1)
    assert list(a) == first
    a.set_epoch(1)
    assert list(a) != first
    with pytest.raises(ValueError, match="seed should be None when a generator is given"):
        WeightedSampler([1.0], 1, generator=torch.Generator(), seed=0)


def test_zero_weights_come_last_without_replacement_as_torch_does():
    w = [0.0, 1.0, 0.0, 2.0, 0.0]
    ref = torch.multinomial(torch.tensor(w), 5, replacement=False)
    assert sorted(ref[:2].tolist()) == [1, 3] and sorted(ref[2:].tolist()) == [0, 2, 4]
    tails = set()
    for epoch in range(60):
        s = WeightedSampler(w, 5, replacement=False, seed=2)
        out = s.epoch_indices(epoch).tolist()
        assert sorted(out[:2]) == [1, 3] and sorted(out[2:]) == [0, 2, 4]
        tails.add(tuple(out[2:]))
    assert len(tails) == 6, "the zero weights follow in a random order"
    with pytest.raises(ValueError, match=r"at most len\(weights\)=5"):
        WeightedSampler(w, 6, replacement=False)


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
    for cls in (WeightedSampler, torch.utils.data.WeightedRandomSampler):
        with pytest.raises(ValueError, match=match):
            cls([1.0, 2.0, 3.0], num_samples, replacement)
