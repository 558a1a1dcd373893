"""The torch-op fallback (``longtail._fallback``) against the Rust CPU kernel, family by family:
values, gradients and statistics over a grid that covers every argument, in float64 (tight) and
float32, the kernel's error messages on the CPU, and (with a GPU) the CUDA path under
``torch.cuda.set_sync_debug_mode("error")``."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import textwrap

import longtail
import pytest
import torch
from longtail import _fallback
from longtail.exceptions import InvalidArgumentError, OutOfRangeError
from torch import Tensor

from tests._testing import requires_cuda


def kernel(name: str, *args, **kw):
    """The Rust CPU kernel of a loss family (the one place that names the dispatch module)."""
    return getattr(longtail._kernels, name)(*args, **kw, backend="kernel")


DTYPES = [pytest.param(torch.float64, id="f64"), pytest.param(torch.float32, id="f32")]
TOL = {torch.float64: {"rtol": 1e-10, "atol": 1e-12}, torch.float32: {"rtol": 1e-5, "atol": 1e-6}}
REDUCTIONS = ["none", "mean", "sum"]


def _storage(t: Tensor) -> int | None:
    return t.untyped_storage().data_ptr() if t.numel() > 0 else None


def assert_same_outputs(got: tuple, want: tuple, inputs: list, dtype: torch.dtype) -> None:
    """Same number of outputs, each of the kernel's shape and dtype, equal within the dtype's
    tolerance (NaN where the kernel has NaN), on the input's device, aliasing nothing."""
    assert len(got) == len(want)
    device = inputs[0].device
    for g, w in zip(got, want, strict=True):
        assert g.shape == w.shape and g.dtype == w.dtype and g.device == device
        assert not g.requires_grad
        torch.testing.assert_close(g.cpu(), w.cpu(), equal_nan=True, **TOL[dtype])
    taken = [_storage(t) for t in inputs if isinstance(t, Tensor)]
    for g in got:
        ptr = _storage(g)
        assert ptr is None or ptr not in taken, "an output aliases an input or another output"
        taken.append(ptr)


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# --------------------------------------------------------------------------------------------
# Softmax family.

#: Every argument of the softmax family, alone and combined; "ignore" values are class indices
#: (1 is a valid class) or the default -100.
SOFTMAX_CASES = {
    "plain": {},
    "offsets": {"offsets": True},
    "margins_scale": {"margins": True, "scale": 30.0},
    "weight": {"weight": True},
    "alpha_gamma2": {"alpha": True, "gamma": 2.0},
    "gamma_half": {"gamma": 0.5},
    "gamma_1.7_weight_smooth": {"gamma": 1.7, "weight": True, "label_smoothing": 0.2},
    "smooth": {"label_smoothing": 0.15},
    "smooth_zero_weight": {"weight": "zero", "label_smoothing": 0.3},
    "ignore_default": {"ignore": -100},
    "ignore_valid_class": {"ignore": 1, "weight": True},
    "count_norm": {"weight": True, "normalization": "count", "ignore": -100},
    "avg_factor": {"avg_factor": 3.5, "weight": True},
    "avg_factor_zero": {"avg_factor": 0.0},
    "everything": {
        "offsets": True,
        "margins": True,
        "scale": 2.5,
        "weight": True,
        "alpha": True,
        "gamma": 1.3,
        "label_smoothing": 0.1,
        "ignore": 0,
        "normalization": "count",
    },
}
SOFTMAX_SHAPES = {
    "8x5": (8, 5),
    "6x1": (6, 1),
    "4x3x2x3": (4, 3, 2, 3),
    "70x7": (70, 7),
    "empty": (0, 4),
    "empty_trailing": (3, 4, 0),
}


