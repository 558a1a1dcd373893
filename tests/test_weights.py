"""``longtail.weights``: inverse frequency, cost-sensitive, effective number, DRW and the
DeferredReweighting schedule (Cui et al. 2019, arXiv:1901.05555; Cao et al. 2019,
arXiv:1906.07413)."""

from __future__ import annotations

import numpy as np
import pytest
import reference as R
import torch
import torch.nn.functional as F
from _testing import make_counts, make_logits, make_target
from longtail import DeferredReweighting, LDAMLoss
from longtail import weights as LW

COUNT_PROFILES = {
    "cifar10-lt": [5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50],
    "two": [7, 3],
    "one": [42],
    "flat": [10, 10, 10, 10],
    "steep": [100000, 1],
}


@pytest.fixture(params=list(COUNT_PROFILES), ids=list(COUNT_PROFILES))
def counts(request):
    return COUNT_PROFILES[request.param]


@pytest.mark.parametrize("power", [1.0, 0.5, 0.0, 2.0])
def test_inverse_frequency(counts, power):
    w = LW.inverse_frequency(counts, power, dtype=torch.float64)
    assert w.dtype == torch.float64 and w.shape == (len(counts),)
    torch.testing.assert_close(w, R.inverse_frequency(counts, power), rtol=1e-15, atol=0)


def test_cost_sensitive(counts):
    w = LW.cost_sensitive(counts, dtype=torch.float64)
    torch.testing.assert_close(w, R.cost_sensitive(counts), rtol=1e-15, atol=0)
    assert w.max().item() == 1.0


@pytest.mark.parametrize("beta", [0.0, 0.9, 0.99, 0.999, 0.9999, 0.999999, 1.0])
def test_effective_number(counts, beta):
    w = LW.effective_number(counts, beta, dtype=torch.float64)
    # 1 − β^n loses ~|log10(1 − β)| digits to cancellation in any implementation
    torch.testing.assert_close(w, R.effective_number_weights(counts, beta), rtol=1e-9, atol=0)
    assert w.sum().item() == pytest.approx(len(counts), rel=1e-14)


def test_effective_number_limits():
    """β = 0 is all ones; β → 1 tends to the normalised 1/n (continuity at β = 1)."""
    counts = [500, 50, 5]
    torch.testing.assert_close(
        LW.effective_number(counts, 0.0, dtype=torch.float64),
        torch.ones(3, dtype=torch.float64),
        rtol=0,
        atol=0,
    )
    near = LW.effective_number(counts, 1.0 - 1e-9, dtype=torch.float64)
    at = LW.effective_number(counts, 1.0, dtype=torch.float64)
    torch.testing.assert_close(near, at, rtol=1e-6, atol=0)
    inv = torch.tensor([1 / 500, 1 / 50, 1 / 5], dtype=torch.float64)
    torch.testing.assert_close(at, inv / inv.sum() * 3, rtol=1e-14, atol=0)


@pytest.mark.parametrize("epoch", [0, 1, 159, 160, 161, 199])
def test_drw_matches_ldam_drw_cifar_train(counts, epoch):
    """``cifar_train.py``: betas = [0, 0.9999], idx = epoch // 160 (0-based epochs)."""
    w = LW.drw(counts, epoch)
    ref = R.drw_official(counts, epoch)
    assert w.dtype == torch.float32
    torch.testing.assert_close(w, ref, rtol=1e-6, atol=0)


def test_drw_start_epoch_and_beta():
    counts = [300, 30, 3]
    torch.testing.assert_close(LW.drw(counts, 9, start_epoch=10), torch.ones(3), rtol=0, atol=0)
    torch.testing.assert_close(
        LW.drw(counts, 10, start_epoch=10, beta=0.99),
        LW.effective_number(counts, 0.99),
        rtol=0,
        atol=0,
    )
    # BBN counts epochs from 1: its epoch e is longtail's e - 1
    torch.testing.assert_close(LW.drw(counts, 160 - 1), torch.ones(3), rtol=0, atol=0)


