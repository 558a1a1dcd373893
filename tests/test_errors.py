"""Bad input raises the documented exception class with a message naming the argument, through
the functional API, the Modules and the binding (every ``CoreError`` variant)."""

from __future__ import annotations

import math

import longtail
import numpy as np
import pytest
import torch
from _testing import CPU_BACKENDS
from longtail import _kernels
from longtail import functional as LF
from longtail import weights as LW
from longtail.exceptions import (
    DTypeError,
    InvalidArgumentError,
    OutOfRangeError,
    ShapeError,
)

COUNTS = [50, 10, 2]

#: Every loss as a two-argument callable (functional and Module forms) over 3 classes.
LOSSES = {
    "weighted_cross_entropy": lambda x, y, **kw: LF.weighted_cross_entropy(x, y, COUNTS, **kw),
    "focal_loss": lambda x, y, **kw: LF.focal_loss(x, y, **kw),
    "class_balanced_loss": lambda x, y, **kw: LF.class_balanced_loss(x, y, COUNTS, **kw),
    "ldam_loss": lambda x, y, **kw: LF.ldam_loss(x, y, COUNTS, **kw),
    "logit_adjusted_loss": lambda x, y, **kw: LF.logit_adjusted_loss(x, y, COUNTS, **kw),
    "balanced_softmax_loss": lambda x, y, **kw: LF.balanced_softmax_loss(x, y, COUNTS, **kw),
    "WeightedCrossEntropyLoss": lambda x, y, **kw: longtail.WeightedCrossEntropyLoss(COUNTS, **kw)(
        x, y
    ),
    "FocalLoss": lambda x, y, **kw: longtail.FocalLoss(**kw)(x, y),
    "ClassBalancedLoss": lambda x, y, **kw: longtail.ClassBalancedLoss(COUNTS, **kw)(x, y),
    "LDAMLoss": lambda x, y, **kw: longtail.LDAMLoss(COUNTS, **kw)(x, y),
    "LogitAdjustedLoss": lambda x, y, **kw: longtail.LogitAdjustedLoss(COUNTS, **kw)(x, y),
    "BalancedSoftmaxLoss": lambda x, y, **kw: longtail.BalancedSoftmaxLoss(COUNTS, **kw)(x, y),
}
ALL = pytest.mark.parametrize("loss", list(LOSSES.values()), ids=list(LOSSES))

#: The losses built from class counts, with a counts argument.
COUNTED = {
    "weighted_cross_entropy": lambda x, y, c: LF.weighted_cross_entropy(x, y, c),
    "class_balanced_loss": lambda x, y, c: LF.class_balanced_loss(x, y, c),
    "ldam_loss": lambda x, y, c: LF.ldam_loss(x, y, c),
    "logit_adjusted_loss": lambda x, y, c: LF.logit_adjusted_loss(x, y, c),
    "balanced_softmax_loss": lambda x, y, c: LF.balanced_softmax_loss(x, y, c),
    "WeightedCrossEntropyLoss": lambda x, y, c: longtail.WeightedCrossEntropyLoss(c)(x, y),
    "ClassBalancedLoss": lambda x, y, c: longtail.ClassBalancedLoss(c)(x, y),
    "LDAMLoss": lambda x, y, c: longtail.LDAMLoss(c)(x, y),
    "LogitAdjustedLoss": lambda x, y, c: longtail.LogitAdjustedLoss(c)(x, y),
    "BalancedSoftmaxLoss": lambda x, y, c: longtail.BalancedSoftmaxLoss(c)(x, y),
}
COUNTED_ALL = pytest.mark.parametrize("loss", list(COUNTED.values()), ids=list(COUNTED))


@pytest.fixture
def xy():
    g = torch.Generator().manual_seed(0)
    return torch.randn(4, 3, generator=g, dtype=torch.float64), torch.tensor([0, 1, 2, 0])


# -- input and target ----------------------------------------------------------------------


