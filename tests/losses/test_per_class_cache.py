"""The per-class tensors derived from a tensor argument (``log n``, LDAM margins, class weights)
are kept while that tensor lives and reused while it is unchanged: every change of the tensor,
of the input's dtype or of C must still take effect on the next call, and the cache must never
keep a tensor alive."""

from __future__ import annotations

import gc
import weakref

import longtail
import longtail.functional as LF
import pytest
import torch
import torch.nn.functional as F
from longtail.losses import _common

COUNTS = [500.0, 120.0, 40.0, 9.0, 2.0]


def _inputs(c: int = 5, dtype=torch.float64):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(8, c, generator=g, dtype=dtype)
    y = torch.randint(0, c, (8,), generator=g)
    return x, y


def _balanced_softmax_reference(x, y, counts):
    counts = torch.as_tensor(counts, dtype=torch.float64)
    return F.cross_entropy(x.double() + counts.log(), y)


def test_in_place_change_of_the_counts_tensor_takes_effect():
    x, y = _inputs()
    counts = torch.tensor(COUNTS, dtype=torch.float64)
    first = LF.balanced_softmax_loss(x, y, counts)
    torch.testing.assert_close(first, _balanced_softmax_reference(x, y, COUNTS))
    counts.mul_(torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0], dtype=torch.float64))
    second = LF.balanced_softmax_loss(x, y, counts)
    assert not torch.equal(first, second)
    torch.testing.assert_close(second, _balanced_softmax_reference(x, y, counts))


def test_swapped_storage_takes_effect():
    """``t.data = ...`` swaps the values without bumping the version counter."""
    x, y = _inputs()
    counts = torch.tensor(COUNTS, dtype=torch.float64)
    LF.ldam_loss(x, y, counts)
    counts.data = torch.tensor(COUNTS[::-1], dtype=torch.float64)
    torch.testing.assert_close(LF.ldam_loss(x, y, counts), LF.ldam_loss(x, y, COUNTS[::-1]))


def test_another_input_dtype_and_other_scalars_are_not_served_stale():
    x, y = _inputs()
    counts = torch.tensor(COUNTS, dtype=torch.float64)
    a = LF.logit_adjusted_loss(x, y, counts, tau=1.0)
    b = LF.logit_adjusted_loss(x, y, counts, tau=0.5)
    assert not torch.allclose(a, b)
    torch.testing.assert_close(b, LF.logit_adjusted_loss(x, y, list(COUNTS), tau=0.5))
    a32 = LF.logit_adjusted_loss(x.float(), y, counts, tau=1.0)
    assert a32.dtype == torch.float32
    torch.testing.assert_close(a32, a.float())
    w = LF.weighted_cross_entropy(x, y, counts, weighting="inverse_frequency")
    e = LF.weighted_cross_entropy(x, y, counts, weighting="effective_number", beta=0.99)
    torch.testing.assert_close(
        e, F.cross_entropy(x, y, weight=longtail.weights.effective_number(COUNTS, 0.99).double())
    )
    torch.testing.assert_close(
        w, F.cross_entropy(x, y, weight=longtail.weights.inverse_frequency(COUNTS).double())
    )


def test_the_number_of_classes_is_checked_on_every_call():
    counts = torch.tensor(COUNTS, dtype=torch.float64)
    loss = longtail.BalancedSoftmaxLoss(counts)
    x, y = _inputs(5)
    loss(x, y)
    LF.balanced_softmax_loss(x, y, counts)
    x4, y4 = _inputs(4)
    with pytest.raises(ValueError, match="5 classes"):
        loss(x4, y4)
    with pytest.raises(ValueError, match="class_counts"):
        LF.balanced_softmax_loss(x4, y4, counts)


def test_an_assigned_weight_is_checked_when_it_changes():
    loss = longtail.LDAMLoss(COUNTS)
    x, y = _inputs()
    loss(x, y)
    loss.weight = torch.ones(5, dtype=torch.float64)
    torch.testing.assert_close(loss(x, y), LF.ldam_loss(x, y, COUNTS, weight=torch.ones(5)))
    with torch.no_grad():
        loss.weight[2] = -1.0
    with pytest.raises(ValueError, match="weight"):
        loss(x, y)
    loss.weight = torch.ones(3)
    with pytest.raises(ValueError, match="weight"):
        loss(x, y)