@pytest.mark.parametrize(
    "fn",
    [
        LW.inverse_frequency,
        LW.cost_sensitive,
        LW.effective_number,
        lambda c, dtype: LW.drw(c, 200, dtype=dtype),
    ],
    ids=["inverse_frequency", "cost_sensitive", "effective_number", "drw"],
)
def test_dtype_and_input_types(fn):
    """float32 by default; the dtype argument; list, tuple, numpy (int or float) and tensor
    counts give the same weights."""
    counts = [40, 20, 10, 5]
    ref = fn(counts, dtype=torch.float64)
    assert fn(counts, dtype=torch.float32).dtype == torch.float32
    for variant in (
        tuple(counts),
        np.array(counts),
        np.array(counts, dtype=np.float32),
        torch.tensor(counts),
        torch.tensor(counts, dtype=torch.float64),
    ):
        torch.testing.assert_close(fn(variant, dtype=torch.float64), ref, rtol=0, atol=0)


def test_weights_do_not_alias_tensor_counts():
    counts = torch.tensor([40.0, 20.0, 10.0], dtype=torch.float64)
    w = LW.inverse_frequency(counts, dtype=torch.float64)
    w.mul_(0.0)
    assert counts.tolist() == [40.0, 20.0, 10.0]


# -- zero-count policy (module docstring: weight 0, normalisations over all classes) ----------


def test_zero_count_policy():
    counts = [100, 0, 25]
    torch.testing.assert_close(
        LW.inverse_frequency(counts, dtype=torch.float64),
        torch.tensor([1.25, 0.0, 5.0], dtype=torch.float64),
        rtol=1e-15,
        atol=0,
    )
    torch.testing.assert_close(
        LW.inverse_frequency(counts, 0.5, dtype=torch.float64),
        torch.tensor([1.25**0.5, 0.0, 5.0**0.5], dtype=torch.float64),
        rtol=1e-15,
        atol=0,
    )
    torch.testing.assert_close(
        LW.cost_sensitive(counts, dtype=torch.float64),
        torch.tensor([0.25, 0.0, 1.0], dtype=torch.float64),
        rtol=1e-15,
        atol=0,
    )
    en = LW.effective_number(counts, 0.99, dtype=torch.float64)
    raw = torch.tensor([0.01 / (1 - 0.99**100), 0.0, 0.01 / (1 - 0.99**25)], dtype=torch.float64)
    torch.testing.assert_close(en, raw / raw.sum() * 3, rtol=1e-13, atol=0)
    assert torch.isfinite(LW.effective_number(counts, 1.0)).all()
    assert torch.isfinite(LW.drw(counts, 170)).all()


# -- torch's weighted mean ignores a global rescaling of the weights ---------------------------


def test_rescaled_weights_give_the_same_torch_weighted_mean():
    gen = torch.Generator().manual_seed(3)
    counts = make_counts(6, gen)
    x, y = make_logits((20, 6), gen), make_target((20, 6), gen)
    a = F.cross_entropy(x, y, weight=LW.inverse_frequency(counts, dtype=torch.float64))
    b = F.cross_entropy(x, y, weight=LW.cost_sensitive(counts, dtype=torch.float64))
    torch.testing.assert_close(a, b, rtol=1e-13, atol=0)


# -- DeferredReweighting (the DRW schedule as an object), and with LDAM ------------------------


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
            drw(epoch), LW.drw(COUNTS, epoch, start, beta, dtype=torch.float64)
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


def test_bad_drw_input():
    with pytest.raises(ValueError, match="epoch should be a non-negative integer"):
        DeferredReweighting([5, 1])(-1)
    with pytest.raises(ValueError, match="start_epoch should be a non-negative integer"):
        DeferredReweighting([5, 1], start_epoch=-3)
    with pytest.raises(ValueError, match=r"beta should be <= 1\.0"):
        DeferredReweighting([5, 1], beta=1.5)
