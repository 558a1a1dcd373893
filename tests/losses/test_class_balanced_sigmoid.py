"""Class-balanced loss, the official sigmoid and focal types (TF ``CB_loss``, transcribed).

Every reduction against the oracle, gradcheck, the Module and its pickling: the
``ClassBalancedLoss-sigmoid`` entry of ``_loss_cases.py`` (``test_loss_cases.py``)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as TF
from longtail import functional as F
from longtail.exceptions import OutOfRangeError
from longtail.losses import ClassBalancedLoss

from tests import reference_detection as ref

COUNTS = [400.0, 120.0, 30.0, 8.0, 2.0]
C = len(COUNTS)


def _batch(n=24, seed=0, scale=2.0):
    g = torch.Generator().manual_seed(seed)
    return (
        torch.randn(n, C, generator=g, dtype=torch.float64) * scale,
        torch.randint(0, C, (n,), generator=g),
    )


def _grad(fn, x):
    x = x.detach().clone().requires_grad_()
    out = fn(x)
    (out if out.dim() == 0 else out.sum()).backward()
    return out.detach(), x.grad


@pytest.mark.parametrize("loss_type", ["sigmoid", "focal"])
@pytest.mark.parametrize(("beta", "gamma"), [(0.999, 1.0), (0.9999, 2.0), (0.9, 0.5)])
def test_matches_official(loss_type, beta, gamma):
    x, y = _batch()
    got, gg = _grad(
        lambda z: F.class_balanced_loss(z, y, COUNTS, beta=beta, gamma=gamma, loss_type=loss_type),
        x,
    )
    want, gw = _grad(lambda z: ref.class_balanced_sigmoid(z, y, COUNTS, beta, gamma, loss_type), x)
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(gg, gw, rtol=1e-10, atol=1e-14)


def test_beta_zero_is_bce_over_n():
    x, y = _batch(seed=1)
    t = TF.one_hot(y, C).double()
    got, gg = _grad(lambda z: F.class_balanced_loss(z, y, COUNTS, beta=0.0, loss_type="sigmoid"), x)
    want, gw = _grad(
        lambda z: TF.binary_cross_entropy_with_logits(z, t, reduction="sum") / len(y), x
    )
    torch.testing.assert_close(got, want)
    torch.testing.assert_close(gg, gw)


def test_errors():
    x, y = _batch(seed=3)
    with pytest.raises(
        ValueError, match="loss_type should be one of 'softmax', 'sigmoid', 'focal'"
    ):
        ClassBalancedLoss(COUNTS, loss_type="bce")
    with pytest.raises(ValueError, match="label_smoothing should be 0"):
        F.class_balanced_loss(x, y, COUNTS, loss_type="sigmoid", label_smoothing=0.1)
    with pytest.raises(ValueError, match="normalization should be 'count'"):
        F.class_balanced_loss(x, y, COUNTS, loss_type="sigmoid", normalization="weight")
    with pytest.raises(OutOfRangeError, match=r"target should contain labels in \[0, 5\)"):
        F.class_balanced_loss(x, torch.full_like(y, C), COUNTS, loss_type="focal")
