"""``focal_loss`` / ``FocalLoss``: softmax focal loss, classic and LDAM-DRW (arXiv:1708.02002).

The contract shared with the other losses (every dtype, Module vs functional, state_dict and
pickling, gradcheck of the typical arguments, a non-unit incoming gradient, torch.compile,
the no-grad forward) is checked in ``test_loss_cases.py``, over the case table of
``_loss_cases.py``."""

from __future__ import annotations

import pytest
import reference as R
import torch
import torch.nn.functional as F
from _testing import (
    OPTIONS,
    REDUCTIONS,
    SHAPES,
    assert_close,
    check_against_reference,
    check_all_ignored_like_torch,
    check_empty_like_torch,
    extreme_logits,
    gradcheck,
    make_counts,
    make_logits,
    make_target,
    make_weight,
    resolve_options,
    value_and_grad,
)
from longtail import functional as LF
from longtail import weights as LW


def _case(shape, options, gen, device="cpu", dtype=torch.float64):
    kw, ignore_index = resolve_options(options, shape, gen)
    x = make_logits(shape, gen, dtype, device)
    y = make_target(shape, gen, ignore_index=ignore_index, device=device)
    return x, y, kw


# -- 1. value and gradient against the float64 oracle -------------------------------------------


@pytest.mark.parametrize("options", OPTIONS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", SHAPES)
def test_vs_reference(shape, reduction, options, gen):
    """γ = 1.5 (non-integer) over the matrix; other γ below."""
    gamma = 1.5
    x, y, kw = _case(shape, options, gen)
    check_against_reference(
        lambda t: LF.focal_loss(t, y, gamma=gamma, reduction=reduction, **kw),
        lambda t: R.focal(t, y, gamma=gamma, reduction=reduction, **kw),
        x,
    )


@pytest.mark.parametrize("alpha", ["per-class", "scalar"])
@pytest.mark.parametrize("gamma", [0.0, 1.0, 3.7])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_alpha_vs_reference(reduction, gamma, alpha, gen):
    shape = (12, 5, 2)
    x, y, kw = _case(shape, OPTIONS[-1].values[0], gen)
    a = make_weight(5, gen) if alpha == "per-class" else 0.25
    a_ref = a if alpha == "per-class" else torch.full((5,), 0.25, dtype=torch.float64)
    check_against_reference(
        lambda t: LF.focal_loss(t, y, gamma=gamma, alpha=a, reduction=reduction, **kw),
        lambda t: R.focal(t, y, gamma=gamma, alpha=a_ref, reduction=reduction, **kw),
        x,
    )


@pytest.mark.parametrize("gamma", [0.25, 0.5, 1.0, 2.0, 5.0])
@pytest.mark.parametrize("with_alpha", [False, True])
def test_classic_formula(gamma, with_alpha, gen):
    """Without class weights: ``−α_y (1−p_y)^γ log p_y`` with ``p = softmax(z)`` (Lin et al.)."""
    x, y = make_logits((16, 6), gen), make_target((16, 6), gen)
    alpha = make_weight(6, gen) if with_alpha else None
    check_against_reference(
        lambda t: LF.focal_loss(t, y, gamma=gamma, alpha=alpha),
        lambda t: R.focal_classic(t, y, gamma=gamma, alpha=alpha),
        x,
        rtol=1e-9,
    )


@pytest.mark.parametrize("epoch", [0, 159, 160, 199])
@pytest.mark.parametrize("gamma", [0.0, 1.0, 2.0])
def test_ldam_drw_focal_with_drw_weights(gamma, epoch, gen):
    """With class weights the loss is exactly kaidic/LDAM-DRW's ``FocalLoss(weight, gamma)``:
    p = exp(−w_y·CE), not the softmax probability."""
    counts = make_counts(10, gen)
    w = R.drw_official(counts.tolist(), epoch).double()
    x, y = make_logits((32, 10), gen), make_target((32, 10), gen)
    check_against_reference(
        lambda t: LF.focal_loss(t, y, gamma=gamma, weight=w),
        lambda t: R.focal_official(t, y, weight=w, gamma=gamma),
        x,
    )
    # and longtail's own DRW weights give the same loss
    w_lt = LW.drw(counts, epoch, dtype=torch.float64)
    assert_close(
        LF.focal_loss(x, y, gamma=gamma, weight=w_lt),
        R.focal_official(x, y, weight=w, gamma=gamma),
        torch.float32,
    )


# -- 2. special cases against torch itself ----------------------------------------------------


@pytest.mark.parametrize("options", [o for o in OPTIONS if "weight" not in o.values[0]])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", [(8, 5), (4, 3, 2, 3)])
def test_gamma_zero_is_cross_entropy(shape, reduction, options, gen):
    x, y, kw = _case(shape, options, gen)
    check_against_reference(
        lambda t: LF.focal_loss(t, y, gamma=0.0, reduction=reduction, **kw),
        lambda t: F.cross_entropy(t, y, reduction=reduction, **kw),
        x,
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_gamma_zero_with_weight_is_weighted_ce_over_count(reduction, gen):
    """With weights, γ = 0 is ``F.cross_entropy(weight=w)`` per sample; "mean" divides by the
    number of samples (LDAM-DRW's ``.mean()``), not by ``Σ w_y``."""
    x, y, kw = _case((9, 4), {"weight": True, "ignore_index": -100}, gen)
    n_valid = int((y != -100).sum())

    def torch_loss(t):
        if reduction == "mean":
            return F.cross_entropy(t, y, reduction="sum", **kw) / n_valid
        return F.cross_entropy(t, y, reduction=reduction, **kw)

    check_against_reference(
        lambda t: LF.focal_loss(t, y, gamma=0.0, reduction=reduction, **kw), torch_loss, x
    )


@pytest.mark.parametrize("gamma", [0.5, 2.0])
def test_focal_never_exceeds_cross_entropy(gamma, gen):
    x, y = make_logits((64, 7), gen), make_target((64, 7), gen)
    focal = LF.focal_loss(x, y, gamma=gamma, reduction="none")
    ce = F.cross_entropy(x, y, reduction="none")
    assert (focal <= ce).all()
    assert (focal >= 0).all()
    # and strictly below wherever CE > 0: the factor (1 − p)^γ < 1
    assert (focal < ce).all()


# -- 3. gradcheck ------------------------------------------------------------------------------


# γ = 2 with these arguments: test_loss_cases.py::test_gradcheck
@pytest.mark.parametrize("gamma", [0.5])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", [(5, 4), (2, 3, 2, 2)])
def test_gradcheck(shape, reduction, gamma, gen):
    x, y, kw = _case(shape, OPTIONS[-1].values[0], gen)
    alpha = make_weight(shape[1], gen)
    assert gradcheck(
        lambda t: LF.focal_loss(t, y, gamma=gamma, alpha=alpha, reduction=reduction, **kw), x
    )


# -- 4. edge cases -----------------------------------------------------------------------------


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", [(0, 4), (0, 4, 3)], ids=["0x4", "0x4x3"])
def test_empty_batch(shape, reduction):
    check_empty_like_torch(
        lambda t, y, r: LF.focal_loss(t, y, gamma=2.0, reduction=r), shape, reduction
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_all_targets_ignored(reduction, gen):
    check_all_ignored_like_torch(
        lambda t, y, r: LF.focal_loss(
            t, y, gamma=2.0, weight=make_weight(3, gen), reduction=r, ignore_index=-1
        ),
        make_logits((5, 3), gen),
        -1,
        reduction,
    )


@pytest.mark.parametrize("gamma", [1.0, 2.0])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_extreme_logits(reduction, gamma, gen):
    x, y = extreme_logits((6, 5), gen), make_target((6, 5), gen)
    kw = {"gamma": gamma, "weight": make_weight(5, gen), "reduction": reduction}
    out, g = value_and_grad(lambda t: LF.focal_loss(t, y, **kw), x)
    assert torch.isfinite(out).all() and torch.isfinite(g).all()
    check_against_reference(lambda t: LF.focal_loss(t, y, **kw), lambda t: R.focal(t, y, **kw), x)


@pytest.mark.parametrize("gamma", [0.25, 0.5, 1.0, 2.0])
def test_perfectly_classified_sample_has_zero_loss_and_gradient(gamma):
    """CE = 0 exactly (p_y = 1 in float64): h(0) = 0 and h'(0) = 0 for every γ > 0 (the limit),
    never NaN from 0^(γ−1)."""
    x = torch.tensor([[100.0, -100.0, -100.0], [0.0, 1.0, 2.0]], dtype=torch.float64)
    y = torch.tensor([0, 2])
    out, g = value_and_grad(lambda t: LF.focal_loss(t, y, gamma=gamma, reduction="none"), x)
    assert out[0].item() == 0.0
    torch.testing.assert_close(g[0], torch.zeros(3, dtype=torch.float64), rtol=0, atol=0)
    assert torch.isfinite(g).all()
    ref = R.focal(x[1:], y[1:], gamma=gamma, reduction="none")
    assert_close(out[1:], ref, torch.float64)
