"""Shared fixtures-as-functions for the sampler tests: a long-tailed label set, a factory for
every sampler, the chi-square check with its documented significance, and the per-class
quantities of the law tests."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from longtail import samplers as S
from scipy import stats

# Every statistical check uses fixed seeds (so it is deterministic) and rejects the law when
# the chi-square p-value falls below this level. A wrong law at these sample sizes gives
# p-values many orders of magnitude smaller.
ALPHA = 1e-4

# A long tail with a gap: label 1 and 6 are empty; counts 40, 17, 9, 5, 2, 1.
COUNTS = {0: 40, 2: 17, 3: 9, 4: 5, 5: 2, 7: 1}


def long_tail_labels(seed: int = 0) -> np.ndarray:
    """The labels of COUNTS, in a fixed shuffled order."""
    labels = np.concatenate([np.full(n, c, dtype=np.int64) for c, n in COUNTS.items()])
    return np.random.default_rng(seed).permutation(labels)


def assert_chisquare(observed: np.ndarray, probs: np.ndarray) -> None:
    """Goodness of fit of counts to probabilities (categories with p = 0 must be empty)."""
    observed = np.asarray(observed, dtype=np.float64)
    probs = np.asarray(probs, dtype=np.float64)
    zero = probs == 0
    assert observed[zero].sum() == 0, f"drew categories of probability 0: {observed}"
    expected = probs[~zero] / probs[~zero].sum() * observed.sum()
    p = stats.chisquare(observed[~zero], expected).pvalue
    assert p > ALPHA, f"chi-square p={p:.3g}: observed {observed} vs expected {expected}"


def assert_same_law(a: np.ndarray, b: np.ndarray) -> None:
    """Two-sample chi-square (contingency) test that two count vectors share one law."""
    table = np.array([a, b], dtype=np.float64)
    table = table[:, table.sum(axis=0) > 0]
    p = stats.chi2_contingency(table).pvalue
    assert p > ALPHA, f"chi-square p={p:.3g}: {a} vs {b}"


# One factory per public sampler, over the same long-tailed labels.
FACTORIES: dict[str, Callable[..., S._EpochSampler]] = {
    "weighted": lambda labels, **kw: S.WeightedSampler(
        1.0 / np.bincount(labels)[labels], len(labels), **kw
    ),
    "weighted_no_replacement": lambda labels, **kw: S.WeightedSampler(
        np.arange(1.0, len(labels) + 1), len(labels) // 2, replacement=False, **kw
    ),
    "class_balanced": lambda labels, **kw: S.ClassBalancedSampler(labels, **kw),
    "class_aware": lambda labels, **kw: S.ClassAwareSampler(labels, samples_per_class=2, **kw),
    "power": lambda labels, **kw: S.PowerSampler(labels, q=0.3, **kw),
    "square_root": lambda labels, **kw: S.SquareRootSampler(labels, **kw),
    "progressive": lambda labels, **kw: S.ProgressivelyBalancedSampler(labels, 5, **kw),
    "reversed": lambda labels, **kw: S.ReversedSampler(labels, **kw),
    "over": lambda labels, **kw: S.RandomOverSampler(labels, **kw),
    "under": lambda labels, **kw: S.RandomUnderSampler(labels, **kw),
    "repeat_stochastic": lambda labels, **kw: S.RepeatFactorSampler(
        np.linspace(0.5, 3.5, len(labels)), **kw
    ),
    "repeat_ceil": lambda labels, **kw: S.RepeatFactorSampler(
        np.linspace(0.5, 3.5, len(labels)), rounding="ceil", **kw
    ),
}


# The law tests' labels (those of COUNTS in a fixed order) and their per-class counts N_J over
# the labels 0 .. MAX_LABEL - 1, empty classes included.
LABELS = long_tail_labels()
MAX_LABEL = max(COUNTS) + 1
N_J = np.array([COUNTS.get(c, 0) for c in range(MAX_LABEL)], dtype=np.float64)
PRESENT = N_J > 0


def class_counts(indices: np.ndarray) -> np.ndarray:
    """Per-class counts of the drawn ``indices`` into LABELS."""
    return np.bincount(LABELS[indices], minlength=MAX_LABEL)
