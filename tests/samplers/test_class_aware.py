"""ClassAwareSampler (longtail/samplers/class_aware.py): exact per-epoch counts, the grouped
cycling structure, and the law of the official sampler."""

from __future__ import annotations

import random

import numpy as np
import pytest
from longtail import samplers as S
from sampler_helpers import (
    COUNTS,
    LABELS,
    PRESENT,
    assert_same_law,
    class_counts,
)


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
