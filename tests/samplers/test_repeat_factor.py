"""repeat_factors and RepeatFactorSampler (longtail/samplers/repeat_factor.py): detectron2's
repeat factors, ceil and stochastic rounding."""

from __future__ import annotations

import math

import numpy as np
import pytest
from longtail import samplers as S
from sampler_helpers import (
    assert_chisquare,
)


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
