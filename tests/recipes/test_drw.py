"""Deferred re-weighting (Cao et al. NeurIPS 2019, arXiv:1906.07413) through
DeferredReweighting, and its use with LDAM."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from longtail import DeferredReweighting, LDAMLoss, weights

COUNTS = [500, 120, 40, 9, 2]


def _cb_weights(counts, beta):
    n = np.asarray(counts, dtype=np.float64)
    raw = (1 - beta) / (1 - beta**n)
    return raw / raw.sum() * len(n)


@pytest.mark.parametrize(("start", "beta"), [(160, 0.9999), (3, 0.99)])
def test_weights_per_epoch(start, beta):
    drw = DeferredReweighting(COUNTS, start_epoch=start, beta=beta, dtype=torch.float64)
    for epoch in [0, start - 1, start, start + 1, 2 * start + 5]:
        expected = np.ones(5) if epoch < start else _cb_weights(COUNTS, beta)
        np.testing.assert_allclose(drw(epoch).numpy(), expected, rtol=1e-12)
        torch.testing.assert_close(
            drw(epoch), weights.drw(COUNTS, epoch, start, beta, dtype=torch.float64)
        )


def test_defaults_are_ldam_drw_and_calls_return_fresh_tensors():
    drw = DeferredReweighting(COUNTS)
    assert (drw.start_epoch, drw.beta) == (160, 0.9999)
    assert drw(0).dtype == torch.float32
    a = drw(170)
    a.zero_()
    assert drw(170).sum() == pytest.approx(5.0, rel=1e-6)


def test_with_ldam_loss_matches_reference():
    rng = np.random.default_rng(0)
    z = torch.from_numpy(rng.standard_normal((12, 5)))
    y = torch.from_numpy(rng.integers(0, 5, 12))
    drw = DeferredReweighting(COUNTS, start_epoch=2, dtype=torch.float64)
    criterion = LDAMLoss(COUNTS)
    m = np.asarray(COUNTS, dtype=np.float64) ** -0.25
    m = torch.from_numpy(m * 0.5 / m.max())
    for epoch in range(4):
        criterion.weight = drw(epoch)
        w = drw(epoch)
        adjusted = 30.0 * (z - m[y].unsqueeze(1) * F.one_hot(y, 5))
        expected = F.cross_entropy(adjusted, y, weight=w)  # torch's weighted mean, Σ w_y
        torch.testing.assert_close(criterion(z, y), expected, rtol=1e-12, atol=1e-12)