@ALL
def test_input_without_class_dim(loss):
    """A 1-D or 0-D logits tensor is a ValueError about ``input``'s shape (not a complaint
    about the target)."""
    for shape in [(3,), ()]:
        x = torch.zeros(shape)
        y = torch.zeros(shape[:1], dtype=torch.long)
        with pytest.raises(ValueError, match=r"input should have shape \(N, C\)"):
            loss(x, y)


@ALL
@pytest.mark.parametrize("target_shape", [(5,), (4, 1), ()], ids=["N+1", "N,1", "scalar"])
def test_target_of_wrong_shape(loss, target_shape, xy):
    x, _ = xy
    with pytest.raises(ValueError, match=r"target should have shape \(4,\)"):
        loss(x, torch.zeros(target_shape, dtype=torch.long))


@ALL
def test_target_of_wrong_trailing_shape(loss):
    x = torch.zeros(2, 3, 4, 5)
    with pytest.raises(ValueError, match="target should have shape"):
        loss(x, torch.zeros(2, 5, 4, dtype=torch.long))


@ALL
@pytest.mark.parametrize("bad_dtype", [torch.float32, torch.float64, torch.bool])
def test_float_or_bool_target(loss, bad_dtype, xy):
    x, y = xy
    with pytest.raises(TypeError, match="target should be an integer tensor"):
        loss(x, y.to(bad_dtype))


@ALL
@pytest.mark.parametrize("bad_dtype", [torch.int64, torch.int32, torch.bool])
def test_non_float_input(loss, bad_dtype, xy):
    x, y = xy
    with pytest.raises(TypeError, match="input should be a floating-point tensor"):
        loss(x.to(bad_dtype), y)


@ALL
def test_input_not_a_tensor(loss, xy):
    x, y = xy
    with pytest.raises(TypeError, match=r"input should be a torch\.Tensor"):
        loss(x.tolist(), y)


@ALL
@pytest.mark.parametrize("bad", [3, 17, -1, -101, 255])
def test_target_out_of_range(loss, bad, xy):
    x, _ = xy
    y = torch.tensor([0, bad, 2, 0])
    with pytest.raises(
        OutOfRangeError,
        match=rf"target should contain class indices in \[0, 3\)"
        rf".*target={bad} at position 1",
    ):
        loss(x, y)
    with pytest.raises(IndexError, match="target"):
        loss(x, y)


@ALL
def test_target_out_of_range_with_trailing_dims(loss):
    x = torch.zeros(2, 3, 2)
    y = torch.tensor([[0, 1], [2, 5]])
    with pytest.raises(OutOfRangeError, match="target=5"):
        loss(x, y)


@ALL
@pytest.mark.parametrize("ignore_index", [-7, 255])
def test_ignore_index_is_exempt_from_the_range_check(loss, ignore_index, xy):
    x, _ = xy
    out = loss(x, torch.tensor([0, ignore_index, 2, 0]), ignore_index=ignore_index)
    assert torch.isfinite(out)


# -- reduction, label smoothing ------------------------------------------------------------


@ALL
@pytest.mark.parametrize("reduction", ["avg", "elementwise_mean", "", "MEAN", None])
def test_unknown_reduction(loss, reduction, xy):
    with pytest.raises(ValueError, match="reduction should be one of 'none', 'mean', 'sum'"):
        loss(*xy, reduction=reduction)


@ALL
@pytest.mark.parametrize("value", [-0.1, 1.5, math.nan, math.inf])
def test_label_smoothing_out_of_range(loss, value, xy):
    with pytest.raises(ValueError, match="label_smoothing"):
        loss(*xy, label_smoothing=value)


# -- class counts --------------------------------------------------------------------------


@COUNTED_ALL
@pytest.mark.parametrize(
    ("counts", "fragment"),
    [
        ([50, -1, 2], r"class_counts should be non-negative, but got class_counts\[1\]=-1"),
        ([50, math.nan, 2], "class_counts should be finite"),
        ([50, math.inf, 2], "class_counts should be finite"),
        ([0, 0, 0], "class_counts should have a positive total"),
        ([], "class_counts should be a non-empty 1-D"),
        ([[50, 10, 2]], "class_counts should be a non-empty 1-D"),
        (torch.tensor([50.0, -3.0, 2.0]), "class_counts should be non-negative"),
        (np.array([50.0, np.nan, 2.0]), "class_counts should be finite"),
    ],
    ids=["negative", "nan", "inf", "all-zero", "empty", "2-D", "tensor-negative", "numpy-nan"],
)
def test_bad_class_counts(loss, counts, fragment, xy):
    with pytest.raises(ValueError, match=fragment):
        loss(*xy, counts)


