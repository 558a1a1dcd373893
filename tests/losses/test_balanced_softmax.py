"""``balanced_softmax_loss`` / ``BalancedSoftmaxLoss`` (Ren et al. 2020, arXiv:2007.10740).

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


def _case(shape, options, gen, device="cpu", dtype=torch.float64):
    kw, ignore_index = resolve_options(options, shape, gen)
    x = make_logits(shape, gen, dtype, device)
    y = make_target(shape, gen, ignore_index=ignore_index, device=device)
    return x, y, kw, make_counts(shape[1], gen)


# -- 1. value and gradient against the float64 oracle -------------------------------------------


def test_reference_is_the_papers_probability(gen):
    """The oracle's ``CE(z + log n)`` is ``−log(n_y e^{z_y} / Σ_j n_j e^{z_j})`` (the blog's
    ``z_c·exp(z_c)`` is a typo)."""
    x, y, _, counts = _case((10, 6), {}, gen)
    check_against_reference(
        lambda t: R.balanced_softmax(t, y, counts),
        lambda t: R.balanced_softmax_explicit(t, y, counts),
        x,
    )


@pytest.mark.parametrize("options", OPTIONS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", SHAPES)
def test_vs_reference(shape, reduction, options, gen):
    x, y, kw, counts = _case(shape, options, gen)
    check_against_reference(
        lambda t: LF.balanced_softmax_loss(t, y, counts, reduction=reduction, **kw),
        lambda t: R.balanced_softmax(t, y, counts, reduction=reduction, **kw),
        x,
    )


def test_official_form(gen):
    """jiawei-ren/BalancedMetaSoftmax ``balanced_softmax_loss``: ``logits + spc.log()`` then
    ``F.cross_entropy``."""
    x, y, _, counts = _case((20, 10), {}, gen)
    check_against_reference(
        lambda t: LF.balanced_softmax_loss(t, y, counts),
        lambda t: F.cross_entropy(t + counts.log().unsqueeze(0).expand(t.shape[0], -1), y),
        x,
    )


# -- 2. special cases against torch itself ----------------------------------------------------


@pytest.mark.parametrize("options", OPTIONS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", [(8, 5), (4, 3, 2, 3)])
def test_uniform_counts_is_cross_entropy(shape, reduction, options, gen):
    x, y, kw, _ = _case(shape, options, gen)
    counts = [37] * shape[1]
    check_against_reference(
        lambda t: LF.balanced_softmax_loss(t, y, counts, reduction=reduction, **kw),
        lambda t: F.cross_entropy(t, y, reduction=reduction, **kw),
        x,
    )


def test_count_scale_does_not_matter(gen):
    """Raw counts or priors: ``log n`` and ``log π`` differ by a constant."""
    x, y, _, counts = _case((12, 5), {}, gen)
    a = LF.balanced_softmax_loss(x, y, counts)
    b = LF.balanced_softmax_loss(x, y, counts / counts.sum())
    assert_close(a, b, torch.float64)


# -- 3. edge cases -----------------------------------------------------------------------------


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", [(0, 4), (0, 4, 3)], ids=["0x4", "0x4x3"])
def test_empty_batch(shape, reduction):
    check_empty_like_torch(
        lambda t, y, r: LF.balanced_softmax_loss(t, y, [10, 5, 2, 1], reduction=r),
        shape,
        reduction,
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_all_targets_ignored(reduction, gen):
    check_all_ignored_like_torch(
        lambda t, y, r: LF.balanced_softmax_loss(t, y, [10, 5, 2], reduction=r, ignore_index=-1),
        make_logits((5, 3), gen),
        -1,
        reduction,
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_extreme_logits(reduction, gen):
    x, y = extreme_logits((6, 5), gen), make_target((6, 5), gen)
    counts = make_counts(5, gen)
    kw = {"reduction": reduction, "label_smoothing": 0.1}
    out, g = value_and_grad(lambda t: LF.balanced_softmax_loss(t, y, counts, **kw), x)
    assert torch.isfinite(out).all() and torch.isfinite(g).all()
    check_against_reference(
        lambda t: LF.balanced_softmax_loss(t, y, counts, **kw),
        lambda t: R.balanced_softmax(t, y, counts, **kw),
        x,
    )


def test_zero_count_class(gen):
    """Documented: a zero count gives offset −inf; the class gets no probability, a sample of it has
    loss +inf, the other samples are finite, with the gradient of CE over the other classes."""
    x = make_logits((4, 3), gen)
    y = torch.tensor([0, 1, 2, 0])
    counts = [10.0, 0.0, 5.0]
    out, g = value_and_grad(lambda t: LF.balanced_softmax_loss(t, y, counts, reduction="none"), x)
    assert math.isinf(out[1].item()) and out[1].item() > 0
    keep = torch.tensor([0, 2, 3])
    sub = x[keep][:, [0, 2]] + torch.log(torch.tensor([10.0, 5.0], dtype=torch.float64))
    ref_y = torch.tensor([0, 1, 0])
    torch.testing.assert_close(
        out[keep], F.cross_entropy(sub, ref_y, reduction="none"), rtol=1e-12, atol=1e-12
    )
    # the zero-count column never receives probability: gradient 0 there for the other rows
    torch.testing.assert_close(g[keep, 1], torch.zeros(3, dtype=torch.float64), rtol=0, atol=0)
    assert torch.isfinite(g).all()
    total = LF.balanced_softmax_loss(x, y, counts)
    assert math.isinf(total.item())
