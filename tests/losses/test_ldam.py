"""``ldam_loss`` / ``ldam_margins`` / ``LDAMLoss`` (Cao et al. 2019, arXiv:1906.07413, with DRW).

The contract shared with the other losses (every dtype, Module vs functional, state_dict and
pickling, gradcheck of the typical arguments, a non-unit incoming gradient, torch.compile,
the no-grad forward) is checked in ``test_loss_cases.py``, over the case table of
``_loss_cases.py``."""

from __future__ import annotations

import longtail
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
    make_counts,
    make_logits,
    make_target,
    resolve_options,
    value_and_grad,
)
from longtail import functional as LF
from longtail import weights as LW


def _case(shape, options, gen, device="cpu", dtype=torch.float64, scale=0.3):
    """LDAM logits come from a cosine classifier: |z| <= 1, here N(0, 0.3²)."""
    kw, ignore_index = resolve_options(options, shape, gen)
    x = make_logits(shape, gen, dtype, device, scale=scale)
    y = make_target(shape, gen, ignore_index=ignore_index, device=device)
    return x, y, kw, make_counts(shape[1], gen)


# -- margins -----------------------------------------------------------------------------------


@pytest.mark.parametrize("max_margin", [0.5, 0.1, 1.7])
@pytest.mark.parametrize("c", [1, 2, 10, 1000])
def test_margins_vs_reference(c, max_margin, gen):
    counts = make_counts(c, gen)
    m = LF.ldam_margins(counts, max_margin)
    assert m.dtype == torch.float64 and m.shape == (c,)
    torch.testing.assert_close(m, R.ldam_margins(counts, max_margin), rtol=1e-14, atol=0)
    assert m.max().item() == pytest.approx(max_margin, rel=1e-15)


def test_margins_fourth_root_law():
    """m ∝ n^{-1/4} (not n^{-1/2}): 16× the samples halves the margin; the rarest class gets
    max_margin."""
    m = LF.ldam_margins([1600, 100, 1], max_margin=0.8)
    assert m[2].item() == pytest.approx(0.8, rel=1e-15)
    assert m[1].item() == pytest.approx(0.8 / 100**0.25, rel=1e-14)
    assert m[0].item() == pytest.approx(m[1].item() / 2, rel=1e-14)


def test_margins_zero_count_policy():
    """Documented policy: a zero-count class gets ``max_margin`` (not inf/NaN); the others are
    scaled by the largest margin among the non-empty classes."""
    m = LF.ldam_margins([81, 0, 16, 1], max_margin=0.5)
    ref = R.ldam_margins([81, 16, 1], 0.5)
    expected = torch.stack([ref[0], torch.tensor(0.5, dtype=torch.float64), ref[1], ref[2]])
    torch.testing.assert_close(m, expected, rtol=1e-15, atol=0)


# -- 1. value and gradient against the float64 oracle -------------------------------------------