@COUNTED_ALL
@pytest.mark.parametrize("counts", [[50, 10], [50, 10, 2, 1]], ids=["short", "long"])
def test_class_counts_of_wrong_length(loss, counts, xy):
    with pytest.raises(ValueError, match="class_counts"):
        loss(*xy, counts)


@COUNTED_ALL
@pytest.mark.parametrize("counts", [None, "abc", [1, "x", 2]], ids=["None", "str", "mixed"])
def test_class_counts_of_wrong_type(loss, counts, xy):
    if counts is None and loss in (
        COUNTED["weighted_cross_entropy"],
        COUNTED["WeightedCrossEntropyLoss"],
    ):
        # class_counts is optional there (give weight instead): None means "not given"
        with pytest.raises(ValueError, match="exactly one of class_counts or weight"):
            loss(*xy, counts)
        return
    with pytest.raises(TypeError, match="class_counts"):
        loss(*xy, counts)


# -- loss-specific arguments ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "exc", "fragment"),
    [
        (lambda x, y: LF.focal_loss(x, y, gamma=-0.5), ValueError, "gamma should be >= 0"),
        (lambda x, y: LF.focal_loss(x, y, gamma=math.nan), ValueError, "gamma should be finite"),
        (lambda x, y: LF.focal_loss(x, y, gamma="2"), TypeError, "gamma"),
        (lambda x, y: longtail.FocalLoss(gamma=-1.0), ValueError, "gamma"),
        (lambda x, y: LF.class_balanced_loss(x, y, COUNTS, gamma=-1.0), ValueError, "gamma"),
        (lambda x, y: longtail.ClassBalancedLoss(COUNTS, gamma=-1.0), ValueError, "gamma"),
        (
            lambda x, y: LF.focal_loss(x, y, alpha=[1.0, 2.0]),
            ValueError,
            r"alpha should have shape \(3,\)",
        ),
        (
            lambda x, y: LF.focal_loss(x, y, weight=torch.ones(4)),
            ValueError,
            r"weight should have shape \(3,\)",
        ),
        (
            lambda x, y: LF.focal_loss(x, y, alpha=[1.0, math.nan, 1.0]),
            ValueError,
            "alpha should be finite",
        ),
        (
            lambda x, y: LF.weighted_cross_entropy(x, y, weight=torch.tensor([1.0, math.inf, 1.0])),
            ValueError,
            "weight should be finite",
        ),
        (
            lambda x, y: LF.weighted_cross_entropy(x, y, weight=torch.ones(2)),
            ValueError,
            "weight should have shape",
        ),
        (
            lambda x, y: LF.ldam_loss(x, y, COUNTS, weight=torch.ones(5)),
            ValueError,
            "weight should have shape",
        ),
        (
            lambda x, y: LF.class_balanced_loss(x, y, COUNTS, loss_type="bogus"),
            ValueError,
            "loss_type should be one of",
        ),
        (
            lambda x, y: longtail.ClassBalancedLoss(COUNTS, loss_type="Softmax"),
            ValueError,
            "loss_type",
        ),
        (
            lambda x, y: LF.weighted_cross_entropy(x, y, COUNTS, weighting="bogus"),
            ValueError,
            "weighting should be one of",
        ),
        (
            lambda x, y: longtail.WeightedCrossEntropyLoss(COUNTS, weighting="inverse"),
            ValueError,
            "weighting",
        ),
        (
            lambda x, y: LF.weighted_cross_entropy(x, y, COUNTS, normalization="N"),
            ValueError,
            "normalization",
        ),
        (
            lambda x, y: LF.class_balanced_loss(x, y, COUNTS, normalization="N"),
            ValueError,
            "normalization",
        ),
        (
            lambda x, y: longtail.WeightedCrossEntropyLoss(COUNTS, normalization="N"),
            ValueError,
            "normalization",
        ),
        (
            lambda x, y: LF.weighted_cross_entropy(x, y),
            ValueError,
            "exactly one of class_counts or weight",
        ),
        (
            lambda x, y: LF.weighted_cross_entropy(x, y, COUNTS, weight=torch.ones(3)),
            ValueError,
            "exactly one of class_counts or weight",
        ),
        (
            lambda x, y: longtail.WeightedCrossEntropyLoss(),
            ValueError,
            "exactly one of class_counts or weight",
        ),
        (
            lambda x, y: LF.class_balanced_loss(x, y, COUNTS, beta=1.5),
            ValueError,
            "beta should be <= 1",
        ),
        (
            lambda x, y: LF.class_balanced_loss(x, y, COUNTS, beta=-0.1),
            ValueError,
            "beta should be >= 0",
        ),
        (lambda x, y: longtail.ClassBalancedLoss(COUNTS, beta=math.nan), ValueError, "beta"),
        (
            lambda x, y: LF.weighted_cross_entropy(
                x, y, COUNTS, weighting="effective_number", beta=2.0
            ),
            ValueError,
            "beta",
        ),
        (
            lambda x, y: LF.logit_adjusted_loss(x, y, COUNTS, tau=math.nan),
            ValueError,
            "tau should be finite",
        ),
        (
            lambda x, y: LF.logit_adjusted_loss(x, y, COUNTS, tau=math.inf),
            ValueError,
            "tau should be finite",
        ),
        (
            lambda x, y: LF.logit_adjusted_loss(x, y, COUNTS, tau=-math.inf),
            ValueError,
            "tau should be finite",
        ),
        (lambda x, y: LF.logit_adjustments(COUNTS, tau=math.inf), ValueError, "tau"),
        (lambda x, y: longtail.LogitAdjustedLoss(COUNTS, tau=math.nan), ValueError, "tau"),
        (lambda x, y: LF.logit_adjust(x, COUNTS, tau=math.inf), ValueError, "tau"),
        (lambda x, y: LF.logit_adjust(x, [1, 2]), ValueError, "class_counts"),
        (lambda x, y: LF.logit_adjust(x.long(), COUNTS), TypeError, "logits"),
        (
            lambda x, y: LF.ldam_loss(x, y, COUNTS, max_margin=-0.1),
            ValueError,
            "max_margin should be >= 0",
        ),
        (lambda x, y: LF.ldam_margins(COUNTS, max_margin=math.inf), ValueError, "max_margin"),
        (lambda x, y: LF.ldam_loss(x, y, COUNTS, scale=0.0), ValueError, "scale should be > 0"),
        (lambda x, y: longtail.LDAMLoss(COUNTS, scale=-30.0), ValueError, "scale"),
        (lambda x, y: longtail.FocalLoss(reduction="avg"), ValueError, "reduction"),
        (
            lambda x, y: longtail.LDAMLoss(COUNTS, label_smoothing=2.0),
            ValueError,
            "label_smoothing",
        ),
    ],
)
def test_bad_argument(call, exc, fragment, xy):
    with pytest.raises(exc, match=fragment):
        call(*xy)