def softmax_args(case: dict, shape: tuple, dtype: torch.dtype, seed: int = 0):
    """Logits, targets (with ignored entries when the case says so) and keyword arguments."""
    g = _gen(seed)
    n, c, *rest = shape
    x = (torch.randn(shape, generator=g, dtype=torch.float64) * 3).to(dtype)
    y = torch.randint(0, c, (n, *rest), generator=g)
    ignore = case.get("ignore", -100)
    if "ignore" in case and y.numel() > 1:
        mask = torch.rand(y.shape, generator=g) < 0.3
        mask.view(-1)[0] = True
        y = torch.where(mask, torch.full_like(y, ignore), y)

    def per_class(kind, low=0.0):
        if not kind:
            return None
        v = torch.rand(c, generator=g, dtype=torch.float64) * 2 + low
        if kind == "zero":
            v[0] = 0.0
        return v.to(dtype)

    kw = {
        "offsets": None if not case.get("offsets") else (torch.randn(c, generator=g) * 2).to(dtype),
        "margins": per_class(case.get("margins")),
        "scale": case.get("scale", 1.0),
        "weight": per_class(case.get("weight"), low=0.2),
        "alpha": per_class(case.get("alpha"), low=0.1),
        "gamma": case.get("gamma", 0.0),
        "label_smoothing": case.get("label_smoothing", 0.0),
        "ignore_index": ignore,
        "reduction": "mean",
        "normalization": case.get("normalization", "weight"),
        "avg_factor": case.get("avg_factor"),
    }
    return x, y, kw


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", SOFTMAX_SHAPES.values(), ids=SOFTMAX_SHAPES.keys())
@pytest.mark.parametrize("case", SOFTMAX_CASES.values(), ids=SOFTMAX_CASES.keys())
def test_softmax_matches_kernel(case, shape, reduction, dtype):
    x, y, kw = softmax_args(case, shape, dtype)
    kw["reduction"] = reduction
    got = _fallback.softmax_loss(x, y, **kw)
    want = kernel("softmax_loss", x, y, **kw)
    assert_same_outputs(got, want, [x, y, *kw.values()], dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_non_contiguous_input_and_all_ignored_rows(dtype):
    x, y, kw = softmax_args(SOFTMAX_CASES["everything"], (5, 6, 4), dtype, seed=3)
    xt = x.transpose(0, 2).contiguous().transpose(0, 2)  # same values, other strides
    assert not xt.is_contiguous()
    got = _fallback.softmax_loss(xt, y, **kw)
    assert got[1].is_contiguous()
    assert_same_outputs(got, kernel("softmax_loss", x, y, **kw), [xt, y], dtype)
    # Every row ignored: "mean" is NaN (0/0) and the gradient 0, as in torch.
    y_ignored = torch.full_like(y, kw["ignore_index"])
    got = _fallback.softmax_loss(x, y_ignored, **kw)
    assert got[0].isnan() and not got[1].any()
    assert_same_outputs(got, kernel("softmax_loss", x, y_ignored, **kw), [x, y_ignored], dtype)


def test_softmax_extreme_logits_match_kernel():
    x, y, kw = softmax_args(SOFTMAX_CASES["gamma_1.7_weight_smooth"], (16, 5), torch.float64)
    x = x * 40  # logits of ±100 and beyond: confident rows, focal factors at 0 and 1
    for reduction in REDUCTIONS:
        kw["reduction"] = reduction
        got = _fallback.softmax_loss(x, y, **kw)
        assert_same_outputs(got, kernel("softmax_loss", x, y, **kw), [x, y], torch.float64)


# --------------------------------------------------------------------------------------------
# Sigmoid family.

#: Target kinds: integer labels (num_labels = C+1 by default, or more background labels) and
#: dense float targets, (N, C) or with leading dimensions.
SIGMOID_TARGETS = ["labels", "labels_num_labels", "dense", "dense_3d"]
SIGMOID_CASES = {
    "plain": {},
    "gamma2": {"gamma": 2.0},
    "gamma_1.5_alpha": {"gamma": 1.5, "alpha": 0.25},
    "row_weight": {"weight": True},
    "label_weight": {"label_weight": True},
    "pos_neg_weight": {"pos_weight": True, "neg_weight": True},
    "neg_weight_fg_only": {"neg_weight": True, "neg_weight_fg_only": True},
    "ignore": {"ignore": -1},
    "avg_factor": {"avg_factor": 7.0, "gamma": 2.0},
    "stats": {"collect_stats": True, "weight": True, "pos_weight": True},
    "everything": {
        "gamma": 0.7,
        "alpha": 0.4,
        "weight": True,
        "label_weight": True,
        "pos_weight": True,
        "neg_weight": True,
        "neg_weight_fg_only": True,
        "ignore": 2,
        "collect_stats": True,
    },
}
LABEL_ONLY = {"label_weight", "ignore"}
SIGMOID_GRID = [
    pytest.param(kind, case, id=f"{kind}-{name}")
    for kind in SIGMOID_TARGETS
    for name, case in SIGMOID_CASES.items()
    if kind.startswith("labels") or not LABEL_ONLY & case.keys()
]


def sigmoid_args(kind: str, case: dict, n: int, c: int, dtype: torch.dtype, seed: int = 0):
    g = _gen(seed)
    shape = (3, n, c) if kind == "dense_3d" else (n, c)
    x = (torch.randn(shape, generator=g, dtype=torch.float64) * 3).to(dtype)
    num_labels = c + 3 if kind == "labels_num_labels" else None
    ignore = case.get("ignore", -100)
    if kind.startswith("labels"):
        y = torch.randint(0, (num_labels or c + 1), (n,), generator=g)
        if "ignore" in case and n > 1:
            y[torch.rand(n, generator=g) < 0.3] = ignore
            y[0] = ignore
    else:
        y = torch.rand(shape, generator=g, dtype=torch.float64).to(dtype)
        y[..., 0] = 1.0  # exact 0/1 entries next to soft ones
        y[..., -1] = 0.0
    rows = x.numel() // c if c else 0

    def vec(flag, length):
        return (
            (torch.rand(length, generator=g, dtype=torch.float64) + 0.2).to(dtype) if flag else None
        )

    kw = {
        "num_labels": num_labels,
        "gamma": case.get("gamma", 0.0),
        "alpha": case.get("alpha"),
        "weight": vec(case.get("weight"), rows),
        "label_weight": vec(case.get("label_weight"), num_labels or c + 1),
        "pos_weight": vec(case.get("pos_weight"), c),
        "neg_weight": vec(case.get("neg_weight"), c),
        "neg_weight_fg_only": case.get("neg_weight_fg_only", False),
        "ignore_index": ignore,
        "reduction": "mean",
        "normalization": "elements",
        "avg_factor": case.get("avg_factor"),
        "collect_stats": case.get("collect_stats", False),
    }
    return x, y, kw


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("normalization", ["elements", "rows"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize(("kind", "case"), SIGMOID_GRID)
def test_sigmoid_matches_kernel(kind, case, reduction, normalization, dtype):
    x, y, kw = sigmoid_args(kind, case, 40, 6, dtype)
    kw.update(reduction=reduction, normalization=normalization)
    got = _fallback.sigmoid_loss(x, y, **kw)
    assert_same_outputs(got, kernel("sigmoid_loss", x, y, **kw), [x, y, *kw.values()], dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", SIGMOID_TARGETS)
@pytest.mark.parametrize(("n", "c"), [(0, 5), (7, 1)], ids=["empty", "C=1"])
def test_sigmoid_empty_batch_and_single_class(kind, n, c, dtype):
    case = SIGMOID_CASES["everything"] if kind.startswith("labels") else SIGMOID_CASES["stats"]
    x, y, kw = sigmoid_args(kind, case, n, c, dtype, seed=2)
    for reduction in REDUCTIONS:
        kw["reduction"] = reduction
        got = _fallback.sigmoid_loss(x, y, **kw)
        assert_same_outputs(got, kernel("sigmoid_loss", x, y, **kw), [x, y], dtype)


def test_sigmoid_extreme_logits_and_ignored_nan_rows_match_kernel():
    x, y, kw = sigmoid_args("labels", SIGMOID_CASES["everything"], 30, 4, torch.float64)
    x = x * 40
    x[y == kw["ignore_index"]] = float("nan")  # ignored rows never enter the loss
    for reduction in REDUCTIONS:
        kw["reduction"] = reduction
        got = _fallback.sigmoid_loss(x, y, **kw)
        assert not any(t.isnan().any() for t in got)
        assert_same_outputs(got, kernel("sigmoid_loss", x, y, **kw), [x, y], torch.float64)


# --------------------------------------------------------------------------------------------
# Seesaw.

SEESAW_FORMS = {"classification": 0, "background": 1, "objectness": 2}  # extra logit columns
SEESAW_CASES = {
    "plain_ce": {"p": 0.0, "q": 0.0},
    "mitigation": {"q": 0.0},
    "compensation": {"p": 0.0},
    "seesaw": {},
    "q_1.5_eps": {"q": 1.5, "eps": 0.2},
    "zero_counts": {"counts": "zeros"},
    "factors_eql": {"p": 0.0, "q": 0.0, "factors": "binary"},
    "factors_seesaw_weight": {"factors": "positive", "weight": True},
    "ignore": {"ignore": -100, "weight": True},
    "avg_factor": {"avg_factor": 4.5},
    "no_counts": {"counts": None},
}


def seesaw_args(form: str, case: dict, n: int, c: int, dtype: torch.dtype, seed: int = 0):
    g = _gen(seed)
    x = (torch.randn(n, c + SEESAW_FORMS[form], generator=g, dtype=torch.float64) * 3).to(dtype)
    num_labels = c if form == "classification" else c + 1
    y = torch.randint(0, num_labels, (n,), generator=g)
    if form != "classification" and n > 2:
        y[torch.rand(n, generator=g) < 0.3] = c  # background rows
        y[1] = c
    ignore = case.get("ignore", -100)
    if "ignore" in case and n > 1:
        y[torch.rand(n, generator=g) < 0.2] = ignore
        y[0] = ignore
    counts = torch.randint(1, 500, (c,), generator=g).to(dtype)
    if case.get("counts", "given") == "zeros":
        counts[: c // 2] = 0.0
    factors = None
    if case.get("factors") == "binary":
        factors = (torch.rand(n, c, generator=g) < 0.6).to(dtype)
    elif case.get("factors") == "positive":
        factors = (torch.rand(n, c, generator=g, dtype=torch.float64) + 0.1).to(dtype)
    kw = {
        "num_classes": c,
        "mode": form,
        "counts": None if "counts" in case and case["counts"] is None else counts,
        "p": case.get("p", 0.8),
        "q": case.get("q", 2.0),
        "eps": case.get("eps", 1e-2),
        "factors": factors,
        "weight": (torch.rand(n, generator=g, dtype=torch.float64) + 0.2).to(dtype)
        if case.get("weight")
        else None,
        "ignore_index": ignore,
        "reduction": "mean",
        "avg_factor": case.get("avg_factor"),
    }
    return x, y, kw


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("case", SEESAW_CASES.values(), ids=SEESAW_CASES.keys())
@pytest.mark.parametrize("form", SEESAW_FORMS)
def test_seesaw_matches_kernel(form, case, reduction, dtype):
    x, y, kw = seesaw_args(form, case, 45, 7, dtype)
    kw["reduction"] = reduction
    got = _fallback.seesaw_loss(x, y, **kw)
    assert_same_outputs(got, kernel("seesaw_loss", x, y, **kw), [x, y, *kw.values()], dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("form", SEESAW_FORMS)
@pytest.mark.parametrize(("n", "c"), [(0, 4), (6, 1)], ids=["empty", "C=1"])
def test_seesaw_empty_batch_and_single_class(form, n, c, dtype):
    x, y, kw = seesaw_args(form, SEESAW_CASES["factors_seesaw_weight"], n, c, dtype, seed=4)
    for reduction in REDUCTIONS:
        kw["reduction"] = reduction
        got = _fallback.seesaw_loss(x, y, **kw)
        assert_same_outputs(got, kernel("seesaw_loss", x, y, **kw), [x, y], dtype)


@pytest.mark.parametrize("avg_factor", [None, 3.0])
def test_seesaw_objectness_without_positives_has_zero_class_term(avg_factor):
    x, y, kw = seesaw_args("objectness", SEESAW_CASES["seesaw"], 10, 5, torch.float64)
    y = torch.full_like(y, 5)  # every row background
    kw["avg_factor"] = avg_factor
    for reduction in REDUCTIONS:
        kw["reduction"] = reduction
        got = _fallback.seesaw_loss(x, y, **kw)
        assert not got[0].any() and not got[2][:, :5].any()
        assert_same_outputs(got, kernel("seesaw_loss", x, y, **kw), [x, y], torch.float64)


# --------------------------------------------------------------------------------------------
# Group softmax.

GROUP_OFFSETS = {
    "three_groups": [0, 2, 5, 9],
    "size_one_group": [0, 1, 4, 6, 11],
    "one_group": [0, 6],
}


def group_args(offsets: list[int], n: int, dtype: torch.dtype, seed: int = 0):
    g = _gen(seed)
    sizes = [b - a for a, b in itertools.pairwise(offsets)]
    x = (torch.randn(n, offsets[-1], generator=g, dtype=torch.float64) * 3).to(dtype)
    targets = torch.stack([torch.randint(0, s, (n,), generator=g) for s in sizes], 1)
    weights = torch.rand(n, len(sizes), generator=g, dtype=torch.float64) + 0.1
    weights[torch.rand(weights.shape, generator=g) < 0.3] = 0.0  # skipped (row, group) pairs
    return x, targets, weights.to(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("n", [40, 0], ids=["40rows", "empty"])
@pytest.mark.parametrize("offsets", GROUP_OFFSETS.values(), ids=GROUP_OFFSETS.keys())
def test_group_softmax_matches_kernel(offsets, n, reduction, dtype):
    x, t, w = group_args(offsets, n, dtype)
    got = _fallback.group_softmax_loss(x, t, w, offsets, reduction=reduction)
    want = kernel("group_softmax_loss", x, t, w, offsets, reduction=reduction)
    assert_same_outputs(got, want, [x, t, w], dtype)


def test_group_softmax_skipped_groups_ignore_infinite_logits():
    offsets = GROUP_OFFSETS["three_groups"]
    x, t, w = group_args(offsets, 12, torch.float64, seed=5)
    w[:, 1] = 0.0
    x[:, 2:5] = float("inf")  # only the skipped group sees them
    for reduction in REDUCTIONS:
        got = _fallback.group_softmax_loss(x, t, w, offsets, reduction=reduction)
        assert got[0].isfinite().all() and got[1].isfinite().all()
        want = kernel("group_softmax_loss", x, t, w, offsets, reduction=reduction)
        assert_same_outputs(got, want, [x, t, w], torch.float64)


# --------------------------------------------------------------------------------------------
# Bad labels and NaN logits on the CPU: the kernel's exception class and message.


def _bad_calls():
    """(name, args, kwargs) of each family with an out-of-range label after valid ones."""
    x, y, kw = softmax_args(SOFTMAX_CASES["ignore_default"], (4, 5, 3), torch.float64)
    y[2, 1] = 5
    y[3, 0] = -3
    yield "softmax_loss", (x, y), kw
    x, y, kw = sigmoid_args("labels_num_labels", SIGMOID_CASES["ignore"], 9, 4, torch.float64)
    y[4] = 7
    yield "sigmoid_loss", (x, y), kw
    for form in SEESAW_FORMS:
        x, y, kw = seesaw_args(form, SEESAW_CASES["ignore"], 9, 4, torch.float64)
        y[5] = 4 if form == "classification" else 5
        yield "seesaw_loss", (x, y), kw
    offsets = GROUP_OFFSETS["three_groups"]
    x, t, w = group_args(offsets, 8, torch.float64)
    t[3, 2] = 4
    t[6, 0] = -1
    yield "group_softmax_loss", (x, t, w, offsets), {"reduction": "mean"}


@pytest.mark.parametrize(("name", "args", "kw"), list(_bad_calls()))
def test_out_of_range_label_raises_the_kernels_error(name, args, kw):
    with pytest.raises(OutOfRangeError) as want:
        kernel(name, *args, **kw)
    with pytest.raises(OutOfRangeError) as got:
        getattr(_fallback, name)(*args, **kw)
    assert str(got.value) == str(want.value)
    assert "but got" in str(got.value)


def _nan_calls():
    x, y, kw = sigmoid_args("labels", SIGMOID_CASES["ignore"], 9, 4, torch.float64)
    y[5] = 1
    x[5, 2] = float("nan")
    yield "sigmoid_loss", (x, y), kw
    x, y, kw = sigmoid_args("dense", SIGMOID_CASES["plain"], 9, 4, torch.float64)
    x[3, 0] = float("nan")
    yield "sigmoid_loss", (x, y), kw
    x, y, kw = seesaw_args("objectness", SEESAW_CASES["ignore"], 9, 4, torch.float64)
    y[6] = 4  # a background row: its class logits are unused but still checked
    x[6, 1] = float("nan")
    yield "seesaw_loss", (x, y), kw
    offsets = GROUP_OFFSETS["three_groups"]
    x, t, w = group_args(offsets, 8, torch.float64)
    w[4, 1] = 0.0
    w[4, 0] = 1.0
    x[4, 3] = float("nan")  # in a skipped group of a row that enters the loss
    yield "group_softmax_loss", (x, t, w, offsets), {"reduction": "none"}


@pytest.mark.parametrize(("name", "args", "kw"), list(_nan_calls()))
def test_nan_logits_raise_the_kernels_error_on_cpu(name, args, kw):
    with pytest.raises(InvalidArgumentError) as want:
        kernel(name, *args, **kw)
    with pytest.raises(InvalidArgumentError) as got:
        getattr(_fallback, name)(*args, **kw)
    assert str(got.value) == str(want.value)


def test_builds_no_autograd_graph():
    x, y, kw = softmax_args(SOFTMAX_CASES["everything"], (6, 4), torch.float64)
    x.requires_grad_(True)
    loss, grad = _fallback.softmax_loss(x, y, **kw)
    assert loss.grad_fn is None and grad.grad_fn is None


# --------------------------------------------------------------------------------------------
# CUDA: the same comparisons on the GPU, with any host synchronisation an error.


def _cuda_calls(dtype: torch.dtype):
    """Representative calls of every family, every reduction, on CPU tensors."""
    for reduction in REDUCTIONS:
        x, y, kw = softmax_args(SOFTMAX_CASES["everything"], (6, 5, 3), dtype)
        yield "softmax_loss", (x, y), dict(kw, reduction=reduction)
        x, y, kw = softmax_args(SOFTMAX_CASES["avg_factor"], (9, 4), dtype)
        yield "softmax_loss", (x, y), dict(kw, reduction=reduction)
        for kind in ("labels", "dense"):
            case = SIGMOID_CASES["everything" if kind == "labels" else "stats"]
            x, y, kw = sigmoid_args(kind, case, 20, 5, dtype)
            yield "sigmoid_loss", (x, y), dict(kw, reduction=reduction, normalization="rows")
        for form in SEESAW_FORMS:
            x, y, kw = seesaw_args(form, SEESAW_CASES["factors_seesaw_weight"], 20, 5, dtype)
            yield "seesaw_loss", (x, y), dict(kw, reduction=reduction)
        offsets = GROUP_OFFSETS["size_one_group"]
        x, t, w = group_args(offsets, 20, dtype)
        yield "group_softmax_loss", (x, t, w, offsets), {"reduction": reduction}


def _to(value, device):
    return value.to(device) if isinstance(value, Tensor) else value


@pytest.mark.parametrize("dtype", DTYPES)
def test_off_cpu_path_reads_nothing_back_to_the_host(dtype):
    # Meta tensors have no data: any host read (.item(), bool(), nonzero, a data-dependent shape)
    # raises, so this runs the device branch (the asynchronous label assert) without a GPU.
    for name, args, kw in _cuda_calls(dtype):
        want = kernel(name, *args, **kw)
        got = getattr(_fallback, name)(
            *[_to(a, "meta") for a in args], **{k: _to(v, "meta") for k, v in kw.items()}
        )
        assert [(t.shape, t.dtype, t.device.type) for t in got] == [
            (t.shape, t.dtype, "meta") for t in want
        ]


@requires_cuda
@pytest.mark.parametrize("dtype", DTYPES)
def test_cuda_matches_cpu_kernel_without_host_sync(dtype):
    for name, args, kw in _cuda_calls(dtype):
        want = kernel(name, *args, **kw)
        cuda_args = [_to(a, "cuda") for a in args]
        cuda_kw = {k: _to(v, "cuda") for k, v in kw.items()}
        torch.cuda.synchronize()
        torch.cuda.set_sync_debug_mode("error")
        try:
            got = getattr(_fallback, name)(*cuda_args, **cuda_kw)
        finally:
            torch.cuda.set_sync_debug_mode("default")
        assert_same_outputs(got, want, cuda_args, dtype)


@requires_cuda
def test_cuda_out_of_range_label_is_a_device_side_assert():
    # A device-side assert leaves the CUDA context unusable, so it runs in its own process.
    script = textwrap.dedent(
        """
        import torch
        from longtail import _fallback
        x = torch.randn(4, 3, device="cuda")
        y = torch.tensor([0, 1, 3, 2], device="cuda")
        kw = dict(offsets=None, margins=None, scale=1.0, weight=None, alpha=None, gamma=0.0,
                  label_smoothing=0.0, ignore_index=-100, reduction="mean",
                  normalization="weight", avg_factor=None)
        torch.cuda.set_sync_debug_mode("error")
        _fallback.softmax_loss(x, y, **kw)  # must not sync, so it cannot raise here
        torch.cuda.set_sync_debug_mode("default")
        try:
            torch.cuda.synchronize()
        except RuntimeError as err:
            print("device assert:", err)
        else:
            raise SystemExit("no device-side assert")
        """
    )
    # The subprocess imports the same longtail as the tests (the installed wheel in CI).
    package_root = os.path.dirname(os.path.dirname(longtail.__file__))
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join([package_root, os.environ.get("PYTHONPATH", "")])
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert "device assert:" in result.stdout
