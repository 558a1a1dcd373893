"""Sigmoid focal loss: values and gradients against mmdetection's / torchvision's formulation.

Every dtype and reduction with per-sample weights and ``avg_factor`` against the oracle,
Module vs functional, pickling and ``torch.compile``: the ``SigmoidFocalLoss`` entry of
``_loss_cases.py`` (``test_loss_cases.py``)."""

from __future__ import annotations

import longtail
import pytest
import torch
from _testing import CPU_BACKENDS
from longtail import _autograd, _kernels
from longtail import functional as F
from longtail.exceptions import InvalidArgumentError, OutOfRangeError

from tests import reference_detection as ref


def _batch(n=12, c=5, seed=0, scale=2.0):
    g = torch.Generator().manual_seed(seed)
    x = (torch.randn(n, c, generator=g, dtype=torch.float64) * scale).requires_grad_()
    y = torch.randint(0, c + 1, (n,), generator=g)  # c = background
    w = torch.rand(n, generator=g, dtype=torch.float64)
    return x, y, w


def _value_and_grad(fn, x):
    x = x.detach().clone().requires_grad_()
    out = fn(x)
    out.sum().backward()
    return out.detach(), x.grad


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize(("gamma", "alpha"), [(2.0, 0.25), (0.0, 0.25), (1.5, None), (3.0, 0.6)])
@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_labels_match_mmdet(reduction, gamma, alpha, backend):
    x, y, w = _batch()
    avg = 7.0 if reduction == "mean" else None
    # The kernel takes the divisor; the public layer passes mmdetection's avg_factor + eps.
    divisor = None if avg is None else avg + torch.finfo(torch.float32).eps
    for weight in (None, w):
        got, gg = _value_and_grad(
            lambda z, weight=weight: _autograd.sigmoid_loss(
                z,
                y,
                weight=weight,
                gamma=gamma,
                alpha=alpha,
                reduction=reduction,
                avg_factor=divisor,
                backend=backend,
            )[0],
            x,
        )
        want, gw = _value_and_grad(
            lambda z, weight=weight: ref.sigmoid_focal(
                z, y, gamma=gamma, alpha=alpha, weight=weight, reduction=reduction, avg_factor=avg
            ),
            x,
        )
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-13)
        torch.testing.assert_close(gg, gw, rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_public_function_and_mean_without_avg_factor(reduction):
    x, y, _ = _batch(seed=3)
    got, gg = _value_and_grad(lambda z: F.sigmoid_focal_loss(z, y, reduction=reduction), x)
    want, gw = _value_and_grad(lambda z: ref.sigmoid_focal(z, y, reduction=reduction), x)
    torch.testing.assert_close(got, want)
    torch.testing.assert_close(gg, gw)


@pytest.mark.parametrize("alpha", [0.25, -1.0])
def test_float_target_matches_torchvision_convention(alpha):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(3, 4, 5, generator=g, dtype=torch.float64).requires_grad_()
    t = torch.rand(3, 4, 5, generator=g, dtype=torch.float64)  # soft targets
    got, gg = _value_and_grad(lambda z: F.sigmoid_focal_loss(z, t, alpha=alpha, gamma=1.5), x)
    want, gw = _value_and_grad(
        lambda z: ref.sigmoid_focal(z, t, alpha=None if alpha < 0 else alpha, gamma=1.5), x
    )
    torch.testing.assert_close(got, want)
    torch.testing.assert_close(gg, gw)


def test_gamma_zero_no_alpha_is_bce():
    x, y, _ = _batch(seed=4)
    t = ref.onehot_with_background(y, x.shape[1])
    got, gg = _value_and_grad(lambda z: F.sigmoid_focal_loss(z, y, gamma=0.0, alpha=None), x)
    want, gw = _value_and_grad(
        lambda z: torch.nn.functional.binary_cross_entropy_with_logits(z, t), x
    )
    torch.testing.assert_close(got, want)
    torch.testing.assert_close(gg, gw)


@pytest.mark.parametrize("gamma", [2.0, 0.5])
def test_gradcheck(gamma):
    x, y, w = _batch(n=5, c=3, seed=5)
    assert torch.autograd.gradcheck(
        lambda z: F.sigmoid_focal_loss(z, y, gamma=gamma, weight=w, avg_factor=3.0), (x,)
    )
    t = torch.rand(5, 3, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda z: F.sigmoid_focal_loss(z, t, gamma=gamma), (x,))
    assert torch.autograd.gradcheck(
        lambda z: F.sigmoid_focal_loss(z, y, gamma=gamma, reduction="none"), (x,)
    )


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_kernel_equals_every_path(dtype):
    x, y, w = _batch(n=300, c=37, seed=6, scale=4.0)
    x = x.detach().to(dtype)
    for reduction in ("mean", "none"):
        a = _core_call(x, y, w.to(dtype), reduction, "kernel")
        for backend in CPU_BACKENDS[1:]:
            b = _core_call(x, y, w.to(dtype), reduction, backend)
            for u, v in zip(a, b, strict=True):
                torch.testing.assert_close(u, v, rtol=2e-5, atol=1e-6)


def _core_call(x, y, w, reduction, backend):
    return longtail._kernels.sigmoid_loss(
        x, y, gamma=2.0, alpha=0.25, weight=w, reduction=reduction, backend=backend
    )[:2]


def test_extreme_logits_and_float32():
    x = torch.tensor([[100.0, -100.0, 0.0], [-100.0, 100.0, 30.0]], dtype=torch.float64)
    y = torch.tensor([0, 3])
    got, gg = _value_and_grad(lambda z: F.sigmoid_focal_loss(z, y, reduction="sum"), x)
    want, gw = _value_and_grad(lambda z: ref.sigmoid_focal(z, y, reduction="sum"), x)
    assert torch.isfinite(got) and torch.isfinite(gg).all()
    torch.testing.assert_close(got, want)
    torch.testing.assert_close(gg, gw)
    got32, gg32 = _value_and_grad(lambda z: F.sigmoid_focal_loss(z, y, reduction="sum"), x.float())
    torch.testing.assert_close(got32, want.float())
    torch.testing.assert_close(gg32, gw.float())


def test_half_input_runs_in_float32():
    x, y, _ = _batch(seed=7)
    out = F.sigmoid_focal_loss(x.detach().half(), y)
    assert out.dtype == torch.float16
    torch.testing.assert_close(
        out.float(), F.sigmoid_focal_loss(x.detach().half().float(), y), rtol=1e-3, atol=1e-4
    )


def test_empty_batch():
    x = torch.zeros(0, 4, dtype=torch.float64, requires_grad=True)
    y = torch.zeros(0, dtype=torch.long)
    assert torch.isnan(F.sigmoid_focal_loss(x, y))
    assert F.sigmoid_focal_loss(x, y, reduction="sum").item() == 0.0
    assert F.sigmoid_focal_loss(x, y, reduction="none").shape == (0, 4)
    assert F.sigmoid_focal_loss(x, y, avg_factor=1.0).item() == 0.0
    F.sigmoid_focal_loss(x, y, reduction="sum").backward()
    assert x.grad.shape == (0, 4)


def test_ignore_index():
    x, y, _ = _batch(seed=8)
    y2 = y.clone()
    y2[::3] = -1
    keep = y2 != -1
    got, gg = _value_and_grad(lambda z: F.sigmoid_focal_loss(z, y2, ignore_index=-1), x)
    want, gw = _value_and_grad(lambda z: ref.sigmoid_focal(z[keep], y[keep]), x)
    torch.testing.assert_close(got, want)
    torch.testing.assert_close(gg, gw)
    assert (gg[~keep] == 0).all()


def test_errors():
    x, y, _ = _batch()
    with pytest.raises(OutOfRangeError, match=r"target should contain labels in \[0, 6\)"):
        F.sigmoid_focal_loss(x, torch.full_like(y, 6))
    assert issubclass(OutOfRangeError, IndexError)
    with pytest.raises(ValueError, match="target should have the shape of input"):
        F.sigmoid_focal_loss(x, torch.rand(12, 4, dtype=torch.float64))
    bad = x.detach().clone()
    bad[3, 1] = float("nan")
    with pytest.raises(InvalidArgumentError, match=r"input should not contain NaN.*row 3"):
        F.sigmoid_focal_loss(bad, y)
    with pytest.raises(ValueError, match=r"gamma should be >= 0\.0, but got gamma=-1\.0"):
        F.sigmoid_focal_loss(x, y, gamma=-1.0)
    with pytest.raises(ValueError, match="avg_factor should be None when reduction='sum'"):
        F.sigmoid_focal_loss(x, y, reduction="sum", avg_factor=2.0)
    with pytest.raises(ValueError, match="reduction should be one of"):
        F.sigmoid_focal_loss(x, y, reduction="avg")
    with pytest.raises(ValueError, match=r"weight should have shape \(12,\)"):
        F.sigmoid_focal_loss(x, y, weight=torch.ones(3))


def test_opcheck():
    x, y, w = _batch(n=6, c=3, seed=10)
    x = x.detach().float().requires_grad_()
    call = _kernels.SigmoidLossCall(y, weight=w.float(), gamma=2.0, alpha=0.25)
    torch.library.opcheck(_autograd.sigmoid_loss_op, (x, *call))
    call_none = _kernels.SigmoidLossCall(
        y,
        pos_weight=torch.rand(3),
        neg_weight=torch.rand(3),
        num_labels=4,
        neg_weight_fg_only=True,
        reduction="none",
        normalization="rows",
        collect_stats=True,
    )
    torch.library.opcheck(_autograd.sigmoid_loss_op, (x, *call_none))


def test_backward_adopts_the_kernel_gradient_and_retain_graph_works():
    x, y, _ = _batch(seed=12)
    x = x.detach().float().requires_grad_()
    loss = F.sigmoid_focal_loss(x, y)
    ctx = loss.grad_fn
    saved_ptr = ctx.grad.data_ptr()
    loss.backward()
    if hasattr(torch._C._autograd, "_get_current_graph_task_keep_graph"):
        # no copy into .grad (torch < 2.5 lacks the accessor that tells a retained graph, so
        # there the gradient is kept and autograd copies it)
        assert x.grad.data_ptr() == saved_ptr
    x.grad = None
    loss = F.sigmoid_focal_loss(x, y)
    loss.backward(retain_graph=True)
    first = x.grad.clone()
    loss.backward()
    torch.testing.assert_close(x.grad, 2 * first)
    if hasattr(torch._C._autograd, "_get_current_graph_task_keep_graph"):
        with pytest.raises(RuntimeError, match="backward through the graph a second time"):
            loss.backward()