def test_the_cache_keeps_no_tensor_alive():
    x, y = _inputs()
    gc.collect()
    before = len(_common._DERIVED)
    counts = torch.tensor(COUNTS, dtype=torch.float64)
    weight = torch.ones(5)  # float32 for float32 input: the kernel takes it as it is
    LF.balanced_softmax_loss(x.float(), y, counts, weight=weight)
    LF.focal_loss(x, y, alpha=counts)
    assert len(_common._DERIVED) == before + 3
    refs = [weakref.ref(counts), weakref.ref(weight)]
    del counts, weight
    gc.collect()
    assert all(r() is None for r in refs)
    assert len(_common._DERIVED) == before


def test_inference_mode_and_no_grad_tensors():
    x, y = _inputs()
    with torch.inference_mode():
        counts = torch.tensor(COUNTS, dtype=torch.float64)
        inside = LF.balanced_softmax_loss(x, y, counts)
    torch.testing.assert_close(LF.balanced_softmax_loss(x, y, counts), inside)
    torch.testing.assert_close(inside, _balanced_softmax_reference(x, y, COUNTS))


def test_a_module_buffer_shared_with_a_functional_call():
    """The same tensor as a Module's buffer source and a functional argument: both right."""
    counts = torch.tensor(COUNTS, dtype=torch.float64)
    loss = longtail.ClassBalancedLoss(counts, beta=0.99)
    x, y = _inputs()
    torch.testing.assert_close(loss(x, y), LF.class_balanced_loss(x, y, counts, beta=0.99))
    torch.testing.assert_close(
        LF.class_balanced_loss(x, y, counts, beta=0.9),
        LF.class_balanced_loss(x, y, list(COUNTS), beta=0.9),
    )


@pytest.mark.parametrize(
    ("attribute", "value", "error", "message"),
    [
        ("reduction", "avg", ValueError, "reduction"),
        ("reduction", None, ValueError, "reduction"),
        ("label_smoothing", 1.5, ValueError, "label_smoothing"),
        ("label_smoothing", float("nan"), ValueError, "label_smoothing"),
        ("label_smoothing", True, TypeError, "label_smoothing"),
        ("ignore_index", 1.0, TypeError, "ignore_index"),
        ("ignore_index", 1 << 63, ValueError, "ignore_index"),
        ("normalization", "rows", ValueError, "normalization"),
    ],
)
def test_options_reassigned_after_construction_are_checked(attribute, value, error, message):
    """The Modules test their options cheaply on each call and check them fully when the cheap
    test fails: a value assigned after construction gets the constructor's error."""
    x, y = _inputs()
    loss = longtail.WeightedCrossEntropyLoss(COUNTS)
    setattr(loss, attribute, value)
    with pytest.raises(error, match=message):
        loss(x, y)


@pytest.mark.parametrize(
    ("value", "error"), [(-1.0, ValueError), (float("inf"), ValueError), ("2", TypeError)]
)
def test_a_reassigned_focal_gamma_is_checked(value, error):
    x, y = _inputs()
    loss = longtail.FocalLoss(gamma=2.0)
    loss.gamma = value
    with pytest.raises(error, match="gamma"):
        loss(x, y)
    loss.gamma = 1  # an int is a valid exponent
    torch.testing.assert_close(loss(x, y), LF.focal_loss(x, y, gamma=1.0))


@pytest.mark.parametrize("bad", [5, -3])
def test_seesaw_counts_nothing_from_a_batch_it_rejects(bad):
    """Out-of-range labels: the kernel raises after the NumPy label count, and the state stays
    as it was."""
    loss = longtail.SeesawLoss(num_classes=5)
    x, y = _inputs()
    loss(x, y)
    before = loss.cum_samples.clone()
    y = y.clone()
    y[3] = bad
    with pytest.raises(IndexError, match="target"):
        loss(x, y)
    assert torch.equal(loss.cum_samples, before)
