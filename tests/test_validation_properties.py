"""Property tests (Hypothesis) of the public loss, weights and metrics calls, the bad-input rule:
every generated call either raises a clean ``ValueError``/``TypeError``/``IndexError`` whose
message names the argument in torch's "x should be ..., but got ..." form, or returns the value
of an independent float64 formulation (``tests/reference.py``, ``tests/reference_detection.py``,
or a few lines of NumPy written here). Never a crash, never a silently wrong value; a stateful
loss's state is bit-identical after a rejected call.

Profiles are in ``tests/_hypothesis.py`` (``HYPOTHESIS_PROFILE=dev`` for a long local run)."""

from __future__ import annotations

import math

import numpy as np
import pytest

pytest.importorskip(
    "hypothesis", reason="the property tests need hypothesis (pip install hypothesis)"
)

import _hypothesis  # noqa: F401  (registers and loads the profile)
import reference as ref
import torch
from hypothesis import given
from hypothesis import strategies as st
from longtail import functional as LF
from longtail import losses as LL
from longtail import metrics
from longtail import weights as LW

CLEAN = (ValueError, TypeError, IndexError)
INT_DTYPES = [torch.int8, torch.uint8, torch.int16, torch.int32, torch.int64]


def _expect_clean_rejection(call, name: str) -> None:
    with pytest.raises(CLEAN) as info:
        call()
    message = str(info.value)
    assert name in message and "should" in message, message


# --------------------------------------------------------------------------------------------
# Generated batches.


@st.composite
def batches(draw, min_classes: int = 2, max_classes: int = 6):
    """``(x, y, ignore_index)``: float32/float64 logits, labels of any integer dtype (a few rows
    set to ``ignore_index``), from a drawn seed."""
    n = draw(st.integers(1, 7))
    c = draw(st.integers(min_classes, max_classes))
    dtype = draw(st.sampled_from([torch.float32, torch.float64]))
    target_dtype = draw(st.sampled_from(INT_DTYPES))
    spread = draw(st.sampled_from([1.0, 5.0, 30.0]))
    seed = draw(st.integers(0, 2**32 - 1))
    g = torch.Generator().manual_seed(seed)
    x = (torch.randn(n, c, generator=g, dtype=torch.float64) * spread).to(dtype)
    y = torch.randint(0, c, (n,), generator=g)
    choices = [0, c - 1] if target_dtype in (torch.int8, torch.uint8) else [-100, 0, c - 1]
    ignore_index = draw(st.sampled_from(choices))
    if draw(st.booleans()):
        y[torch.rand(n, generator=g) < 0.3] = ignore_index
    return x, y.to(target_dtype), ignore_index


def counts_vectors(c: int):
    """Valid per-class counts of ``c`` classes, as a list, an integer or float array, or a
    tensor; at least one positive entry, some zeros allowed, up to 1e300."""
    values = st.lists(
        st.one_of(st.integers(0, 10_000), st.floats(0.5, 1e300)), min_size=c, max_size=c
    ).filter(lambda v: sum(v) > 0)
    return st.tuples(values, st.sampled_from(["list", "int64", "float32", "float64", "tensor"]))


def _as_container(values, kind):
    if kind == "list":
        return list(values)
    if kind == "int64":
        return np.asarray([min(math.ceil(v), 2**62) for v in values], dtype=np.int64)
    if kind == "float32":
        return np.asarray(values, dtype=np.float64).clip(max=3e38).astype(np.float32)
    if kind == "float64":
        return np.asarray(values, dtype=np.float64)
    return torch.tensor(values, dtype=torch.float64)


def _close(got: torch.Tensor, want: torch.Tensor, dtype: torch.dtype) -> None:
    tol = {"rtol": 2e-4, "atol": 2e-5} if dtype == torch.float32 else {}
    torch.testing.assert_close(got.double(), want.double(), equal_nan=True, **tol)


# --------------------------------------------------------------------------------------------
# Valid input: the value of the float64 formulation.


