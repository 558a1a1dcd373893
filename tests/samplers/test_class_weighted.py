"""The class-weighted samplers of longtail/samplers/class_weighted.py (ClassBalancedSampler,
PowerSampler, SquareRootSampler, ProgressivelyBalancedSampler, ReversedSampler) against the
class laws their docstrings state: chi-square tests of class and instance frequencies at
significance ALPHA with fixed seeds.

The law of the other samplers is in their own files (test_class_aware.py, test_resample.py,
test_repeat_factor.py, test_weighted.py, test_meta.py); what every sampler shares (determinism,
sharding, resume, argument checks) in test_base.py."""

from __future__ import annotations

import numpy as np
import pytest
from longtail import samplers as S
from sampler_helpers import (
    LABELS,
    MAX_LABEL,
    N_J,
    PRESENT,
    assert_chisquare,
    class_counts,
)


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


# -- extreme exponents -------------------------------------------------------------------------


@pytest.mark.parametrize(("q", "heaviest"), [(1e308, 0), (-1e308, 2), (-40.0, 2), (40.0, 0)])
def test_power_sampler_is_exact_for_extreme_exponents(q, heaviest):
    labels = [0] * 50 + [1] * 3 + [2]
    p = S.PowerSampler(labels, q).class_probabilities()
    assert np.isfinite(p).all() and p.sum() == pytest.approx(1.0)
    assert int(np.argmax(p)) == heaviest and p[heaviest] == pytest.approx(1.0)
