"""``class_balanced_loss`` / ``ClassBalancedLoss`` (Cui et al. 2019, arXiv:1901.05555), softmax
type.

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
    gradcheck,
    make_counts,
    make_logits,
    make_target,
    value_and_grad,
)
from longtail import functional as LF

#: class_balanced_loss has no `weight` argument: the effective-number weights are the weights.
CB_OPTIONS = [o for o in OPTIONS if "weight" not in o.values[0]]


def _case(shape, options, gen, device="cpu", dtype=torch.float64):
    kw = dict(options)
    x = make_logits(shape, gen, dtype, device)
    y = make_target(shape, gen, ignore_index=kw.get("ignore_index"), device=device)
    return x, y, kw, make_counts(shape[1], gen)


# -- 1. value and gradient against the float64 oracle -------------------------------------------


@pytest.mark.parametrize("options", CB_OPTIONS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", SHAPES)
def test_vs_reference(shape, reduction, options, gen):
    """The official softmax type: ``Σ_i w_{y_i} CE_i / N`` with w normalised to sum C (β = 0.99
    over the matrix; other β below)."""
    beta = 0.99
    x, y, kw, counts = _case(shape, options, gen)
    check_against_reference(
        lambda t: LF.class_balanced_loss(t, y, counts, beta=beta, reduction=reduction, **kw),
        lambda t: R.class_balanced_softmax(t, y, counts, beta=beta, reduction=reduction, **kw),
        x,
    )


@pytest.mark.parametrize("normalization", ["count", "weight"])
@pytest.mark.parametrize("beta", [0.0, 0.5, 0.9, 0.99, 0.999, 0.9999, 1.0])
def test_betas_vs_reference(beta, normalization, gen):
    x, y, kw, counts = _case((20, 8), {"ignore_index": -100, "label_smoothing": 0.1}, gen)
    check_against_reference(
        lambda t: LF.class_balanced_loss(
            t, y, counts, beta=beta, normalization=normalization, **kw
        ),
        lambda t: R.class_balanced_softmax(
            t, y, counts, beta=beta, normalization=normalization, **kw
        ),
        x,
    )


def test_default_is_official_normalization(gen):
    """Defaults: β = 0.9999 and ``/N`` (TF's SUM_BY_NONZERO_WEIGHTS), not torch's ``/Σ w_y``."""
    x, y, _, counts = _case((16, 5), {}, gen)
    w = R.effective_number_weights(counts, 0.9999)
    out = LF.class_balanced_loss(x, y, counts)
    assert_close(out, F.cross_entropy(x, y, weight=w, reduction="sum") / 16, torch.float64)
    other = F.cross_entropy(x, y, weight=w)
    assert not torch.allclose(out, other, rtol=1e-3), "should differ from torch's weighted mean"


# -- 2. special cases against torch itself ----------------------------------------------------


@pytest.mark.parametrize("options", CB_OPTIONS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", [(8, 5), (4, 3, 2, 3)])
def test_beta_zero_is_cross_entropy(shape, reduction, options, gen):
    """β = 0 gives w ≡ 1: plain CE, under either normalisation."""
    x, y, kw, counts = _case(shape, options, gen)
    for normalization in ("count", "weight"):
        check_against_reference(
            lambda t, nz=normalization: LF.class_balanced_loss(
                t, y, counts, beta=0.0, reduction=reduction, normalization=nz, **kw
            ),
            lambda t: F.cross_entropy(t, y, reduction=reduction, **kw),
            x,
        )


@pytest.mark.parametrize("options", CB_OPTIONS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_weight_normalization_is_torch_weighted_ce(reduction, options, gen):
    x, y, kw, counts = _case((10, 6), options, gen)
    w = R.effective_number_weights(counts, 0.99)
    check_against_reference(
        lambda t: LF.class_balanced_loss(
            t, y, counts, beta=0.99, reduction=reduction, normalization="weight", **kw
        ),
        lambda t: F.cross_entropy(t, y, weight=w, reduction=reduction, **kw),
        x,
    )


def test_uniform_counts_is_cross_entropy(gen):
    x, y = make_logits((10, 4), gen), make_target((10, 4), gen)
    out, g = value_and_grad(lambda t: LF.class_balanced_loss(t, y, [7, 7, 7, 7], beta=0.99), x)
    ref, ref_g = value_and_grad(lambda t: F.cross_entropy(t, y), x)
    assert_close(out, ref, torch.float64)
    assert_close(g, ref_g, torch.float64)


def test_gamma_does_not_change_the_softmax_type(gen):
    """``gamma`` belongs to the focal type only."""
    x, y, _, counts = _case((10, 4), {}, gen)
    torch.testing.assert_close(
        LF.class_balanced_loss(x, y, counts, gamma=0.5),
        LF.class_balanced_loss(x, y, counts, gamma=2.0),
        rtol=0,
        atol=0,
    )


# -- 3. gradcheck ------------------------------------------------------------------------------


# normalization="count" (the default): test_loss_cases.py::test_gradcheck
@pytest.mark.parametrize("normalization", ["weight"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", [(5, 4), (2, 3, 2, 2)])
def test_gradcheck(shape, reduction, normalization, gen):
    x, y, kw, counts = _case(shape, CB_OPTIONS[-1].values[0], gen)
    assert gradcheck(
        lambda t: LF.class_balanced_loss(
            t, y, counts, beta=0.99, reduction=reduction, normalization=normalization, **kw
        ),
        x,
    )


# -- 4. Module ----------------------------------------------------------------------------------


def test_module_accepts_list_numpy_and_tensor_counts(gen):
    import numpy as np

    x, y = make_logits((6, 3), gen), make_target((6, 3), gen)
    outs = [
        longtail.ClassBalancedLoss(c, beta=0.9)(x, y)
        for c in ([30, 20, 1], np.array([30, 20, 1]), torch.tensor([30, 20, 1]))
    ]
    for o in outs[1:]:
        torch.testing.assert_close(o, outs[0], rtol=0, atol=0)


# -- 5. edge cases -----------------------------------------------------------------------------


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", [(0, 4), (0, 4, 3)], ids=["0x4", "0x4x3"])
def test_empty_batch(shape, reduction):
    check_empty_like_torch(
        lambda t, y, r: LF.class_balanced_loss(t, y, [10, 5, 2, 1], reduction=r), shape, reduction
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_all_targets_ignored(reduction, gen):
    check_all_ignored_like_torch(
        lambda t, y, r: LF.class_balanced_loss(t, y, [10, 5, 2], reduction=r, ignore_index=-1),
        make_logits((5, 3), gen),
        -1,
        reduction,
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_extreme_logits(reduction, gen):
    x, y = extreme_logits((6, 5), gen), make_target((6, 5), gen)
    counts = make_counts(5, gen)
    kw = {"beta": 0.999, "reduction": reduction, "label_smoothing": 0.1}
    out, g = value_and_grad(lambda t: LF.class_balanced_loss(t, y, counts, **kw), x)
    assert torch.isfinite(out).all() and torch.isfinite(g).all()
    check_against_reference(
        lambda t: LF.class_balanced_loss(t, y, counts, **kw),
        lambda t: R.class_balanced_softmax(t, y, counts, **kw),
        x,
    )