@given(batch=batches(), data=st.data())
def test_softmax_family_matches_float64_reference(batch, data) -> None:
    x, y, ignore_index = batch
    c = x.shape[1]
    reduction = data.draw(st.sampled_from(["mean", "sum", "none"]))
    smoothing = data.draw(st.sampled_from([0.0, 0.1]))
    weight = data.draw(st.one_of(st.none(), st.lists(st.floats(0.1, 10.0), min_size=c, max_size=c)))
    gamma = data.draw(st.sampled_from([0.0, 0.5, 2.0]))
    common = {"reduction": reduction, "ignore_index": ignore_index, "label_smoothing": smoothing}
    y64 = y.long()
    got = LF.focal_loss(x, y, gamma=gamma, weight=weight, **common)
    want = ref.focal(x, y64, gamma=gamma, weight=weight, **common)
    _close(got, want, x.dtype)
    module = LL.FocalLoss(gamma=gamma, weight=weight, **common)
    _close(module(x, y), want, x.dtype)
    if weight is not None:
        got = LF.weighted_cross_entropy(x, y, weight=weight, **common)
        _close(got, ref.cross_entropy(x, y64, weight=weight, **common), x.dtype)


@given(batch=batches(), data=st.data())
def test_count_losses_match_float64_reference(batch, data) -> None:
    x, y, ignore_index = batch
    c = x.shape[1]
    values, kind = data.draw(counts_vectors(c))
    counts = _as_container(values, kind)
    counts64 = torch.as_tensor(np.asarray(counts, dtype=np.float64))
    reduction = data.draw(st.sampled_from(["mean", "sum", "none"]))
    common = {"reduction": reduction, "ignore_index": ignore_index}
    y64 = y.long()
    tau = data.draw(st.sampled_from([0.0, 0.5, 1.0]))
    got = LF.logit_adjusted_loss(x, y, counts, tau=tau, **common)
    scaled = counts64 / counts64.max()  # the oracle's counts in range: the loss is scale-free
    _close(got, ref.logit_adjusted(x, y64, scaled, tau=tau, **common), x.dtype)
    _close(LL.LogitAdjustedLoss(counts, tau=tau, **common)(x, y), got, x.dtype)
    if (counts64 > 0).all():
        got = LF.balanced_softmax_loss(x, y, counts, **common)
        _close(got, ref.balanced_softmax(x, y64, scaled, **common), x.dtype)
        got = LF.ldam_loss(x, y, counts, **common)
        _close(got, ref.ldam(x, y64, counts64, **common), x.dtype)


@given(values=counts_vectors(4), data=st.data())
def test_weight_helpers_match_float64_formulas(values, data) -> None:
    raw, kind = values
    counts = _as_container(raw, kind)
    n = np.asarray(counts, dtype=np.float64)
    dtype = data.draw(st.sampled_from([torch.float32, torch.float64]))
    power = data.draw(st.sampled_from([0.5, 1.0]))
    scaled = n / n.max()
    want = np.where(n > 0, (scaled.sum() / np.where(n > 0, scaled, 1.0)) ** power, 0.0)
    if want.max() > torch.finfo(dtype).max:
        # Not representable: a clean error, never a silent inf.
        _expect_clean_rejection(lambda: LW.inverse_frequency(counts, power, dtype=dtype), "dtype")
        return
    got = LW.inverse_frequency(counts, power, dtype=dtype)
    assert got.dtype == dtype
    np.testing.assert_allclose(
        got.double().numpy(), want, rtol=1e-6 if dtype == torch.float32 else 1e-9
    )
    beta = data.draw(st.sampled_from([0.0, 0.9, 0.9999]))
    # Cui et al.: (1 − β)/(1 − β^n) per class; an empty class gets 0 (it is never a target).
    positive = np.where(n > 0, n, 1.0)
    raw_w = np.where(n > 0, (1 - beta) / (1 - beta**positive), 0.0)
    want = raw_w / raw_w.sum() * n.size
    np.testing.assert_allclose(
        LW.effective_number(counts, beta, dtype=torch.float64).numpy(), want, rtol=1e-9
    )


