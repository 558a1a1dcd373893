"""Robustness to bad and extreme inputs outside the samplers: one validation layer, NaN propagation,
edge inputs, readers and CLI, and a transactional ``prepare_crt``. Each test pins one case the fuzz
run reported."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import pytest
import reference as ref
import reference_detection as refd
import torch
from longtail import functional as LF
from longtail import losses as LL
from longtail import metrics, stats
from longtail import weights as LW
from longtail.cli import main
from longtail.data import image_folder_labels, read_inaturalist, read_labels, read_lvis
from longtail.decoupling import prepare_crt, tau_normalize
from longtail.exceptions import DTypeError, InvalidArgumentError, OutOfRangeError, ShapeError

COUNTS = [50, 10, 2]


def _batch(n: int = 6, c: int = 3, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, c, generator=g, dtype=torch.float64), torch.randint(
        0, c, (n,), generator=g
    )


def test_exception_classes_subclass_the_builtins() -> None:
    assert issubclass(ShapeError, ValueError) and issubclass(InvalidArgumentError, ValueError)
    assert issubclass(OutOfRangeError, IndexError) and issubclass(DTypeError, TypeError)


# --------------------------------------------------------------------------------------------
# Integers and reals.

BAD_INDEX = [
    (1.5, TypeError, r"ignore_index should be an integer, but got ignore_index=1\.5"),
    ("5", TypeError, r"ignore_index should be an integer, but got ignore_index='5'"),
    (True, TypeError, r"ignore_index should be an integer, but got ignore_index=True"),
    (
        2**63,
        ValueError,
        r"ignore_index should be .*int64.*but got ignore_index=9223372036854775808",
    ),
    (torch.tensor(1.0), TypeError, r"ignore_index should be an integer or a 0-d integer tensor"),
]

IGNORE_INDEX_CALLS = {
    "cross_entropy": lambda x, y, v: LF.weighted_cross_entropy(x, y, COUNTS, ignore_index=v),
    "focal": lambda x, y, v: LF.focal_loss(x, y, ignore_index=v),
    "FocalLoss": lambda x, y, v: LL.FocalLoss(ignore_index=v)(x, y),
    "LDAMLoss": lambda x, y, v: LL.LDAMLoss(COUNTS, ignore_index=v)(x, y),
    "sigmoid_focal": lambda x, y, v: LF.sigmoid_focal_loss(x, y, ignore_index=v),
    "SigmoidFocalLoss": lambda x, y, v: LL.SigmoidFocalLoss(ignore_index=v)(x, y),
    "seesaw": lambda x, y, v: LF.seesaw_loss(x, y, COUNTS, ignore_index=v),
    "SeesawLoss": lambda x, y, v: LL.SeesawLoss(3, ignore_index=v)(x, y),
    "SoftmaxEqualizationLoss": lambda x, y, v: LL.SoftmaxEqualizationLoss(
        [0.5, 0.4, 0.1], ignore_index=v
    )(x, y),
}


@pytest.mark.parametrize("call", IGNORE_INDEX_CALLS.values(), ids=IGNORE_INDEX_CALLS.keys())
@pytest.mark.parametrize(("value", "error", "message"), BAD_INDEX)
def test_ignore_index_is_an_int64(call, value, error, message) -> None:
    x, y = _batch()
    with pytest.raises(error, match=message):
        call(x, y, value)


def test_integer_kinds_accepted_for_ignore_index() -> None:
    x, y = _batch()
    y[0] = 1
    want = LF.focal_loss(x, y, ignore_index=1)
    for value in (np.int8(1), np.uint64(1), torch.tensor(1, dtype=torch.int16)):
        torch.testing.assert_close(LF.focal_loss(x, y, ignore_index=value), want)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda x, y: LF.focal_loss(x, y, alpha=-1.0), r"alpha should be >= 0\.0, but got alpha"),
        (lambda x, y: LL.FocalLoss(alpha=-1.0), r"alpha should be >= 0\.0, but got alpha=-1\.0"),
        (lambda x, y: LL.FocalLoss(alpha=[1.0, -1.0, 1.0]), r"alpha should be non-negative"),
        (
            lambda x, y: LF.ldam_loss(x, y, COUNTS, max_margin=1e308),
            r"max_margin should be <= .*but got max_margin=1e\+308",
        ),
        (lambda x, y: LL.LDAMLoss(COUNTS, max_margin=1e308), r"max_margin should be <="),
        (lambda x, y: LL.LDAMLoss(COUNTS, scale=1e308), r"max_margin should be <="),
        (lambda x, y: LF.sigmoid_focal_loss(x, y, avg_factor=-1e-300), r"avg_factor=-1e-300"),
        (lambda x, y: LF.equalization_loss(x, y, COUNTS, avg_factor=-1.0), r"avg_factor=-1\.0"),
        (
            lambda x, y: LF.eqlv2_loss(
                torch.randn(6, 4), y, torch.full((3,), 100.0), avg_factor=torch.tensor(-2.0)
            ),
            r"avg_factor=-2\.0",
        ),
        (lambda x, y: LF.seesaw_loss(x, y, COUNTS, avg_factor=math.nan), r"avg_factor=nan"),
        (lambda x, y: LF.focal_loss(x, y, gamma=2 + 0j), r"gamma should be a real number"),
        (lambda x, y: LF.focal_loss(x, y, gamma=np.float32("nan")), r"gamma should be finite"),
        (lambda x, y: LF.logit_adjusted_loss(x, y, COUNTS, tau=10**400), r"tau should be finite"),
        (lambda x, y: LL.EQLv2Loss(num_classes=2**60), r"num_classes should be a positive"),
        (lambda x, y: LL.SeesawLoss(True), r"num_classes should be an integer"),
    ],
)
def test_bad_reals_and_ints(call, message) -> None:
    x, y = _batch()
    with pytest.raises((ValueError, TypeError), match=message):
        call(x, y)


def test_real_kinds_accepted() -> None:
    x, y = _batch()
    want = LF.focal_loss(x, y, gamma=2.0)
    for gamma in (np.float32(2.0), np.int64(2), torch.tensor(2.0)):
        torch.testing.assert_close(LF.focal_loss(x, y, gamma=gamma), want)


@pytest.mark.parametrize("value", [math.nan, math.inf, -1.0, "100", True])
@pytest.mark.parametrize("which", ["many", "few"])
def test_shot_thresholds(which, value) -> None:
    y = torch.tensor([0, 1, 2])
    with pytest.raises((ValueError, TypeError), match=rf"{which} should be"):
        metrics.shot_accuracy(y, y, COUNTS, **{which: value})
    with pytest.raises((ValueError, TypeError), match=rf"{which} should be"):
        stats.describe(COUNTS, **{which: value})
    with pytest.raises((ValueError, TypeError), match=rf"{which} should be"):
        metrics.ShotAccuracy(COUNTS, **{which: value})


# --------------------------------------------------------------------------------------------
# Per-class vectors.

BAD_VECTORS = [
    (["50", "10", "2"], TypeError, "holding strings"),
    (np.array(["50", "10", "2"], dtype=object), TypeError, "holding Python objects"),
    ([50 + 0j, 10, 2], TypeError, "holding complex numbers"),
    (torch.tensor([50, 10, 2], dtype=torch.complex64), TypeError, "should have a real dtype"),
    ([True, False, True], TypeError, "holding booleans"),
    (torch.tensor([True, True, False]), TypeError, "should have a real dtype"),
    ({0: 1.0}, TypeError, "should be a sequence, array or tensor of real numbers"),
    ("50,10,2", TypeError, "should be a sequence, array or tensor of real numbers"),
    (torch.ones(3, device="meta"), ValueError, "on the meta device"),
    ([50.0, math.nan, 2.0], ValueError, r"should be finite, but got \w+\[1\]=nan"),
    ([50.0, math.inf, 2.0], ValueError, r"should be finite, but got \w+\[1\]=inf"),
    ([50.0, -1.0, 2.0], ValueError, r"should be non-negative, but got \w+\[1\]=-1\.0"),
]
# A Module learns C from its counts, so it reports a length mismatch at forward.
WRONG_LENGTH = ([50.0, 10.0], ValueError, r"should have shape \(3,\)|input should have 2 classes")

COUNTS_CALLS = {
    "balanced_softmax_loss": lambda x, y, c: LF.balanced_softmax_loss(x, y, c),
    "BalancedSoftmaxLoss": lambda x, y, c: LL.BalancedSoftmaxLoss(c)(x, y),
    "LogitAdjustedLoss": lambda x, y, c: LL.LogitAdjustedLoss(c)(x, y),
    "ldam_loss": lambda x, y, c: LF.ldam_loss(x, y, c),
    "weighted_cross_entropy": lambda x, y, c: LF.weighted_cross_entropy(x, y, c),
    "seesaw_loss": lambda x, y, c: LF.seesaw_loss(x, y, c),
    "equalization_loss": lambda x, y, c: LF.equalization_loss(x, y, c),
    "inverse_frequency": lambda x, y, c: LW.inverse_frequency(c) + torch.zeros(3),
    "effective_number": lambda x, y, c: LW.effective_number(c) + torch.zeros(3),
    "shot_accuracy": lambda x, y, c: metrics.shot_accuracy(x, y, c)["per_class"] + torch.zeros(3),
    "describe": lambda x, y, c: stats.describe(c) and stats.gini(c) + len(c),
}
COUNTS_CALLS_OF_C = ("balanced_softmax_loss", "BalancedSoftmaxLoss", "LogitAdjustedLoss")


@pytest.mark.parametrize("call", COUNTS_CALLS.values(), ids=COUNTS_CALLS.keys())
@pytest.mark.parametrize(("counts", "error", "message"), BAD_VECTORS)
def test_class_counts_are_real_vectors(call, counts, error, message) -> None:
    x, y = _batch()
    with pytest.raises(error, match=message):
        call(x, y, counts)


@pytest.mark.parametrize("name", COUNTS_CALLS_OF_C)
def test_class_counts_of_the_wrong_length(name) -> None:
    x, y = _batch()
    with pytest.raises(WRONG_LENGTH[1], match=WRONG_LENGTH[2]):
        COUNTS_CALLS[name](x, y, WRONG_LENGTH[0])


WEIGHT_CALLS = {
    "weighted_cross_entropy": lambda x, y, w: LF.weighted_cross_entropy(x, y, weight=w),
    "WeightedCrossEntropyLoss": lambda x, y, w: LL.WeightedCrossEntropyLoss(weight=w)(x, y),
    "BalancedSoftmaxLoss": lambda x, y, w: LL.BalancedSoftmaxLoss(COUNTS, weight=w)(x, y),
    "LDAMLoss": lambda x, y, w: LL.LDAMLoss(COUNTS, weight=w)(x, y),
    "LogitAdjustedLoss": lambda x, y, w: LL.LogitAdjustedLoss(COUNTS, weight=w)(x, y),
    "focal_loss": lambda x, y, w: LF.focal_loss(x, y, weight=w),
    "FocalLoss": lambda x, y, w: LL.FocalLoss(weight=w)(x, y),
    "FocalLoss alpha": lambda x, y, w: LL.FocalLoss(alpha=w)(x, y),
}


@pytest.mark.parametrize("call", WEIGHT_CALLS.values(), ids=WEIGHT_CALLS.keys())
@pytest.mark.parametrize(("weight", "error", "message"), [*BAD_VECTORS, WRONG_LENGTH])
def test_module_and_functional_reject_the_same_weights(call, weight, error, message) -> None:
    x, y = _batch()
    with pytest.raises(error, match=message):
        call(x, y, weight)


def test_weight_assigned_after_construction_is_checked() -> None:
    x, y = _batch()
    loss = LL.LDAMLoss(COUNTS)
    loss.weight = torch.tensor([1.0, math.nan, 1.0])
    with pytest.raises(ValueError, match=r"weight should be finite, but got weight\[1\]=nan"):
        loss(x, y)


@pytest.mark.parametrize(
    ("weight", "error", "message"),
    [
        (torch.ones(6, dtype=torch.complex64), TypeError, "weight should have a real dtype"),
        (torch.ones(6, dtype=torch.bool), TypeError, "weight should have a real dtype"),
        (torch.tensor([1.0, math.nan, 1, 1, 1, 1]), ValueError, r"weight\[1\]=nan"),
        (torch.tensor([1.0, 1, -2, 1, 1, 1]), ValueError, r"weight\[2\]=-2\.0"),
        ([1.0] * 6, TypeError, "weight should be a tensor of per-sample weights"),
    ],
)
def test_per_sample_weight_rejected_before_seesaw_counts(weight, error, message) -> None:
    x, y = _batch()
    loss = LL.SeesawLoss(3)
    loss(x.float(), y)
    before = loss.cum_samples.clone()
    with pytest.raises(error, match=message):
        loss(x.float(), y, weight=weight)
    assert torch.equal(loss.cum_samples, before)
    with pytest.raises(error, match=message):
        LF.sigmoid_focal_loss(x, y, weight=weight)


@pytest.mark.parametrize("helper", [LW.inverse_frequency, LW.cost_sensitive, LW.effective_number])
def test_weight_helpers_take_float_dtypes_only(helper) -> None:
    with pytest.raises(TypeError, match=r"dtype should be a floating-point torch.dtype"):
        helper(COUNTS, dtype=torch.int64)
    with pytest.raises(TypeError, match=r"dtype should be a torch.dtype, but got dtype=5"):
        helper(COUNTS, dtype=5)
    assert helper(COUNTS, dtype=torch.float16).dtype == torch.float16


def test_drw_checks_its_dtype_and_epochs() -> None:
    with pytest.raises(TypeError, match="dtype should be a floating-point"):
        LW.drw(COUNTS, 200, dtype=torch.int32)
    with pytest.raises(TypeError, match="dtype should be a floating-point"):
        LW.DeferredReweighting(COUNTS, dtype=torch.int32)
    with pytest.raises(ValueError, match="epoch should be a non-negative integer"):
        LW.DeferredReweighting(COUNTS)(-1)
    assert LW.drw(COUNTS, np.int64(200)).shape == (3,)


def test_labels_any_integer_dtype() -> None:
    from longtail._validation import as_labels

    for dtype in (np.int8, np.uint8, np.int16, np.uint32, np.int64):
        assert as_labels(np.array([0, 2, 1], dtype=dtype)).dtype == np.int64
    with pytest.raises(ValueError, match="should fit in int64"):
        as_labels(np.array([2**63], dtype=np.uint64))
    with pytest.raises(TypeError, match="labels should hold integer class indices"):
        as_labels(np.array([0.0, 1.0]))


# --------------------------------------------------------------------------------------------
# NaN propagates to its row.

NAN_ROW_LOSSES = {
    "FocalLoss": (
        lambda: LL.FocalLoss(reduction="none"),
        lambda x, y: ref.focal(x, y, reduction="none"),
    ),
    "FocalLoss alpha": (
        lambda: LL.FocalLoss(gamma=0.5, alpha=[0.2, 1.0, 3.0], reduction="none"),
        lambda x, y: ref.focal(x, y, gamma=0.5, alpha=[0.2, 1.0, 3.0], reduction="none"),
    ),
    "LDAMLoss": (
        lambda: LL.LDAMLoss(COUNTS, reduction="none"),
        lambda x, y: ref.ldam(x, y, COUNTS, reduction="none"),
    ),
    "BalancedSoftmaxLoss": (
        lambda: LL.BalancedSoftmaxLoss(COUNTS, reduction="none"),
        lambda x, y: ref.balanced_softmax(x, y, COUNTS, reduction="none"),
    ),
}


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize(("make", "oracle"), NAN_ROW_LOSSES.values(), ids=NAN_ROW_LOSSES.keys())
def test_nan_logit_gives_nan_in_its_row_only(make, oracle, dtype) -> None:
    x, y = _batch(n=8, seed=3)
    x[2, 1] = math.nan
    got = make()(x.to(dtype), y)
    want = oracle(x, y)
    assert torch.isnan(got[2]) and torch.isnan(want[2])
    keep = torch.arange(8) != 2
    torch.testing.assert_close(got[keep].double(), want[keep], rtol=1e-5, atol=1e-6)
    assert torch.isnan(got.sum())


def test_nan_logit_gives_nan_mean() -> None:
    x, y = _batch()
    x[0, 0] = math.nan
    assert torch.isnan(LF.focal_loss(x, y)) and torch.isnan(LF.focal_loss(x, y, gamma=0.0))


def test_stateful_losses_reject_nan_and_keep_state() -> None:
    x, y = _batch()
    x = x.float()
    bad = x.clone()
    bad[1, 2] = math.nan
    seesaw = LL.SeesawLoss(3)
    seesaw(x, y)
    before = seesaw.cum_samples.clone()
    with pytest.raises(ValueError, match="input should not contain NaN"):
        seesaw(bad, y)
    assert torch.equal(seesaw.cum_samples, before)
    eql = LL.EQLv2Loss(2)
    eql(x, y.clamp(max=2))
    state = {k: v.clone() for k, v in eql.state_dict().items()}
    with pytest.raises(ValueError, match="input should not contain NaN"):
        eql(bad, y.clamp(max=2))
    for k, v in eql.state_dict().items():
        assert torch.equal(v, state[k])


# --------------------------------------------------------------------------------------------
# Valid edge input.


@pytest.mark.parametrize("dtype", [torch.int8, torch.int16, torch.uint8, torch.int32])
def test_small_integer_targets(dtype) -> None:
    counts = [5, 50, 500, 5000]
    g = torch.Generator().manual_seed(0)
    x = torch.randn(6, 10, generator=g, dtype=torch.float64)
    y = torch.tensor([0, 1, 4, 4, 2, 3])
    keep = torch.ones(6, 5, dtype=torch.bool)
    loss = LL.GroupSoftmaxLoss(counts)
    torch.testing.assert_close(loss(x, y.to(dtype), keep=keep), loss(x, y, keep=keep))
    want = refd.group_softmax(x, y, refd.bags_groups(counts), keep)
    torch.testing.assert_close(loss(x, y.to(dtype), keep=keep), want)
    xs, ys = _batch(seed=5)
    a, b = LL.SeesawLoss(3), LL.SeesawLoss(3)
    torch.testing.assert_close(a(xs, ys.to(dtype)), b(xs, ys))
    assert torch.equal(a.cum_samples, b.cum_samples)


def test_logit_adjusted_counts_near_float64_max() -> None:
    x, y = _batch()
    want = ref.logit_adjusted(x, y, [1.0, 1.0, 1.0])
    torch.testing.assert_close(LL.LogitAdjustedLoss([1e308] * 3)(x, y), want)
    torch.testing.assert_close(
        LF.logit_adjusted_loss(x, y, [1e308, 5e307, 1e307]),
        ref.logit_adjusted(x, y, [10.0, 5.0, 1.0]),
    )
    torch.testing.assert_close(LW.inverse_frequency([1e308] * 4), torch.full((4,), 4.0))


def test_softmax_equalization_dropped_logit_far_above() -> None:
    x = torch.tensor([[0.0, 120.0, 0.0]], requires_grad=True)
    freq = [0.5, 0.0001, 0.5]
    loss = LF.softmax_equalization_loss(x, torch.tensor([0]), freq, beta=torch.ones(1, 3))
    torch.testing.assert_close(loss, torch.tensor(math.log(2.0)))
    loss.backward()
    torch.testing.assert_close(x.grad, torch.tensor([[-0.5, 0.0, 0.5]]))
    # The same mask through the Module and with a float 0/1 beta.
    m = LL.SoftmaxEqualizationLoss(freq)
    torch.testing.assert_close(m(x.detach(), torch.tensor([0]), beta=torch.ones(1, 3)), loss)
    with pytest.raises(ValueError, match="beta should hold only 0 and 1"):
        m(x.detach(), torch.tensor([0]), beta=torch.full((1, 3), 0.5))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_low_precision_logits_get_float32_parameters(dtype) -> None:
    # Inverse-frequency weights above float16's max (65504) must survive: the kernel is float32.
    x, y = _batch(n=8)
    counts = [1e6, 1.0, 2.0]
    got = LF.weighted_cross_entropy(x.to(dtype), y, counts)
    want = LF.weighted_cross_entropy(x.to(dtype).float(), y, counts)
    assert got.dtype == dtype
    torch.testing.assert_close(got.float(), want.to(dtype).float())
    got = LF.focal_loss(x.to(dtype), y, weight=[1e5, 1.0, 2.0])
    assert torch.isfinite(got)


@pytest.mark.parametrize("scale", [1e20, 1e-25, 1.0])
@pytest.mark.parametrize("tau", [1.0, 0.5, 2.0])
def test_tau_normalize_extreme_scales(scale, tau) -> None:
    g = torch.Generator().manual_seed(0)
    base = torch.randn(4, 6, generator=g, dtype=torch.float64)
    w = (base * scale).float()
    got = tau_normalize(w, tau).double()
    if tau == 1.0:
        torch.testing.assert_close(
            torch.linalg.vector_norm(got, dim=1), torch.ones(4, dtype=torch.float64)
        )
    w64 = base * scale
    want = w64 / torch.linalg.vector_norm(w64, dim=1, keepdim=True).pow(tau)
    if torch.isfinite(want.float()).all() and (want.abs() > 1e-30).all():
        torch.testing.assert_close(got, want, rtol=1e-5, atol=0)


def test_tau_normalize_gradient_is_exact() -> None:
    w = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    for tau in (0.7, 1.0):
        torch.autograd.gradcheck(lambda v, tau=tau: tau_normalize(v, tau), (w,))


# --------------------------------------------------------------------------------------------
# Readers and CLI.


def _write_json(path: Path, data) -> Path:
    path.write_text(json.dumps(data))
    return path


def _inat(images, annotations, categories=({"id": 0}, {"id": 1})) -> dict:
    return {
        "images": list(images),
        "annotations": list(annotations),
        "categories": list(categories),
    }


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            _inat(
                [{"id": 1, "file_name": "a"}, {"id": 1, "file_name": "b"}],
                [{"image_id": 1, "category_id": 0}],
            ),
            r"'images' should have unique ids, but id=1 repeats",
        ),
        (
            _inat(
                [{"id": 1, "file_name": "a"}],
                [{"image_id": 1, "category_id": 0}],
                [{"id": 0}, {"id": 0}],
            ),
            r"'categories' should have unique ids, but id=0 repeats",
        ),
        (
            _inat(
                [{"id": 1, "file_name": "a"}],
                [{"image_id": 1, "category_id": 0}, {"image_id": 1, "category_id": 1}],
            ),
            r"image_id=1 should have one annotation, but it has several",
        ),
        (
            _inat([{"id": 1, "file_name": None}], [{"image_id": 1, "category_id": 0}]),
            r"'file_name' of image id=1 should be a non-empty string, but got file_name=None",
        ),
        (
            _inat([{"id": 1.5, "file_name": "a"}], [{"image_id": 1, "category_id": 0}]),
            r"'id' in 'images' should be an integer id, but got id=1\.5",
        ),
    ],
)
def test_read_inaturalist_rejects(tmp_path: Path, data, message) -> None:
    with pytest.raises(ValueError, match=message):
        read_inaturalist(_write_json(tmp_path / "inat.json", data))


def test_read_lvis_rejects_duplicate_ids(tmp_path: Path) -> None:
    data = {
        "images": [{"id": 1}, {"id": 1}],
        "annotations": [{"image_id": 1, "category_id": 1}],
        "categories": [{"id": 1, "name": "a"}],
    }
    with pytest.raises(ValueError, match=r"'images' should have unique ids, but id=1 repeats"):
        read_lvis(_write_json(tmp_path / "lvis.json", data))
    data["images"] = [{"id": 1}]
    data["categories"] = [{"id": 1, "name": "a"}, {"id": 1, "name": "b"}]
    with pytest.raises(ValueError, match=r"'categories' should have unique ids, but id=1"):
        read_lvis(_write_json(tmp_path / "lvis.json", data))


def test_json_errors_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "latin.json"
    path.write_bytes('{"images": [{"id": 1, "file_name": "é"}]}'.encode("latin-1"))
    with pytest.raises(ValueError, match=r"latin\.json should be UTF-8 JSON, but byte \d+"):
        read_inaturalist(path)
    path = tmp_path / "deep.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ValueError, match=r"deep\.json .*nests too deeply"):
        read_lvis(path)
    path = tmp_path / "inf.json"
    path.write_text(
        '{"images": [{"id": 1e400, "file_name": "a"}], "annotations": [], "categories": []}'
    )
    with pytest.raises(ValueError, match=r"should be an integer id, but got id=inf"):
        read_inaturalist(path)


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symlinks")
def test_image_folder_symlink_loop_counts_each_file_once(tmp_path: Path) -> None:
    (tmp_path / "cat" / "sub").mkdir(parents=True)
    (tmp_path / "dog").mkdir()
    (tmp_path / "cat" / "a.jpg").write_bytes(b"")
    (tmp_path / "cat" / "sub" / "b.png").write_bytes(b"")
    (tmp_path / "dog" / "c.jpg").write_bytes(b"")
    os.symlink(tmp_path / "cat", tmp_path / "cat" / "sub" / "loop")
    os.symlink(tmp_path / "cat" / "a.jpg", tmp_path / "cat" / "alias.jpg")
    labels, classes = image_folder_labels(tmp_path)
    assert classes == ["cat", "dog"]
    assert labels.tolist() == [0, 0, 1]


def test_read_labels_over_long_integer_and_empty_npy(tmp_path: Path) -> None:
    (tmp_path / "long.txt").write_text("1\n" + "9" * 30 + "\n")
    with pytest.raises(ValueError, match=r"row 2 should be a non-negative integer label"):
        read_labels(tmp_path / "long.txt")
    (tmp_path / "edge.txt").write_text("9223372036854775808\n")
    with pytest.raises(ValueError, match=r"row 1 should be a label that fits in int64"):
        read_labels(tmp_path / "edge.txt")
    (tmp_path / "ok.txt").write_text("9223372036854775807\n")
    assert read_labels(tmp_path / "ok.txt").tolist() == [2**63 - 1]
    (tmp_path / "empty.npy").write_bytes(b"")
    with pytest.raises(ValueError, match=r"empty\.npy is not a NumPy array file"):
        read_labels(tmp_path / "empty.npy")


def _cli_error(capsys, *argv) -> str:
    status = main([str(a) for a in argv])
    _, err = capsys.readouterr()
    assert status == 1
    assert len(err.splitlines()) == 1 and err.startswith(f"longtail {argv[0]}: error: ")
    return err


def test_cli_one_line_errors(capsys, tmp_path: Path) -> None:
    (tmp_path / "long.txt").write_text("9" * 5000 + "\n")
    assert "row 1" in _cli_error(capsys, "stats", tmp_path / "long.txt")
    (tmp_path / "empty.npy").write_bytes(b"")
    assert "empty.npy" in _cli_error(capsys, "stats", tmp_path / "empty.npy")
    (tmp_path / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    assert "nests too deeply" in _cli_error(capsys, "stats", tmp_path / "deep.json")
    (tmp_path / "inf.json").write_text(
        '{"images": [{"id": 1, "file_name": "a"}], "annotations": [{"image_id": 1, '
        '"category_id": 1}], "categories": [{"id": 1e400}]}'
    )
    assert "id=inf" in _cli_error(capsys, "stats", tmp_path / "inf.json")
    assert "--runs should be a positive integer" in _cli_error(capsys, "demo", "--runs", "0")
    assert "--epochs should be a positive integer" in _cli_error(capsys, "demo", "--epochs", "0")
    assert "--device should be a torch device" in _cli_error(capsys, "demo", "--device", "bogus")
    if not torch.cuda.is_available():
        assert "needs a CUDA GPU" in _cli_error(capsys, "demo", "--device", "cuda")
        assert "needs a CUDA GPU" in _cli_error(capsys, "demo", "--device", "cuda:0")


# --------------------------------------------------------------------------------------------
# Transactional prepare_crt.


class _NoReset(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(2, 3))


class _FailingReset(torch.nn.Linear):
    def reset_parameters(self) -> None:
        if hasattr(self, "armed"):
            raise RuntimeError("reset failed")
        super().reset_parameters()


@pytest.mark.parametrize("head", [_NoReset, lambda: _FailingReset(3, 2)])
def test_prepare_crt_leaves_requires_grad_when_it_raises(head) -> None:
    torch.manual_seed(0)  # the behaviour under test re-initialises from the global generator
    classifier = head()
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), classifier)
    model[0].bias.requires_grad_(False)
    if isinstance(classifier, _FailingReset):
        classifier.armed = True
    flags = [p.requires_grad for p in model.parameters()]
    with pytest.raises((ValueError, RuntimeError)):
        prepare_crt(model, classifier)
    assert [p.requires_grad for p in model.parameters()] == flags
    if isinstance(classifier, _NoReset):
        params = prepare_crt(model, classifier, reinitialize=False)
        assert [p.requires_grad for p in model[0].parameters()] == [False, False]
        assert all(p.requires_grad for p in params)


@pytest.mark.parametrize("counts", [5.0, 0, np.float64(3.0), torch.tensor(4.0)])
def test_scalar_counts_are_not_vectors(counts) -> None:
    with pytest.raises(ValueError, match=r"class_counts should be a non-empty 1-D sequence"):
        LW.inverse_frequency(counts)
    with pytest.raises(ValueError, match=r"class_counts should be a non-empty 1-D sequence"):
        stats.gini(counts)


def test_huge_counts_in_statistics() -> None:
    assert stats.gini([1e308, 1e308, 1e308]) == 0.0
    assert stats.gini([3e307, 0, 0]) == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="class_counts should have a finite total"):
        stats.describe([1e308, 1e308])


def test_bounds_that_keep_float32_weights_finite() -> None:
    x, y = _batch()
    with pytest.raises(ValueError, match=r"alpha should be <= .*but got alpha=1e\+308"):
        LL.EQLv2Loss(2, alpha=1e308)
    with pytest.raises(ValueError, match=r"alpha should be >= 0\.0"):
        LF.eqlv2_loss(torch.randn(6, 3), y.clamp(max=2), torch.ones(2), alpha=-1.0)
    with pytest.raises(ValueError, match=r"gamma should be >= 0\.0"):
        LL.EQLv2Loss(2, gamma=-1.0)
    with pytest.raises(ValueError, match=r"weight should be finite in the compute dtype"):
        LF.weighted_cross_entropy(x.float(), y, weight=1e308)
    with pytest.raises(ValueError, match=r"dtype should hold the weights"):
        LW.inverse_frequency([1e300, 1.0], dtype=torch.float32)


@pytest.mark.parametrize("avg_factor", [0.0, 1e-300, torch.tensor(0.0)])
def test_vanishing_avg_factor_divides_by_eps_as_mmdetection(avg_factor) -> None:
    """mmdetection divides by ``avg_factor + eps``: a zero or vanishing factor never gives inf,
    and with all-zero weights the loss is 0 (not 0/0)."""
    x, y = _batch()
    loss = LF.sigmoid_focal_loss(x, y, avg_factor=avg_factor)
    total = LF.sigmoid_focal_loss(x, y, reduction="sum")
    eps = torch.finfo(torch.float32).eps
    assert torch.isfinite(loss)
    torch.testing.assert_close(loss, total / (float(avg_factor) + eps))
    zero = LF.sigmoid_focal_loss(x, y, weight=torch.zeros(x.shape[0]), avg_factor=avg_factor)
    assert zero.item() == 0.0


def test_module_weight_checked_again_after_any_change() -> None:
    """The Module checks its weight once per tensor and version: a new tensor, or an in-place
    edit of the same one, is checked again before the kernel sees it."""
    x, y = _batch()
    loss = LL.BalancedSoftmaxLoss([50, 10, 2], weight=torch.ones(3))
    first = loss(x, y)
    assert torch.equal(loss(x, y), first)
    with torch.no_grad():
        loss.weight[1] = math.nan
    with pytest.raises(ValueError, match="weight"):
        loss(x, y)
    loss.weight = torch.tensor([1.0, -1.0, 1.0])
    with pytest.raises(ValueError, match="weight"):
        loss(x, y)
    loss.weight = torch.ones(3)
    torch.testing.assert_close(loss(x, y), first)