@pytest.mark.parametrize("options", OPTIONS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", SHAPES)
def test_vs_reference(shape, reduction, options, gen):
    x, y, kw, counts = _case(shape, options, gen)
    check_against_reference(
        lambda t: LF.ldam_loss(t, y, counts, reduction=reduction, **kw),
        lambda t: R.ldam(t, y, counts, reduction=reduction, **kw),
        x,
    )


@pytest.mark.parametrize(
    ("max_margin", "scale"), [(0.5, 30.0), (0.2, 1.0), (1.0, 64.0), (0.5, 0.5)]
)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_margin_and_scale_vs_reference(max_margin, scale, reduction, gen):
    x, y, kw, counts = _case((10, 7, 3), OPTIONS[-1].values[0], gen)
    check_against_reference(
        lambda t: LF.ldam_loss(
            t, y, counts, max_margin=max_margin, scale=scale, reduction=reduction, **kw
        ),
        lambda t: R.ldam(
            t, y, counts, max_margin=max_margin, scale=scale, reduction=reduction, **kw
        ),
        x,
    )


@pytest.mark.parametrize("epoch", [0, 159, 160, 199])
def test_official_ldam_drw(epoch, gen):
    """kaidic/LDAM-DRW's LDAMLoss with the DRW weights of ``cifar_train.py`` (weighted mean)."""
    counts = make_counts(10, gen)
    x, y = make_logits((32, 10), gen, scale=0.3), make_target((32, 10), gen)
    w_official = R.drw_official(counts.tolist(), epoch).double()
    check_against_reference(
        lambda t: LF.ldam_loss(t, y, counts, weight=w_official),
        lambda t: R.ldam_official(t, y, counts.tolist(), max_m=0.5, s=30, weight=w_official),
        x,
    )
    # longtail's own DRW weights: the same up to the official code's float32 rounding
    w_lt = LW.drw(counts, epoch, dtype=torch.float64)
    assert_close(
        LF.ldam_loss(x, y, counts, weight=w_lt),
        R.ldam_official(x, y, counts.tolist(), weight=w_official),
        torch.float32,
    )


# -- 2. special cases against torch itself ----------------------------------------------------


@pytest.mark.parametrize("options", OPTIONS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", [(8, 5), (4, 3, 2, 3)])
def test_zero_margin_is_cross_entropy_of_scaled_logits(shape, reduction, options, gen):
    x, y, kw, counts = _case(shape, options, gen)
    check_against_reference(
        lambda t: LF.ldam_loss(t, y, counts, max_margin=0.0, scale=7.5, reduction=reduction, **kw),
        lambda t: F.cross_entropy(7.5 * t, y, reduction=reduction, **kw),
        x,
    )


def test_margin_is_subtracted_before_scaling(gen):
    """``CE(s·(z − m_y·onehot))``, not ``CE(s·z − m_y·onehot)``: with equal counts every class
    has margin max_m and the loss is CE of ``s·z − s·max_m·onehot``."""
    x, y = make_logits((8, 4), gen, scale=0.3), make_target((8, 4), gen)
    onehot = F.one_hot(y, 4).double()
    check_against_reference(
        lambda t: LF.ldam_loss(t, y, [5, 5, 5, 5], max_margin=0.4, scale=10.0),
        lambda t: F.cross_entropy(10.0 * (t - 0.4 * onehot), y),
        x,
    )


# -- 3. Module ----------------------------------------------------------------------------------


def test_module_drw_weight_assignment(gen):
    """The documented DRW recipe: ``loss.weight = drw(counts, epoch)`` switches the weights (and
    the weights follow state_dict)."""
    counts = make_counts(6, gen)
    x, y = make_logits((12, 6), gen, scale=0.3), make_target((12, 6), gen)
    module = longtail.LDAMLoss(counts)
    before = module(x, y)
    assert_close(before, R.ldam(x, y, counts), torch.float64)
    module.weight = LW.drw(counts, 170)
    assert "weight" in module.state_dict()
    expected = R.ldam_official(x, y, counts.tolist(), weight=R.drw_official(counts.tolist(), 170))
    assert_close(module(x, y), expected, torch.float32)
    assert not torch.allclose(module(x, y), before)


# -- 4. edge cases -----------------------------------------------------------------------------


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", [(0, 4), (0, 4, 3)], ids=["0x4", "0x4x3"])
def test_empty_batch(shape, reduction):
    check_empty_like_torch(
        lambda t, y, r: LF.ldam_loss(t, y, [10, 5, 2, 1], reduction=r), shape, reduction
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_all_targets_ignored(reduction, gen):
    check_all_ignored_like_torch(
        lambda t, y, r: LF.ldam_loss(t, y, [10, 5, 2], reduction=r, ignore_index=-1),
        make_logits((5, 3), gen),
        -1,
        reduction,
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_extreme_logits(reduction, gen):
    """±100 logits times the scale 30: |u| = 3000, still finite."""
    x, y = extreme_logits((6, 5), gen), make_target((6, 5), gen)
    counts = make_counts(5, gen)
    kw = {"reduction": reduction, "label_smoothing": 0.1}
    out, g = value_and_grad(lambda t: LF.ldam_loss(t, y, counts, **kw), x)
    assert torch.isfinite(out).all() and torch.isfinite(g).all()
    check_against_reference(
        lambda t: LF.ldam_loss(t, y, counts, **kw), lambda t: R.ldam(t, y, counts, **kw), x
    )
