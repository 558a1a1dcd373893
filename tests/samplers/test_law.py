"""Each sampler's law against the class probabilities its docstring states: chi-square tests of
class and instance frequencies at significance ALPHA with fixed seeds, and exact per-epoch
counts where the method makes them exact."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
from longtail import samplers as S
from sampler_helpers import COUNTS, assert_chisquare, assert_same_law, long_tail_labels

LABELS = long_tail_labels()
MAX_LABEL = max(COUNTS) + 1
N_J = np.array([COUNTS.get(c, 0) for c in range(MAX_LABEL)], dtype=np.float64)
PRESENT = N_J > 0


def class_counts(indices: np.ndarray) -> np.ndarray:
    return np.bincount(LABELS[indices], minlength=MAX_LABEL)


def spec_power(q: float) -> np.ndarray:
    # p_j ∝ n_j^q with 0^q = 0 for empty classes (not 0^0 = 1, which would sample them at q = 0).
    p = np.where(PRESENT, np.power(N_J, q, where=PRESENT, out=np.zeros_like(N_J)), 0.0)
    return p / p.sum()


@pytest.mark.parametrize("q", [0.0, 0.5, 1.0, 2.0, -0.5])
def test_power_sampler_class_law(q):
    s = S.PowerSampler(LABELS, q=q, num_samples=200_000, seed=1)
    np.testing.assert_allclose(s.class_probabilities(), spec_power(q)[PRESENT], rtol=1e-12)
    assert_chisquare(class_counts(s.epoch_indices()), spec_power(q))


def test_named_members_of_the_power_family():
    sq = S.SquareRootSampler(LABELS, num_samples=100_000, seed=2)
    np.testing.assert_allclose(sq.class_probabilities(), spec_power(0.5)[PRESENT], rtol=1e-12)
    assert_chisquare(class_counts(sq.epoch_indices()), spec_power(0.5))
    cb = S.ClassBalancedSampler(LABELS, num_samples=100_000, seed=2)
    assert_chisquare(class_counts(cb.epoch_indices()), PRESENT / PRESENT.sum())
    assert len(S.ClassBalancedSampler(LABELS)) == len(LABELS)
    assert len(S.PowerSampler(LABELS, 0.5)) == len(LABELS)


def test_decoupling_square_root_weights_give_the_same_law():
    # MixedPrioritizedSampler(nroot=2): per-sample weight (n_c/N)^(1/2) * N / n_c.
    n = N_J[LABELS]
    w = (n / len(LABELS)) ** 0.5 * len(LABELS) / n
    per_class = np.bincount(LABELS, weights=w, minlength=MAX_LABEL)
    np.testing.assert_allclose(per_class / per_class.sum(), spec_power(0.5), rtol=1e-12)


def test_instances_are_uniform_within_a_class():
    s = S.ClassBalancedSampler(LABELS, num_samples=120_000, seed=3)
    idx = s.epoch_indices()
    members = np.flatnonzero(LABELS == 2)
    per_instance = np.bincount(idx, minlength=len(LABELS))[members]
    assert_chisquare(per_instance, np.ones(len(members)))


@pytest.mark.parametrize("total", [1, 2, 5, 10])
def test_progressively_balanced_schedule(total):
    s = S.ProgressivelyBalancedSampler(LABELS, total_epochs=total, num_samples=100_000, seed=4)
    n, c = N_J[PRESENT], PRESENT.sum()
    for epoch in range(total + 2):
        lam = 0.0 if total == 1 else min(epoch / (total - 1), 1.0)
        want = (1 - lam) * n / n.sum() + lam / c
        np.testing.assert_allclose(s.class_probabilities(epoch), want, rtol=1e-12)
    if total > 1:
        np.testing.assert_allclose(s.class_probabilities(0), n / n.sum())
        np.testing.assert_allclose(s.class_probabilities(total - 1), np.full(c, 1 / c))
    # set_epoch drives the law of the drawn epoch.
    s.set_epoch(total // 2)
    p = np.zeros(MAX_LABEL)
    p[PRESENT] = s.class_probabilities()
    assert_chisquare(class_counts(np.array(list(s))), p)


def test_reversed_sampler_law():
    s = S.ReversedSampler(LABELS, seed=5, num_samples=100_000)
    w = np.where(PRESENT, N_J.max() / np.maximum(N_J, 1), 0.0)
    np.testing.assert_allclose(s.class_probabilities(), (w / w.sum())[PRESENT], rtol=1e-12)
    assert_chisquare(class_counts(s.epoch_indices()), w)
    assert len(S.ReversedSampler(LABELS)) == len(LABELS)


# --- class-aware cycling --------------------------------------------------------------------


@pytest.mark.parametrize("k", [1, 2, 4, 5, 8, 10, 20, 40])
def test_class_aware_counts_are_exact_when_k_divides_n_max(k):
    s = S.ClassAwareSampler(LABELS, samples_per_class=k, seed=6)
    c = int(PRESENT.sum())
    assert len(s) == 40 * c
    for epoch in range(3):
        counts = class_counts(s.epoch_indices(epoch))
        assert counts[PRESENT].tolist() == [40] * c
        assert counts[~PRESENT].sum() == 0


@pytest.mark.parametrize("k", [3, 7])
def test_class_aware_counts_are_within_k_otherwise(k):
    s = S.ClassAwareSampler(LABELS, samples_per_class=k, seed=6)
    for epoch in range(5):
        counts = class_counts(s.epoch_indices(epoch))[PRESENT]
        assert counts.sum() == 40 * PRESENT.sum()
        assert np.abs(counts - 40).max() <= k


def test_class_aware_structure_groups_passes_and_cycles():
    k = 2
    s = S.ClassAwareSampler(LABELS, samples_per_class=k, seed=7)
    idx = s.epoch_indices()
    groups = LABELS[idx].reshape(-1, k)
    assert (groups == groups[:, :1]).all(), "a group of k comes from one class"
    order = groups[:, 0]
    c = int(PRESENT.sum())
    for start in range(0, len(order) - c + 1, c):
        assert sorted(order[start : start + c]) == sorted(COUNTS), "each pass is a permutation"
    for label, n in COUNTS.items():
        draws = idx[LABELS[idx] == label]
        for start in range(0, len(draws) - n + 1, n):
            assert sorted(draws[start : start + n]) == sorted(np.flatnonzero(LABELS == label))


def _official_class_aware(labels: np.ndarray, k: int, rng: random.Random) -> list[int]:
    """facebookresearch/classifier-balancing ClassAwareSampler, fresh iterators per epoch,
    with its module-level `random` replaced by a private Random (no global state)."""

    class RandomCycleIter:
        def __init__(self, data):
            self.data_list, self.length = list(data), len(data)
            self.i = self.length - 1

        def __iter__(self):
            return self

        def __next__(self):
            self.i += 1
            if self.i == self.length:
                self.i = 0
                rng.shuffle(self.data_list)
            return self.data_list[self.i]

    classes = sorted(set(labels.tolist()))
    cls_iter = RandomCycleIter(range(len(classes)))
    data_iters = [RandomCycleIter(np.flatnonzero(labels == c).tolist()) for c in classes]
    n = max(len(d.data_list) for d in data_iters) * len(classes)
    out, j = [], 0
    while len(out) < n:
        if j >= k:
            j = 0
        if j == 0:
            group = next(zip(*[data_iters[next(cls_iter)]] * k, strict=False))
        out.append(group[j])
        j += 1
    return out


def test_class_aware_matches_the_official_sampler_in_law():
    # n = [5, 3, 2], k = 2 does not divide n_max = 5, so per-epoch counts are random; compare
    # the distribution of (class-0 count, first class) between the official code and ours.
    labels = np.array([0, 1, 0, 2, 0, 1, 0, 2, 1, 0])
    epochs = 3000
    ours = S.ClassAwareSampler(labels, samples_per_class=2, seed=8)
    rng = random.Random(8)
    hist = np.zeros((2, 16 * 3), dtype=np.int64)
    for e in range(epochs):
        for row, idx in enumerate(
            [ours.epoch_indices(e), np.array(_official_class_aware(labels, 2, rng))]
        ):
            assert len(idx) == 15
            count0 = int((labels[idx] == 0).sum())
            hist[row, count0 * 3 + labels[idx[0]]] += 1
    assert_same_law(hist[0], hist[1])


# --- over / under sampling ------------------------------------------------------------------


def _per_class(indices: np.ndarray, labels: np.ndarray) -> dict[int, int]:
    u, c = np.unique(labels[indices], return_counts=True)
    return dict(zip(u.tolist(), c.tolist(), strict=True))


OVER_CASES = [
    # (sampling_strategy, expected counts) for COUNTS = {0: 40, 2: 17, 3: 9, 4: 5, 5: 2, 7: 1}
    ("auto", {c: 40 for c in COUNTS}),
    ("not majority", {c: 40 for c in COUNTS}),
    ("all", {c: 40 for c in COUNTS}),
    ("minority", {**COUNTS, 7: 40}),
    ("not minority", {**{c: 40 for c in COUNTS}, 7: 1}),
    ({2: 20, 7: 3}, {**COUNTS, 2: 20, 7: 3}),
    (lambda y: {3: int((y == 3).sum()) * 2}, {**COUNTS, 3: 18}),
]
UNDER_CASES = [
    ("auto", {c: 1 for c in COUNTS}),
    ("not minority", {c: 1 for c in COUNTS}),
    ("all", {c: 1 for c in COUNTS}),
    ("majority", {**COUNTS, 0: 1}),
    ("not majority", {**{c: 1 for c in COUNTS}, 0: 40}),
    ({0: 10, 2: 0}, {**COUNTS, 0: 10, 2: 0}),
]


@pytest.mark.parametrize(("strategy", "want"), OVER_CASES)
def test_over_sampling_counts_and_originals(strategy, want):
    s = S.RandomOverSampler(LABELS, sampling_strategy=strategy, seed=9)
    for epoch in range(3):
        idx = s.epoch_indices(epoch)
        assert _per_class(idx, LABELS) == want
        assert set(range(len(LABELS))) <= set(idx.tolist()), "originals are kept"
    assert len(s) == sum(want.values())


@pytest.mark.parametrize(("strategy", "want"), UNDER_CASES)
def test_under_sampling_counts_without_replacement(strategy, want):
    s = S.RandomUnderSampler(LABELS, sampling_strategy=strategy, seed=9)
    idx = s.epoch_indices()
    assert len(set(idx.tolist())) == len(idx), "drawn without replacement"
    assert _per_class(idx, LABELS) == {c: n for c, n in want.items() if n > 0}
    assert len(s) == sum(want.values())


def test_float_strategy_follows_imbalanced_learn_on_two_classes():
    y = np.array([0] * 10 + [1] * 3)
    # over: the minority reaches int(10 * 0.5) = 5; under: the majority keeps int(3 / 0.5) = 6.
    assert _per_class(S.RandomOverSampler(y, 0.5).epoch_indices(), y) == {0: 10, 1: 5}
    assert _per_class(S.RandomUnderSampler(y, 0.5).epoch_indices(), y) == {0: 6, 1: 3}
    assert _per_class(S.RandomUnderSampler(y, 1.0).epoch_indices(), y) == {0: 3, 1: 3}


def test_over_sampling_duplicates_are_uniform_and_the_epoch_is_shuffled():
    s = S.RandomOverSampler(LABELS, sampling_strategy={2: 17 + 20_000}, seed=10)
    idx = s.epoch_indices()
    members = np.flatnonzero(LABELS == 2)
    dup = np.bincount(idx, minlength=len(LABELS))[members] - 1
    assert_chisquare(dup, np.ones(len(members)))
    # Shuffled: class 2's positions are spread over the epoch, not in one block.
    pos = np.flatnonzero(LABELS[idx] == 2)
    assert pos.min() < len(idx) * 0.01 and pos.max() > len(idx) * 0.99
    assert not np.array_equal(s.epoch_indices(0), s.epoch_indices(1))


def test_under_sampling_subsets_are_uniform():
    s = S.RandomUnderSampler(LABELS, sampling_strategy={0: 4}, seed=11)
    hits = np.zeros(len(LABELS), dtype=np.int64)
    for epoch in range(2000):
        np.add.at(hits, s.epoch_indices(epoch), 1)
    members = np.flatnonzero(LABELS == 0)
    assert_chisquare(hits[members], np.ones(len(members)))


# --- repeat factors -------------------------------------------------------------------------


def _detectron2_repeat_factors(image_labels, t, sqrt=True):
    """detectron2 repeat_factors_from_category_frequency, in plain Python (the oracle)."""
    freq = {}
    for cats in image_labels:
        for c in set(cats):
            freq[c] = freq.get(c, 0) + 1
    n = len(image_labels)
    r_c = {c: max(1.0, math.sqrt(t / (k / n)) if sqrt else t / (k / n)) for c, k in freq.items()}
    return [max((r_c[c] for c in set(cats)), default=1.0) for cats in image_labels]


@pytest.mark.parametrize("sqrt", [True, False])
def test_repeat_factors_match_detectron2(sqrt):
    rng = np.random.default_rng(0)
    image_labels = [
        rng.choice(50, size=rng.integers(0, 6), p=np.arange(50, 0, -1) / 1275).tolist()
        for _ in range(400)
    ]
    ours = S.repeat_factors(image_labels, threshold=0.05, sqrt=sqrt)
    np.testing.assert_allclose(
        ours, _detectron2_repeat_factors(image_labels, 0.05, sqrt), rtol=1e-14
    )
    assert (ours >= 1).all()
    assert S.repeat_factors([[], [1]], threshold=0.9).tolist() == [1.0, math.sqrt(0.9 / 0.5)]


def test_ceil_rounding_is_exact_and_stochastic_rounding_is_unbiased():
    r = np.array([1.0, 1.3, 2.5, 3.9, 0.2])
    ceil = S.RepeatFactorSampler(r, rounding="ceil", seed=1)
    for epoch in range(3):
        ceil.set_epoch(epoch)
        assert np.bincount(list(ceil), minlength=5).tolist() == [1, 2, 3, 4, 1]
    sto = S.RepeatFactorSampler(r, seed=1)
    totals = np.zeros(5)
    lengths = set()
    epochs = 4000
    for epoch in range(epochs):
        sto.set_epoch(epoch)
        idx = list(sto)
        assert len(idx) == len(sto)
        lengths.add(len(idx))
        c = np.bincount(idx, minlength=5)
        assert ((c == np.floor(r)) | (c == np.floor(r) + 1)).all()
        totals += c
    assert len(lengths) > 1, "stochastic rounding varies the epoch length"
    # The fractional parts are Bernoulli: count the epochs that rounded up, per image.
    ups = totals - epochs * np.floor(r)
    frac = r - np.floor(r)
    for u, f in zip(ups[1:], frac[1:], strict=True):
        assert_chisquare(np.array([u, epochs - u]), np.array([f, 1 - f]))
