"""Float32 precision of the sigmoid family for confident logits.

Easy examples (a positive with a large logit, a negative with a very negative one) have a loss
and a gradient of about ``e^{-|x|}``. Computed as ``softplus(x) - x`` or through ``1 - σ(x)``
they cancel: in float32 the relative error reached 8.6e-4 at x ≥ 4 and the loss was 0.0 at
x = 16 where the exact value is 1.1e-7. The kernels keep ``log1p(e^{-|x|})``, ``σ(x)`` and
``σ(-x)`` apart, so the float32 relative error of the loss and of its gradient stays within
1e-5 of a float64 reference on x ∈ [-30, 30], for both targets.
"""

from __future__ import annotations

import longtail.functional as F
import pytest
import torch
from longtail.losses import EQLv2Loss

GRID = torch.linspace(-30.0, 30.0, 6001, dtype=torch.float32)
RTOL = 1e-5
# The exact focal loss of an easy example falls below float32's normal range near |x| = 29
# (γ = 2: e^{-3|x|}); there the best float32 can do is a few denormal steps of 1.4e-45.
ATOL = 1e-44


def _sigmoid(x: torch.Tensor) -> torch.Tensor:
    """σ(x) in float64, written as exp(min(x, 0)) / (1 + exp(-|x|)), exact for both signs."""
    return torch.exp(torch.minimum(x, torch.zeros_like(x))) / (1.0 + torch.exp(-x.abs()))


def _softplus(x: torch.Tensor) -> torch.Tensor:
    return torch.clamp(x, min=0.0) + torch.log1p(torch.exp(-x.abs()))


def _focal_reference(
    x: torch.Tensor, positive: bool, gamma: float, alpha: float | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Float64 focal BCE of each element and its derivative, for target 1 or 0."""
    x = x.double()
    s, s_neg = _sigmoid(x), _sigmoid(-x)
    if positive:
        q, bce, dq, dbce = s_neg, _softplus(-x), -s * s_neg, -s_neg
        a = 1.0 if alpha is None else alpha
    else:
        q, bce, dq, dbce = s, _softplus(x), s * s_neg, s
        a = 1.0 if alpha is None else 1.0 - alpha
    modulator = q**gamma
    dmodulator = gamma * q ** (gamma - 1.0) * dq if gamma != 0.0 else torch.zeros_like(q)
    return a * modulator * bce, a * (dmodulator * bce + modulator * dbce)


def _assert_close(got: torch.Tensor, want: torch.Tensor, what: str) -> None:
    err = (got.double() - want).abs()
    bad = err > torch.maximum(RTOL * want.abs(), torch.full_like(want, ATOL))
    if bad.any():
        k = int(bad.nonzero()[0, 0])
        rel = (err / want.abs()).max().item()
        raise AssertionError(
            f"{what}: relative error up to {rel:.3g}; first failure at x={GRID[k].item()}: "
            f"got {got.flatten()[k].item():.9g}, want {want[k].item():.9g}"
        )


def _value_and_grad(fn, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    x = x.clone().requires_grad_(True)
    out = fn(x)
    (grad,) = torch.autograd.grad(out.sum(), x)
    return out.detach(), grad


@pytest.mark.parametrize("gamma", [0.0, 1.0, 2.0, 1.5])
@pytest.mark.parametrize("positive", [True, False], ids=["target1", "target0"])
def test_sigmoid_focal_loss_dense_target(gamma: float, positive: bool) -> None:
    target = torch.full_like(GRID, 1.0 if positive else 0.0)
    loss, grad = _value_and_grad(
        lambda x: F.sigmoid_focal_loss(x, target, gamma=gamma, alpha=0.25, reduction="none"),
        GRID,
    )
    want, want_grad = _focal_reference(GRID, positive, gamma, 0.25)
    _assert_close(loss, want, "loss")
    _assert_close(grad, want_grad, "gradient")


@pytest.mark.parametrize("gamma", [0.0, 2.0, 1.5])
@pytest.mark.parametrize("positive", [True, False], ids=["target1", "target0"])
def test_sigmoid_focal_loss_label_target(gamma: float, positive: bool) -> None:
    # One class: label 0 makes the element positive, label 1 (the background) negative.
    labels = torch.full((GRID.numel(),), 0 if positive else 1, dtype=torch.long)
    loss, grad = _value_and_grad(
        lambda x: F.sigmoid_focal_loss(
            x[:, None], labels, gamma=gamma, alpha=0.25, reduction="none"
        )[:, 0],
        GRID,
    )
    want, want_grad = _focal_reference(GRID, positive, gamma, 0.25)
    _assert_close(loss, want, "loss")
    _assert_close(grad, want_grad, "gradient")


@pytest.mark.parametrize("positive", [True, False], ids=["target1", "target0"])
def test_equalization_loss(positive: bool) -> None:
    # A frequent class (f = 0.5 > λ) is never suppressed: the loss is plain BCE per element.
    labels = torch.full((GRID.numel(),), 0 if positive else 1, dtype=torch.long)
    loss, grad = _value_and_grad(
        lambda x: F.equalization_loss(x[:, None], labels, [0.5], reduction="none")[:, 0], GRID
    )
    want, want_grad = _focal_reference(GRID, positive, 0.0, None)
    _assert_close(loss, want, "loss")
    _assert_close(grad, want_grad, "gradient")


@pytest.mark.parametrize("positive", [True, False], ids=["target1", "target0"])
def test_eqlv2_loss_and_module(positive: bool) -> None:
    # One class plus the background column. pos_neg = 100 (the initial state) makes every
    # weight 1, so both columns are plain BCE: label 0 makes column 0 positive and column 1
    # negative, label 1 (background) the reverse.
    labels = torch.full((GRID.numel(),), 0 if positive else 1, dtype=torch.long)

    def functional(z: torch.Tensor) -> torch.Tensor:
        return F.eqlv2_loss(z, labels, torch.full((1,), 100.0), reduction="none")

    module = EQLv2Loss(num_classes=1, reduction="none")
    for fn in (functional, lambda z: module(z, labels)):
        loss, grad = _value_and_grad(fn, torch.stack([GRID, GRID], dim=1))
        want_class, dwant_class = _focal_reference(GRID, positive, 0.0, None)
        want_bg, dwant_bg = _focal_reference(GRID, not positive, 0.0, None)
        _assert_close(loss[:, 0], want_class, "class-column loss")
        _assert_close(loss[:, 1], want_bg, "background-column loss")
        _assert_close(grad[:, 0], dwant_class, "class-column gradient")
        _assert_close(grad[:, 1], dwant_bg, "background-column gradient")


def test_easy_positive_at_16_is_not_zero() -> None:
    """The case of the report: target 1, x = 16, BCE = log(1 + e^{-16}) = 1.1254e-7."""
    x = torch.tensor([16.0])
    out = F.sigmoid_focal_loss(x, torch.ones(1), gamma=0.0, alpha=None, reduction="none")
    exact = torch.log1p(torch.exp(torch.tensor(-16.0, dtype=torch.float64)))
    assert abs(out.item() - exact.item()) <= RTOL * exact.item()