@pytest.mark.parametrize(
    ("call", "exc", "fragment"),
    [
        (lambda: LW.inverse_frequency(COUNTS, power=-1.0), ValueError, "power"),
        (lambda: LW.inverse_frequency([1, -2]), ValueError, "class_counts"),
        (lambda: LW.cost_sensitive([math.nan, 1]), ValueError, "class_counts"),
        (lambda: LW.effective_number(COUNTS, beta=1.01), ValueError, "beta"),
        (lambda: LW.effective_number([0, 0]), ValueError, "class_counts"),
        (lambda: LW.drw(COUNTS, -1), ValueError, "epoch"),
        (lambda: LW.drw(COUNTS, 1.5), TypeError, "epoch should be an integer"),
        (lambda: LW.drw(COUNTS, 10, start_epoch=-5), ValueError, "start_epoch"),
        (lambda: LW.drw(COUNTS, 200, beta=3.0), ValueError, "beta"),
    ],
)
def test_bad_weights_argument(call, exc, fragment):
    with pytest.raises(exc, match=fragment):
        call()


# -- the binding: every CoreError variant surfaces as its documented class ------------------


@pytest.mark.parametrize("backend", CPU_BACKENDS)
@pytest.mark.parametrize(
    ("kwargs", "exc", "builtin", "fragment"),
    [
        ({"input": torch.zeros(3)}, ShapeError, ValueError, "input should have shape"),
        (
            {"target": torch.zeros(5, dtype=torch.long)},
            ShapeError,
            ValueError,
            "target should have shape",
        ),
        (
            {"weight": torch.ones(2, dtype=torch.float64)},
            ShapeError,
            ValueError,
            "weight should have shape",
        ),
        ({"offsets": torch.zeros(4, dtype=torch.float64)}, ShapeError, ValueError, "offsets"),
        ({"margins": torch.zeros(1, dtype=torch.float64)}, ShapeError, ValueError, "margins"),
        ({"alpha": torch.ones(2, 3, dtype=torch.float64)}, ShapeError, ValueError, "alpha"),
        ({"input": torch.zeros(4, 0)}, ShapeError, ValueError, "input should have at least one"),
        ({"input": torch.zeros(4, 3, dtype=torch.long)}, DTypeError, TypeError, "input"),
        ({"input": torch.zeros(4, 3, dtype=torch.float16)}, DTypeError, TypeError, "input"),
        ({"target": torch.zeros(4)}, DTypeError, TypeError, "target"),
        ({"target": torch.tensor([0, 1, 3, 0])}, OutOfRangeError, IndexError, "target=3"),
        ({"reduction": "avg"}, InvalidArgumentError, ValueError, "reduction"),
        ({"normalization": "N"}, InvalidArgumentError, ValueError, "normalization"),
    ],
    ids=[
        "input-1d",
        "target-shape",
        "weight-shape",
        "offsets-shape",
        "margins-shape",
        "alpha-2d",
        "zero-classes",
        "int-input",
        "half-input",
        "float-target",
        "out-of-range",
        "reduction",
        "normalization",
    ],
)
def test_core_errors(kwargs, exc, builtin, fragment, backend):
    """``_core.softmax_loss`` maps each failure to its class on both paths (the tch path is the
    one CUDA tensors take)."""
    args = {"input": torch.zeros(4, 3, dtype=torch.float64), "target": torch.tensor([0, 1, 2, 0])}
    args.update(kwargs)
    x, y = args.pop("input"), args.pop("target")
    with pytest.raises(exc, match=fragment) as info:
        _kernels.softmax_loss(x, y, backend=backend, **args)
    assert isinstance(info.value, builtin)


def test_core_unknown_backend():
    with pytest.raises(InvalidArgumentError, match="backend"):
        _kernels.softmax_loss(torch.zeros(2, 3), torch.tensor([0, 1]), backend="gpu")


def test_no_panic_escapes_for_degenerate_shapes():
    """Degenerate shapes raise a documented error or return a value, never a Rust panic
    (``pyo3_runtime.PanicException`` derives from BaseException and escapes ``except
    Exception``)."""
    shapes = [(0, 3), (0, 3, 2), (2, 3, 0), (0, 1), (1, 1, 1, 1)]
    for shape in shapes:
        x = torch.zeros(shape, dtype=torch.float64)
        y = torch.zeros((shape[0], *shape[2:]), dtype=torch.long)
        for backend in CPU_BACKENDS:
            for reduction in ("none", "mean", "sum"):
                try:
                    _kernels.softmax_loss(x, y, backend=backend, reduction=reduction)
                except Exception:
                    pass
                except BaseException as err:  # a panic
                    pytest.fail(f"shape {shape}, {backend}, {reduction}: {type(err)} {err}")
