"""``weighted_cross_entropy`` / ``WeightedCrossEntropyLoss`` (inverse-frequency and cost-sensitive
weights).

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
    gradcheck,
    make_counts,
    make_logits,
    make_target,
    make_weight,
    resolve_options,
    value_and_grad,
)
from longtail import functional as LF

WEIGHTINGS = {
    "inverse_frequency": R.inverse_frequency,
    "sqrt_inverse_frequency": lambda n: R.inverse_frequency(n, 0.5),
    "cost_sensitive": R.cost_sensitive,
    "effective_number": lambda n: R.effective_number_weights(n, 0.9999),
}


def _case(shape, options, gen, device="cpu", dtype=torch.float64):
    kw, ignore_index = resolve_options(options, shape, gen)
    x = make_logits(shape, gen, dtype, device)
    y = make_target(shape, gen, ignore_index=ignore_index, device=device)
    return x, y, kw


# -- 0. the oracle itself ---------------------------------------------------------------------


@pytest.mark.parametrize("options", OPTIONS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", SHAPES)
def test_reference_is_torch_cross_entropy(shape, reduction, options, gen):
    """The oracle's "weight" normalisation is exactly ``F.cross_entropy`` (value and grad)."""
    x, y, kw = _case(shape, options, gen)
    check_against_reference(
        lambda t: R.cross_entropy(t, y, reduction=reduction, **kw),
        lambda t: F.cross_entropy(t, y, reduction=reduction, **kw),
        x,
    )


# -- 1. value and gradient against the float64 oracle -------------------------------------------


