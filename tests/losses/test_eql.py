"""Equalization loss: the sigmoid form against the official op chain, and the softmax form
against an explicit masked softmax.

Every reduction (and ``avg_factor``) against the oracles, gradcheck, Module vs functional and
pickling: the ``EqualizationLoss`` and ``SoftmaxEqualizationLoss`` entries of
``_loss_cases.py`` (``test_loss_cases.py``)."""

from __future__ import annotations

import pickle

import longtail
import pytest
import torch
import torch.nn.functional as TF
from longtail import functional as F
from longtail.exceptions import InvalidArgumentError, OutOfRangeError
from longtail.losses import EqualizationLoss, SoftmaxEqualizationLoss

from tests import reference_detection as ref

FREQ = torch.tensor([0.3, 0.001, 0.05, 0.0017, 0.00177, 0.0005], dtype=torch.float64)
C = FREQ.numel()


def _batch(n=30, seed=0, scale=3.0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, C, generator=g, dtype=torch.float64) * scale
    y = torch.randint(0, C + 1, (n,), generator=g)
    return x, y


def _grad(fn, x):
    x = x.detach().clone().requires_grad_()
    out = fn(x)
    (out if out.dim() == 0 else out.sum()).backward()
    return out.detach(), x.grad


@pytest.mark.parametrize("lambda_", [0.00177, 0.0011, 1.0])
def test_matches_official(lambda_):
    x, y = _batch()
    got, gg = _grad(lambda z: F.equalization_loss(z, y, FREQ, lambda_=lambda_), x)
    want, gw = _grad(lambda z: ref.eql(z, y, FREQ, lambda_), x)
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(gg, gw, rtol=1e-10, atol=1e-14)


def test_threshold_is_strict_and_positives_background_never_suppressed():
    x, y = _batch(seed=1)
    # f = 0.00177 is not < 0.00177: that class is never suppressed.
    elem = F.equalization_loss(x, y, FREQ, reduction="none")
    t = ref.onehot_with_background(y, C)
    bce = TF.binary_cross_entropy_with_logits(x, t, reduction="none")
    fg = (y < C)[:, None]
    suppressed = fg & (t == 0) & (FREQ < 0.00177)[None, :]
    torch.testing.assert_close(elem, torch.where(suppressed, torch.zeros_like(bce), bce))
    assert not suppressed[:, 4].any()


def test_lambda_zero_is_bce_divided_by_n():
    x, y = _batch(seed=2)
    t = ref.onehot_with_background(y, C)
    got, gg = _grad(lambda z: F.equalization_loss(z, y, FREQ, lambda_=0.0), x)
    want, gw = _grad(
        lambda z: TF.binary_cross_entropy_with_logits(z, t, reduction="sum") / len(y), x
    )
    torch.testing.assert_close(got, want)
    torch.testing.assert_close(gg, gw)


def test_kernel_equals_tch_and_extremes():
    x, y = _batch(n=200, seed=4, scale=60.0)
    neg = (FREQ >= 0.00177).float()
    args = dict(neg_weight=neg, neg_weight_fg_only=True, num_labels=C + 1, normalization="rows")
    for reduction in ("mean", "none"):
        a = longtail._kernels.sigmoid_loss(
            x.float(), y, reduction=reduction, backend="kernel", **args
        )
        b = longtail._kernels.sigmoid_loss(
            x.float(), y, reduction=reduction, backend="torch", **args
        )
        torch.testing.assert_close(a[0], b[0], rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(a[1], b[1], rtol=1e-5, atol=1e-6)
    xe = torch.full((2, C), 100.0, dtype=torch.float64)
    xe[1] = -100.0
    ye = torch.tensor([0, C])
    torch.testing.assert_close(F.equalization_loss(xe, ye, FREQ), ref.eql(xe, ye, FREQ, 0.00177))


def test_empty_and_errors():
    e = torch.zeros(0, C, dtype=torch.float64)
    assert torch.isnan(F.equalization_loss(e, torch.zeros(0, dtype=torch.long), FREQ))
    assert F.equalization_loss(e, torch.zeros(0, dtype=torch.long), FREQ, reduction="sum") == 0
    x, y = _batch(seed=5)
    with pytest.raises(OutOfRangeError, match=r"target should contain labels in \[0, 7\)"):
        F.equalization_loss(x, torch.full_like(y, C + 1), FREQ)
    with pytest.raises(ValueError, match=r"input should have 6 columns"):
        F.equalization_loss(x[:, :5], y, FREQ)
    bad = x.clone()
    bad[4, 2] = float("nan")
    with pytest.raises(InvalidArgumentError, match="row 4"):
        F.equalization_loss(bad, y, FREQ)
    with pytest.raises(ValueError, match=r"lambda_ should be >= 0\.0"):
        EqualizationLoss(FREQ, lambda_=-1.0)
    assert longtail.EqualizationLoss is EqualizationLoss


# ---- softmax EQL --------------------------------------------------------------------------


def _cls_batch(n=40, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (
        torch.randn(n, C, generator=g, dtype=torch.float64) * 2,
        torch.randint(0, C, (n,), generator=g),
    )


def test_softmax_eql_generator_gamma_and_module():
    x, y = _cls_batch(seed=2)
    a = F.softmax_equalization_loss(x, y, FREQ, generator=torch.Generator().manual_seed(3))
    b = F.softmax_equalization_loss(x, y, FREQ, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(a, b)
    # The draw is per (sample, class) element, Bernoulli(gamma), from the generator.
    beta = (
        torch.rand(x.shape, generator=torch.Generator().manual_seed(3), dtype=torch.float64) < 0.9
    )
    torch.testing.assert_close(a, ref.softmax_eql(x, y, FREQ, 0.00177, beta))
    # gamma = 0 (never drop) or lambda_ = 0 (no rare class) is cross-entropy.
    torch.testing.assert_close(
        F.softmax_equalization_loss(x, y, FREQ, gamma=0.0), TF.cross_entropy(x, y)
    )
    torch.testing.assert_close(
        F.softmax_equalization_loss(x, y, FREQ, lambda_=0.0), TF.cross_entropy(x, y)
    )
    m = SoftmaxEqualizationLoss(FREQ, generator=torch.Generator().manual_seed(3))
    m2 = pickle.loads(pickle.dumps(m))
    torch.testing.assert_close(m(x, y), a)
    torch.testing.assert_close(m2(x, y), a)  # the generator state travels with the pickle
    with pytest.raises(ValueError, match="beta should be a tensor of the input's shape"):
        F.softmax_equalization_loss(x, y, FREQ, beta=torch.ones(3))