@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 40),
    c=st.integers(1, 6),
    many=st.integers(0, 30),
    few=st.integers(0, 30),
)
def test_shot_accuracy_matches_numpy(seed, n, c, many, few) -> None:
    if few > many + 1:
        _expect_clean_rejection(
            lambda: metrics.shot_accuracy([0], [0], [1] * c, many=many, few=few), "few"
        )
        return
    rng = np.random.default_rng(seed)
    preds, targets = rng.integers(0, c, n), rng.integers(0, c, n)
    counts = rng.integers(0, 40, c)
    got = metrics.shot_accuracy(preds, targets, counts, many=many, few=few)
    per_class = np.array(
        [(preds[targets == k] == k).mean() if (targets == k).any() else np.nan for k in range(c)]
    )
    np.testing.assert_allclose(got["per_class"].numpy(), per_class)
    for group, mask in (
        ("many", counts > many),
        ("few", counts < few),
        ("medium", (counts <= many) & (counts >= few)),
    ):
        present = mask & ~np.isnan(per_class)
        want = per_class[present].mean() if present.any() else math.nan
        assert got[group] == pytest.approx(want, nan_ok=True)
    assert got["overall"] == pytest.approx((preds == targets).mean())


# --------------------------------------------------------------------------------------------
# Bad input: a clean rejection naming the argument.

NOT_REAL = st.one_of(
    st.none(),
    st.booleans(),
    st.text("0123456789.", min_size=1, max_size=4),
    st.complex_numbers(allow_nan=False, allow_infinity=False).filter(lambda z: z.imag != 0),
    st.lists(st.floats(0, 1), min_size=1, max_size=3),
    st.just({"value": 1.0}),
)
NON_FINITE = st.sampled_from([math.nan, math.inf, -math.inf, np.float32("nan"), 10**400])
NEGATIVE = st.floats(-1e300, -1e-300)
NOT_INT = st.one_of(
    st.none(),
    st.booleans(),
    st.floats(allow_nan=True),
    st.text("0123456789", min_size=1, max_size=3),
    st.integers(min_value=2**63),
    st.integers(max_value=-(2**63) - 1),
)

X = torch.randn(5, 3, generator=torch.Generator().manual_seed(0))
Y = torch.tensor([0, 1, 2, 0, 3])  # label 3 = background for the detection losses
Y3 = torch.tensor([0, 1, 2, 0, 2])
COUNTS = [50, 10, 2]

SCALAR_ARGUMENTS = [
    # (argument, call with the value, strategy of bad values)
    ("gamma", lambda v: LF.focal_loss(X, Y3, gamma=v), st.one_of(NOT_REAL, NON_FINITE, NEGATIVE)),
    ("gamma", lambda v: LL.FocalLoss(gamma=v), st.one_of(NOT_REAL, NON_FINITE, NEGATIVE)),
    (
        "label_smoothing",
        lambda v: LF.weighted_cross_entropy(X, Y3, COUNTS, label_smoothing=v),
        st.one_of(NOT_REAL, NON_FINITE, NEGATIVE, st.floats(1.0001, 1e300)),
    ),
    ("ignore_index", lambda v: LF.focal_loss(X, Y3, ignore_index=v), NOT_INT),
    ("ignore_index", lambda v: LL.LDAMLoss(COUNTS, ignore_index=v), NOT_INT),
    ("ignore_index", lambda v: LF.sigmoid_focal_loss(X, Y, ignore_index=v), NOT_INT),
    ("ignore_index", lambda v: LL.SeesawLoss(3, ignore_index=v), NOT_INT),
    (
        "max_margin",
        lambda v: LF.ldam_loss(X, Y3, COUNTS, max_margin=v),
        st.one_of(NOT_REAL, NON_FINITE, NEGATIVE, st.floats(1e38, 1e308)),
    ),
    (
        "scale",
        lambda v: LL.LDAMLoss(COUNTS, scale=v),
        st.one_of(NOT_REAL, NON_FINITE, NEGATIVE, st.just(0.0)),
    ),
    (
        "tau",
        lambda v: LF.logit_adjusted_loss(X, Y3, COUNTS, tau=v),
        st.one_of(NOT_REAL, NON_FINITE),
    ),
    (
        "avg_factor",
        lambda v: LF.sigmoid_focal_loss(X, Y, avg_factor=v),
        st.one_of(NOT_REAL.filter(lambda v: v is not None), NON_FINITE, NEGATIVE),
    ),
    (
        "avg_factor",
        lambda v: LF.seesaw_loss(X, Y3, COUNTS, avg_factor=v),
        st.one_of(NOT_REAL.filter(lambda v: v is not None), NON_FINITE, NEGATIVE),
    ),
    ("p", lambda v: LL.SeesawLoss(3, p=v), st.one_of(NOT_REAL, NON_FINITE, NEGATIVE)),
    (
        "eps",
        lambda v: LF.seesaw_loss(X, Y3, COUNTS, eps=v),
        st.one_of(NOT_REAL, NON_FINITE, NEGATIVE, st.just(0.0)),
    ),
    (
        "beta",
        lambda v: LW.effective_number(COUNTS, v),
        st.one_of(NOT_REAL, NON_FINITE, NEGATIVE, st.floats(1.0001, 10)),
    ),
    ("power", lambda v: LW.inverse_frequency(COUNTS, v), st.one_of(NOT_REAL, NON_FINITE, NEGATIVE)),
    ("epoch", lambda v: LW.drw(COUNTS, v), st.one_of(NOT_INT, st.integers(max_value=-1))),
    (
        "dtype",
        lambda v: LW.cost_sensitive(COUNTS, dtype=v),
        st.one_of(
            NOT_REAL, st.sampled_from([torch.int64, torch.bool, torch.complex64, torch.uint8])
        ),
    ),
    (
        "many",
        lambda v: metrics.shot_accuracy(Y3, Y3, COUNTS, many=v),
        st.one_of(NOT_REAL, NON_FINITE),
    ),
    ("few", lambda v: metrics.ShotAccuracy(COUNTS, few=v), st.one_of(NOT_REAL, NON_FINITE)),
]


