"""``logit_adjusted_loss`` / ``logit_adjustments`` / ``logit_adjust`` / ``LogitAdjustedLoss``
(Menon et al. 2021, arXiv:2007.07314).

The contract shared with the other losses (every dtype, Module vs functional, state_dict and
pickling, gradcheck of the typical arguments, a non-unit incoming gradient, torch.compile,
the no-grad forward) is checked in ``test_loss_cases.py``, over the case table of
``_loss_cases.py``."""

from __future__ import annotations

import math

import pytest
import reference as R
import torch
import torch.nn.functional as F
from _testing import (
    OPTIONS,
    REDUCTIONS,
    SHAPES,
    check_against_reference,
    check_all_ignored_like_torch,
    check_empty_like_torch,
    extreme_logits,
    make_counts,
    make_logits,
    make_target,
    resolve_options,
    value_and_grad,
)
from longtail import functional as LF


def _case(shape, options, gen, device="cpu", dtype=torch.float64):
    kw, ignore_index = resolve_options(options, shape, gen)
    x = make_logits(shape, gen, dtype, device)
    y = make_target(shape, gen, ignore_index=ignore_index, device=device)
    return x, y, kw, make_counts(shape[1], gen)


# -- the adjustments ---------------------------------------------------------------------------


@pytest.mark.parametrize("tau", [0.0, 0.5, 1.0, 2.0])
def test_adjustments_vs_reference(tau, gen):
    counts = make_counts(50, gen)
    adj = LF.logit_adjustments(counts, tau)
    assert adj.dtype == torch.float64 and adj.shape == (50,)
    torch.testing.assert_close(adj, R.logit_adjustments(counts, tau), rtol=1e-14, atol=1e-14)


def test_adjustments_eps_inside_the_log():
    """The 1e-12 is added to π^τ inside the log: a zero-count class gets log(1e-12) ≈ −27.63,
    finite, and τ = 0 gives the same constant log(1 + 1e-12) for every class."""
    adj = LF.logit_adjustments([3, 0, 1], tau=1.0)
    assert torch.isfinite(adj).all()
    assert adj[1].item() == pytest.approx(math.log(1e-12), rel=1e-15)
    assert adj[0].item() == pytest.approx(math.log(0.75 + 1e-12), rel=1e-15)
    flat = LF.logit_adjustments([3, 0, 1], tau=0.0)
    torch.testing.assert_close(
        flat, torch.full((3,), math.log(1 + 1e-12), dtype=torch.float64), rtol=1e-15, atol=0
    )


@pytest.mark.parametrize("tau", [0.0, 1.0, 1.5])
@pytest.mark.parametrize("shape", [(5,), (4, 5), (2, 5, 3)])
def test_post_hoc_adjust(shape, tau, gen):
    """``logit_adjust`` subtracts ``log(π^τ + 1e-12)`` along the class dim (dim 0 for 1-D)."""
    counts = make_counts(5, gen)
    z = make_logits(shape, gen)
    adj = R.logit_adjustments(counts, tau)
    view = [1] * len(shape)
    view[0 if len(shape) == 1 else 1] = -1
    torch.testing.assert_close(
        LF.logit_adjust(z, counts, tau), z - adj.view(view), rtol=1e-15, atol=1e-15
    )


def test_post_hoc_adjust_keeps_dtype_and_predicts_rare_classes(gen):
    z = torch.zeros(3, 4, dtype=torch.float32)
    out = LF.logit_adjust(z, [1000, 100, 10, 1])
    assert out.dtype == torch.float32
    assert (out.argmax(1) == 3).all()


# -- 1. value and gradient against the float64 oracle -------------------------------------------


