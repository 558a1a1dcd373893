"""RandomOverSampler and RandomUnderSampler (longtail/samplers/resample.py): imbalanced-learn's
sampling strategies and rules, the per-class counts, uniform duplicates and subsets."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from longtail import samplers as S
from sampler_helpers import (
    COUNTS,
    LABELS,
    assert_chisquare,
)


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


# -- imbalanced-learn's rules ------------------------------------------------------------------


L = [0, 0, 0, 1, 1, 2]


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