@pytest.mark.parametrize(
    ("name", "call", "bad"),
    SCALAR_ARGUMENTS,
    ids=[f"{i}-{a[0]}" for i, a in enumerate(SCALAR_ARGUMENTS)],
)
@given(data=st.data())
def test_bad_scalars_are_rejected_by_name(name, call, bad, data) -> None:
    value = data.draw(bad)
    _expect_clean_rejection(lambda: call(value), name)


@st.composite
def bad_vectors(draw, c: int = 3):
    """A per-class vector of ``c`` entries with one defect of each kind the issue lists."""
    good = [float(v) for v in draw(st.lists(st.integers(1, 100), min_size=c, max_size=c))]
    defect = draw(
        st.sampled_from(
            ["nan", "inf", "negative", "string", "object", "complex", "bool", "meta", "length"]
        )
    )
    container = draw(st.sampled_from(["list", "array", "tensor"]))
    i = draw(st.integers(0, c - 1))
    if defect in ("nan", "inf", "negative"):
        good[i] = {"nan": math.nan, "inf": math.inf, "negative": -draw(st.floats(1e-6, 1e6))}[
            defect
        ]
        values = good
    elif defect == "string":
        values = [str(v) for v in good]
        container = "list" if container == "tensor" else container
    elif defect == "object":
        return np.asarray([str(v) for v in good], dtype=object)
    elif defect == "complex":
        values = [complex(v, 1.0) for v in good]
    elif defect == "bool":
        values = [bool(v % 2) for v in good]
    elif defect == "meta":
        return torch.tensor(good).to("meta")
    else:
        values = good + [1.0] * draw(st.integers(1, 3))
    if container == "array":
        return np.asarray(values)
    if container == "tensor":
        return torch.tensor(values)
    return values


def _three(per_class: torch.Tensor, name: str = "class_counts") -> torch.Tensor:
    """A call that cannot know C gets the length check from its caller (3 classes here)."""
    if per_class.shape != (3,):
        raise ValueError(f"{name} should have 3 entries here, but got {per_class.shape}")
    return per_class


VECTOR_ARGUMENTS = [
    ("class_counts", lambda v: LF.balanced_softmax_loss(X, Y3, v)),
    ("class_counts", lambda v: LL.LogitAdjustedLoss(v)(X, Y3)),
    ("class_counts", lambda v: LF.ldam_loss(X, Y3, v)),
    ("class_counts", lambda v: LF.seesaw_loss(X, Y3, v)),
    ("class_counts", lambda v: _three(LW.inverse_frequency(v))),
    ("class_counts", lambda v: _three(LW.effective_number(v))),
    ("class_frequencies", lambda v: LF.equalization_loss(X, Y, v)),
    (
        "train_class_counts",
        lambda v: _three(metrics.shot_accuracy(Y3, Y3, v)["per_class"], "train_class_counts"),
    ),
    ("weight", lambda v: LF.weighted_cross_entropy(X, Y3, weight=v)),
    ("weight", lambda v: LL.BalancedSoftmaxLoss(COUNTS, weight=v)(X, Y3)),
    ("weight", lambda v: LL.WeightedCrossEntropyLoss(weight=v)(X, Y3)),
    ("alpha", lambda v: LF.focal_loss(X, Y3, alpha=v)),
    ("alpha", lambda v: LL.FocalLoss(alpha=v)(X, Y3)),
]