@pytest.mark.parametrize("options", OPTIONS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", SHAPES)
def test_vs_reference(shape, reduction, options, gen):
    """τ = 0.7 over the matrix; other τ below."""
    tau = 0.7
    x, y, kw, counts = _case(shape, options, gen)
    check_against_reference(
        lambda t: LF.logit_adjusted_loss(t, y, counts, tau=tau, reduction=reduction, **kw),
        lambda t: R.logit_adjusted(t, y, counts, tau=tau, reduction=reduction, **kw),
        x,
    )


@pytest.mark.parametrize("tau", [0.0, 0.1, 0.3, 2.0, 3.0])
def test_taus_vs_reference(tau, gen):
    x, y, kw, counts = _case((12, 6), OPTIONS[-1].values[0], gen)
    check_against_reference(
        lambda t: LF.logit_adjusted_loss(t, y, counts, tau=tau, **kw),
        lambda t: R.logit_adjusted(t, y, counts, tau=tau, **kw),
        x,
    )


# -- 2. special cases against torch itself ----------------------------------------------------


@pytest.mark.parametrize("options", OPTIONS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", [(8, 5), (4, 3, 2, 3)])
def test_tau_zero_is_cross_entropy(shape, reduction, options, gen):
    x, y, kw, counts = _case(shape, options, gen)
    check_against_reference(
        lambda t: LF.logit_adjusted_loss(t, y, counts, tau=0.0, reduction=reduction, **kw),
        lambda t: F.cross_entropy(t, y, reduction=reduction, **kw),
        x,
    )


@pytest.mark.parametrize("tau", [0.5, 1.0, 2.0])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_uniform_counts_is_cross_entropy(reduction, tau, gen):
    x, y, kw, _ = _case((9, 4, 2), OPTIONS[-1].values[0], gen)
    check_against_reference(
        lambda t: LF.logit_adjusted_loss(
            t, y, [25, 25, 25, 25], tau=tau, reduction=reduction, **kw
        ),
        lambda t: F.cross_entropy(t, y, reduction=reduction, **kw),
        x,
    )


def test_tau_one_is_balanced_softmax_up_to_eps(gen):
    x, y, _, counts = _case((16, 8), {}, gen)
    out, g = value_and_grad(lambda t: LF.logit_adjusted_loss(t, y, counts, tau=1.0), x)
    ref, ref_g = value_and_grad(lambda t: F.cross_entropy(t + torch.log(counts), y), x)
    torch.testing.assert_close(out, ref, rtol=1e-9, atol=0)
    torch.testing.assert_close(g, ref_g, rtol=1e-9, atol=1e-12)


# -- 3. edge cases -----------------------------------------------------------------------------


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", [(0, 4), (0, 4, 3)], ids=["0x4", "0x4x3"])
def test_empty_batch(shape, reduction):
    check_empty_like_torch(
        lambda t, y, r: LF.logit_adjusted_loss(t, y, [10, 5, 2, 1], reduction=r), shape, reduction
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_all_targets_ignored(reduction, gen):
    check_all_ignored_like_torch(
        lambda t, y, r: LF.logit_adjusted_loss(t, y, [10, 5, 2], reduction=r, ignore_index=-1),
        make_logits((5, 3), gen),
        -1,
        reduction,
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_extreme_logits(reduction, gen):
    x, y = extreme_logits((6, 5), gen), make_target((6, 5), gen)
    counts = make_counts(5, gen)
    kw = {"reduction": reduction, "label_smoothing": 0.1}
    out, g = value_and_grad(lambda t: LF.logit_adjusted_loss(t, y, counts, **kw), x)
    assert torch.isfinite(out).all() and torch.isfinite(g).all()
    check_against_reference(
        lambda t: LF.logit_adjusted_loss(t, y, counts, **kw),
        lambda t: R.logit_adjusted(t, y, counts, **kw),
        x,
    )


def test_zero_count_class_is_finite(gen):
    """Unlike Balanced Softmax, a zero-count class (even as the target) gives a finite loss."""
    x = make_logits((6, 3), gen)
    y = torch.tensor([0, 1, 2, 1, 0, 1])
    counts = [10, 0, 5]
    out, g = value_and_grad(lambda t: LF.logit_adjusted_loss(t, y, counts, reduction="none"), x)
    assert torch.isfinite(out).all() and torch.isfinite(g).all()
    check_against_reference(
        lambda t: LF.logit_adjusted_loss(t, y, counts, reduction="none"),
        lambda t: R.logit_adjusted(t, y, counts, reduction="none"),
        x,
    )


def test_negative_tau_with_a_zero_count_class(gen):
    """``logit_adjustments`` promises a finite offset for zero-count classes; with τ < 0,
    π^τ = 0^τ = inf. Either τ < 0 is rejected (ValueError naming tau) or the offsets (and so the
    losses of the other classes' samples) stay finite — never a NaN loss for every sample."""
    counts = [10, 0, 5]
    try:
        adj = LF.logit_adjustments(counts, tau=-0.5)
    except ValueError as err:
        assert "tau" in str(err)
        with pytest.raises(ValueError, match="tau"):
            LF.logit_adjusted_loss(
                make_logits((3, 3), gen), torch.tensor([0, 2, 0]), counts, tau=-0.5
            )
        return
    assert torch.isfinite(adj).all(), f"non-finite offsets {adj.tolist()}"
    out = LF.logit_adjusted_loss(
        make_logits((3, 3), gen), torch.tensor([0, 2, 0]), counts, tau=-0.5, reduction="none"
    )
    assert torch.isfinite(out).all(), f"losses {out.tolist()}"