@pytest.mark.parametrize("normalization", ["weight", "count"])
@pytest.mark.parametrize("options", OPTIONS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", SHAPES)
def test_vs_reference(shape, reduction, options, normalization, gen):
    x, y, kw = _case(shape, options, gen)
    if "weight" in kw:
        w = kw.pop("weight")
        pkg_kw = {"weight": w}
    else:
        counts = make_counts(shape[1], gen)
        pkg_kw, w = {"class_counts": counts}, R.inverse_frequency(counts)
    check_against_reference(
        lambda t: LF.weighted_cross_entropy(
            t, y, reduction=reduction, normalization=normalization, **pkg_kw, **kw
        ),
        lambda t: R.cross_entropy(
            t, y, weight=w, reduction=reduction, normalization=normalization, **kw
        ),
        x,
    )


@pytest.mark.parametrize("normalization", ["weight", "count"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighting", list(WEIGHTINGS))
@pytest.mark.parametrize("shape", [(9, 6), (3, 6, 2, 2)])
def test_weightings_vs_reference(shape, weighting, reduction, normalization, gen):
    x = make_logits(shape, gen)
    y = make_target(shape, gen, ignore_index=-100)
    counts = make_counts(shape[1], gen)
    check_against_reference(
        lambda t: LF.weighted_cross_entropy(
            t,
            y,
            counts,
            weighting=weighting,
            reduction=reduction,
            normalization=normalization,
            label_smoothing=0.1,
        ),
        lambda t: R.cross_entropy(
            t,
            y,
            weight=WEIGHTINGS[weighting](counts),
            reduction=reduction,
            normalization=normalization,
            label_smoothing=0.1,
        ),
        x,
    )


@pytest.mark.parametrize("beta", [0.0, 0.5, 0.99, 0.999999, 1.0])
def test_effective_number_beta_vs_reference(beta, gen):
    x, y = make_logits((12, 4), gen), make_target((12, 4), gen)
    counts = torch.tensor([1000.0, 100.0, 10.0, 1.0])
    check_against_reference(
        lambda t: LF.weighted_cross_entropy(t, y, counts, weighting="effective_number", beta=beta),
        lambda t: R.cross_entropy(t, y, weight=R.effective_number_weights(counts, beta)),
        x,
    )


# -- 2. special cases against torch itself ----------------------------------------------------


@pytest.mark.parametrize("options", OPTIONS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", [(8, 5), (4, 3, 2, 3)])
def test_explicit_weight_is_torch_cross_entropy(shape, reduction, options, gen):
    x, y, kw = _case(shape, options, gen)
    kw.setdefault("weight", make_weight(shape[1], gen))
    check_against_reference(
        lambda t: LF.weighted_cross_entropy(t, y, reduction=reduction, **kw),
        lambda t: F.cross_entropy(t, y, reduction=reduction, **kw),
        x,
    )


@pytest.mark.parametrize("weighting", list(WEIGHTINGS))
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_uniform_counts_is_plain_cross_entropy(weighting, reduction, gen):
    """Equal counts give equal weights; under torch's weighted mean that is plain CE."""
    x = make_logits((10, 4), gen)
    y = make_target((10, 4), gen, ignore_index=-100)
    out, g = value_and_grad(
        lambda t: LF.weighted_cross_entropy(t, y, [50, 50, 50, 50], weighting=weighting), x
    )
    ref, ref_g = value_and_grad(lambda t: F.cross_entropy(t, y), x)
    assert_close(out, ref, torch.float64)
    assert_close(g, ref_g, torch.float64)


def test_inverse_frequency_equals_cost_sensitive_under_weight_normalization(gen):
    """N/n_c and n_min/n_c give the same loss under torch's weighted mean and
    differ by the factor N/n_min when dividing by the count."""
    x, y = make_logits((16, 5), gen), make_target((16, 5), gen)
    counts = [400, 200, 50, 20, 5]

    def loss(weighting, normalization):
        return LF.weighted_cross_entropy(
            x, y, counts, weighting=weighting, normalization=normalization
        )

    assert_close(
        loss("inverse_frequency", "weight"), loss("cost_sensitive", "weight"), torch.float64
    )
    ratio = loss("inverse_frequency", "count") / loss("cost_sensitive", "count")
    assert_close(ratio, torch.tensor(sum(counts) / 5.0, dtype=torch.float64), torch.float64)


def test_count_normalization_is_sum_over_count(gen):
    x, y, kw = _case((11, 4), {"weight": True, "ignore_index": -100}, gen)
    n_valid = int((y != -100).sum())
    out, g = value_and_grad(
        lambda t: LF.weighted_cross_entropy(t, y, normalization="count", **kw), x
    )
    ref, ref_g = value_and_grad(lambda t: F.cross_entropy(t, y, reduction="sum", **kw) / n_valid, x)
    assert_close(out, ref, torch.float64)
    assert_close(g, ref_g, torch.float64)


# -- 3. gradcheck ------------------------------------------------------------------------------


# normalization="weight" (the default) with these options: test_loss_cases.py::test_gradcheck
@pytest.mark.parametrize("normalization", ["count"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", [(5, 4), (2, 3, 2, 2)])
def test_gradcheck(shape, reduction, normalization, gen):
    x, y, kw = _case(shape, OPTIONS[-1].values[0], gen)
    assert gradcheck(
        lambda t: LF.weighted_cross_entropy(
            t, y, reduction=reduction, normalization=normalization, **kw
        ),
        x,
    )


# -- 4. Module ----------------------------------------------------------------------------------


def test_module_weight_is_a_copy(gen):
    """The Module owns its weight: changing the caller's tensor later changes nothing."""
    w = make_weight(3, gen)
    module = longtail.WeightedCrossEntropyLoss(weight=w)
    x, y = make_logits((5, 3), gen), make_target((5, 3), gen)
    before = module(x, y)
    w.mul_(3.0).add_(1.0)
    torch.testing.assert_close(module(x, y), before, rtol=0, atol=0)


# -- 5. edge cases -----------------------------------------------------------------------------


def _check_empty(shape, reduction, label_smoothing):
    x = torch.zeros(shape, dtype=torch.float64)
    y = torch.zeros((shape[0], *shape[2:]), dtype=torch.long)
    w = torch.tensor([1.0, 2.0, 3.0, 4.0], dtype=torch.float64)
    kw = {"weight": w, "reduction": reduction, "label_smoothing": label_smoothing}
    out, g = value_and_grad(lambda t: LF.weighted_cross_entropy(t, y, **kw), x)
    ref, ref_g = value_and_grad(lambda t: F.cross_entropy(t, y, **kw), x)
    assert out.shape == ref.shape
    torch.testing.assert_close(out, ref, equal_nan=True)  # NaN for "mean", as 0/0 in torch
    assert g.shape == x.shape
    torch.testing.assert_close(g, ref_g, equal_nan=True)


@pytest.mark.parametrize("label_smoothing", [0.0, 0.2])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", [(0, 4), (0, 4, 3)], ids=["0x4", "0x4x3"])
def test_empty_batch_matches_torch(shape, reduction, label_smoothing):
    _check_empty(shape, reduction, label_smoothing)


def test_empty_trailing_dimension_matches_torch():
    """(N, C, 0) logits: no position to classify, as for N = 0 (every reduction)."""
    for reduction in REDUCTIONS:
        _check_empty((2, 4, 0), reduction, 0.0)


@pytest.mark.parametrize("label_smoothing", [0.0, 0.2])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_all_targets_ignored_matches_torch(reduction, label_smoothing, gen):
    x = make_logits((5, 3), gen)
    y = torch.full((5,), 7)
    kw = {
        "weight": make_weight(3, gen),
        "reduction": reduction,
        "ignore_index": 7,
        "label_smoothing": label_smoothing,
    }
    out, g = value_and_grad(lambda t: LF.weighted_cross_entropy(t, y, **kw), x)
    ref, ref_g = value_and_grad(lambda t: F.cross_entropy(t, y, **kw), x)
    torch.testing.assert_close(out, ref, equal_nan=True)
    torch.testing.assert_close(g, torch.zeros_like(x), rtol=0, atol=0)
    torch.testing.assert_close(ref_g, torch.zeros_like(x), rtol=0, atol=0)


@pytest.mark.parametrize("dtype_", [torch.float64, torch.float32])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_extreme_logits(reduction, dtype_, gen):
    """Logits of ±100 stay finite and match the oracle (no overflow in exp)."""
    shape = (6, 5)
    x = torch.where(torch.rand(shape, generator=gen) < 0.5, -100.0, 100.0).to(dtype_)
    x[0] = 100.0
    y = make_target(shape, gen)
    kw = {"weight": make_weight(5, gen), "label_smoothing": 0.1, "reduction": reduction}
    out, g = value_and_grad(lambda t: LF.weighted_cross_entropy(t, y, **kw), x)
    assert torch.isfinite(out).all() and torch.isfinite(g).all()
    check_against_reference(
        lambda t: LF.weighted_cross_entropy(t, y, **kw),
        lambda t: R.cross_entropy(t, y, **kw),
        x,
    )


def test_zero_count_class_gets_zero_weight(gen):
    """Documented policy (weights.py): a zero-count class has weight 0, not inf; the loss of
    the other classes stays finite and equals CE with that weight."""
    counts = [100, 0, 10]
    x = make_logits((8, 3), gen)
    y = torch.tensor([0, 2, 0, 2, 2, 0, 0, 2])
    w = torch.tensor([110 / 100, 0.0, 110 / 10], dtype=torch.float64)
    out, g = value_and_grad(lambda t: LF.weighted_cross_entropy(t, y, counts), x)
    ref, ref_g = value_and_grad(lambda t: F.cross_entropy(t, y, weight=w), x)
    assert_close(out, ref, torch.float64)
    assert_close(g, ref_g, torch.float64)


@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
def test_non_finite_logits_match_torch(label_smoothing, gen):
    """NaN / ±inf logits poison only their own row, exactly as in ``F.cross_entropy`` (values
    and gradients, NaN where torch has NaN)."""
    x = make_logits((6, 4), gen)
    x[1, 2] = float("nan")
    x[3, 0] = float("inf")
    x[4, 1] = float("-inf")
    y = torch.tensor([0, 1, 2, 3, 1, 0])
    w = make_weight(4, gen)
    kw = {"weight": w, "label_smoothing": label_smoothing, "reduction": "none"}
    out, g = value_and_grad(lambda t: LF.weighted_cross_entropy(t, y, **kw), x)
    ref, ref_g = value_and_grad(lambda t: F.cross_entropy(t, y, **kw), x)
    torch.testing.assert_close(out, ref, equal_nan=True, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(g, ref_g, equal_nan=True, rtol=1e-12, atol=1e-12)
    assert torch.isfinite(out[[0, 2, 5]]).all()


@pytest.mark.parametrize("target_dtype", [torch.int32, torch.int16, torch.int8, torch.uint8])
def test_integer_target_dtypes(target_dtype, gen):
    x = make_logits((6, 5, 2), gen)
    y = make_target((6, 5, 2), gen)
    w = make_weight(5, gen)
    ref = LF.weighted_cross_entropy(x, y, weight=w, reduction="none")
    out = LF.weighted_cross_entropy(x, y.to(target_dtype), weight=w, reduction="none")
    torch.testing.assert_close(out, ref, rtol=0, atol=0)


def test_segmentation_ignore_index_255(gen):
    """The segmentation convention: label 255 (≥ C) marks void pixels."""
    x = make_logits((2, 5, 4, 3), gen)
    y = make_target((2, 5, 4, 3), gen, ignore_index=255)
    w = make_weight(5, gen)
    for reduction in REDUCTIONS:
        check_against_reference(
            lambda t, r=reduction: LF.weighted_cross_entropy(
                t, y, weight=w, ignore_index=255, reduction=r
            ),
            lambda t, r=reduction: F.cross_entropy(t, y, weight=w, ignore_index=255, reduction=r),
            x,
        )


@pytest.mark.parametrize("fdtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("shift", [300.0, 695.0, -700.0])
def test_shift_invariance_of_confident_rows(shift, fdtype):
    """Softmax CE is invariant to adding a constant to a row. With a shift that is exact in the
    logits' dtype, the per-sample losses of confident predictions (CE ≈ 1e-4) must not change by
    more than the rounding of the loss itself — torch's F.cross_entropy gives identical values:
    the loss must not be formed as ``(max + log Σ) − z_y`` at the magnitude of the logits.
    Also checked through the focal loss, where γ amplifies the relative error."""
    rtol = 2e-3 if fdtype == torch.float32 else 1e-12
    base = torch.tensor([[5.0, -5.0, -5.0], [2.0, -8.0, -9.0], [0.0, -11.0, -7.5]], dtype=fdtype)
    y = torch.tensor([0, 0, 0])
    shifted = base + shift
    assert torch.equal(shifted - shift, base)  # the shift is exact
    # torch itself meets the bound
    torch.testing.assert_close(
        F.cross_entropy(shifted, y, reduction="none"),
        F.cross_entropy(base, y, reduction="none"),
        rtol=rtol,
        atol=0,
    )
    w = torch.ones(3, dtype=fdtype)
    a = LF.weighted_cross_entropy(base, y, weight=w, reduction="none")
    b = LF.weighted_cross_entropy(shifted, y, weight=w, reduction="none")
    torch.testing.assert_close(b, a, rtol=rtol, atol=0)
    # focal γ = 2 is ≈ L³ here: three times the relative error of L
    a = LF.focal_loss(base, y, gamma=2.0, reduction="none")
    b = LF.focal_loss(shifted, y, gamma=2.0, reduction="none")
    torch.testing.assert_close(b, a, rtol=3 * rtol, atol=0)