@pytest.mark.parametrize(
    ("name", "call"), VECTOR_ARGUMENTS, ids=[f"{i}-{a[0]}" for i, a in enumerate(VECTOR_ARGUMENTS)]
)
@given(vector=bad_vectors())
def test_bad_per_class_vectors_are_rejected_by_name(name, call, vector) -> None:
    # A Module that learns C from the vector reports a length defect as an input mismatch.
    with pytest.raises(CLEAN) as info:
        call(vector)
    message = str(info.value)
    assert (name in message or "input should have" in message) and "should" in message, message


# --------------------------------------------------------------------------------------------
# Stateful losses: a rejected batch leaves the state bit-identical.


@st.composite
def bad_seesaw_calls(draw):
    """Keyword changes that make one SeesawLoss call bad."""
    kind = draw(
        st.sampled_from(
            ["nan", "complex_weight", "nan_weight", "shape", "label", "avg_factor", "dtype"]
        )
    )
    return kind, draw(st.integers(0, 4))


@given(batch=batches(min_classes=3, max_classes=5), bad=bad_seesaw_calls())
def test_seesaw_state_untouched_by_rejected_batch(batch, bad) -> None:
    x, y, ignore_index = batch
    x = x.float()
    c = x.shape[1]
    kind, row = bad
    row = row % x.shape[0]
    loss = LL.SeesawLoss(c, ignore_index=ignore_index)
    loss(x, y)
    before = loss.cum_samples.clone()
    args, kwargs = [x, y], {}
    if kind == "nan":
        bad_x = x.clone()
        bad_x[row, row % c] = math.nan
        y_valid = y.long().clone()
        y_valid[row] = 0 if ignore_index != 0 else 1  # the NaN row is not ignored
        args = [bad_x, y_valid.to(y.dtype)]
    elif kind == "complex_weight":
        kwargs["weight"] = torch.ones(x.shape[0], dtype=torch.complex64)
    elif kind == "nan_weight":
        w = torch.ones(x.shape[0])
        w[row] = math.nan
        kwargs["weight"] = w
    elif kind == "shape":
        args = [x[:, : c - 1], y]
    elif kind == "label":
        y_bad = y.long().clone()
        y_bad[row] = c + 1
        args = [x, y_bad]
    elif kind == "avg_factor":
        kwargs["avg_factor"] = -1.0
    else:
        args = [x, y.float()]
    with pytest.raises(CLEAN):
        loss(*args, **kwargs)
    assert torch.equal(loss.cum_samples, before)
    # A rejected call followed by a good one equals the good one alone.
    fresh = LL.SeesawLoss(c, ignore_index=ignore_index)
    fresh.cum_samples.copy_(before)
    torch.testing.assert_close(loss(x, y), fresh(x, y), rtol=0, atol=0, equal_nan=True)
    assert torch.equal(loss.cum_samples, fresh.cum_samples)


@given(batch=batches(min_classes=3, max_classes=5), kind=st.sampled_from(["nan", "shape", "label"]))
def test_eqlv2_state_untouched_by_rejected_batch(batch, kind) -> None:
    x, y, _ = batch
    x = x.float()
    c = x.shape[1] - 1  # the last column is the background logit
    y = y.long().clamp(0, c)
    loss = LL.EQLv2Loss(c)
    loss(x, y)
    state = {k: v.clone() for k, v in loss.state_dict().items()}
    if kind == "nan":
        bad = x.clone()
        bad[0, 0] = math.nan
        args = (bad, y)
    elif kind == "shape":
        args = (x[:, :c], y)
    else:
        args = (x, torch.full_like(y, c + 1))
    with pytest.raises(CLEAN):
        loss(*args)
    for k, v in loss.state_dict().items():
        assert torch.equal(v, state[k]), k
