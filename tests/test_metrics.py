"""shot_accuracy, balanced_accuracy and the streaming ShotAccuracy (also across 2 gloo ranks)."""

from __future__ import annotations

import math
import os
import warnings

import numpy as np
import pytest
import torch
import torch.distributed as dist
from _distributed import run_gloo_ranks
from longtail.metrics import ShotAccuracy, balanced_accuracy, shot_accuracy

# Four classes: 0 many (500 > 100), 1 medium (100: the bound is medium), 2 medium (20),
# 3 few (19 < 20).
TRAIN_COUNTS = [500, 100, 20, 19]
TARGETS = torch.tensor([0, 0, 0, 0, 1, 1, 2, 2, 2, 3])
PREDS = torch.tensor([0, 0, 0, 1, 1, 0, 2, 0, 0, 3])


def test_hand_computed_values() -> None:
    acc = shot_accuracy(PREDS, TARGETS, TRAIN_COUNTS)
    assert set(acc) == {"overall", "many", "medium", "few", "per_class"}
    # per class: 3/4, 1/2, 1/3, 1/1; overall: 6 correct of 10.
    torch.testing.assert_close(
        acc["per_class"], torch.tensor([0.75, 0.5, 1 / 3, 1.0], dtype=torch.float64)
    )
    assert acc["overall"] == pytest.approx(0.6)
    assert acc["many"] == pytest.approx(0.75)
    assert acc["medium"] == pytest.approx((0.5 + 1 / 3) / 2)  # mean of classes, not of samples
    assert acc["few"] == pytest.approx(1.0)


def test_logits_are_argmaxed_and_numpy_accepted() -> None:
    logits = torch.nn.functional.one_hot(PREDS, 4).double() * 3 - 1
    a = shot_accuracy(logits, TARGETS, TRAIN_COUNTS)
    b = shot_accuracy(PREDS.numpy(), TARGETS.numpy().tolist(), np.array(TRAIN_COUNTS))
    for key in ("overall", "many", "medium", "few"):
        assert a[key] == b[key]
    torch.testing.assert_close(a["per_class"], b["per_class"])


def test_configurable_thresholds() -> None:
    acc = shot_accuracy(PREDS, TARGETS, TRAIN_COUNTS, many=99, few=21)
    # many: classes 0 and 1; medium: none; few: classes 2 and 3.
    assert acc["many"] == pytest.approx((0.75 + 0.5) / 2)
    assert math.isnan(acc["medium"])
    assert acc["few"] == pytest.approx((1 / 3 + 1.0) / 2)


def test_empty_groups_and_absent_classes_are_nan_without_warning() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        acc = shot_accuracy(torch.tensor([0, 1]), torch.tensor([0, 0]), [500, 5])
    # Class 1 has no test sample: nan per class, and the few group (only class 1) is nan.
    assert acc["per_class"][0] == 0.5 and math.isnan(acc["per_class"][1])
    assert acc["overall"] == 0.5 and acc["many"] == 0.5
    assert math.isnan(acc["medium"]) and math.isnan(acc["few"])
    empty = shot_accuracy(
        torch.zeros(0, dtype=torch.long), torch.zeros(0, dtype=torch.long), [5, 5]
    )
    assert all(math.isnan(empty[k]) for k in ("overall", "many", "medium", "few"))


def oracle(preds: np.ndarray, targets: np.ndarray, counts: np.ndarray, many: float, few: float):
    """Per-class loop: the accuracy of each test class, grouped by its training count."""
    groups: dict[str, list[float]] = {"many": [], "medium": [], "few": []}
    for c in np.unique(targets):
        acc = float(np.mean(preds[targets == c] == c))
        key = "many" if counts[c] > many else "few" if counts[c] < few else "medium"
        groups[key].append(acc)
    out = {k: float(np.mean(v)) if v else math.nan for k, v in groups.items()}
    out["overall"] = float(np.mean(preds == targets))
    return out


@pytest.mark.parametrize("seed", range(5))
def test_against_per_class_oracle(seed: int) -> None:
    rng = np.random.default_rng(seed)
    counts = rng.integers(1, 300, size=30)
    targets = rng.integers(0, 30, size=400)
    preds = np.where(rng.random(400) < 0.6, targets, rng.integers(0, 30, size=400))
    got = shot_accuracy(torch.from_numpy(preds), torch.from_numpy(targets), counts, 150, 40)
    expected = oracle(preds, targets, counts, 150, 40)
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, nan_ok=True), key


def test_balanced_accuracy_matches_sklearn() -> None:
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    targets = rng.integers(0, 7, size=200)
    preds = np.where(rng.random(200) < 0.5, targets, rng.integers(0, 7, size=200))
    expected = sklearn_metrics.balanced_accuracy_score(targets, preds)
    assert balanced_accuracy(torch.from_numpy(preds), targets) == pytest.approx(expected)
    assert balanced_accuracy(torch.tensor([0, 0, 0, 0]), torch.tensor([0, 0, 0, 1])) == 0.5
    assert balanced_accuracy(PREDS, TARGETS, num_classes=4) == pytest.approx(
        (0.75 + 0.5 + 1 / 3 + 1.0) / 4
    )


@pytest.mark.parametrize(
    ("input", "target", "error", "fragment"),
    [
        (
            torch.zeros(3, dtype=torch.long),
            torch.zeros(4, dtype=torch.long),
            ValueError,
            "logits_or_preds and targets should have the same length, but got 3 predictions and 4 "
            "targets",
        ),
        (
            torch.zeros(2, 4, 1),
            torch.zeros(2, dtype=torch.long),
            ValueError,
            r"should be logits of shape \(N, C\) or predictions of shape \(N,\)",
        ),
        (
            torch.zeros(2),
            torch.zeros(2, dtype=torch.long),
            TypeError,
            r"of shape \(N,\) should be integer predictions",
        ),
        (
            torch.zeros(2, dtype=torch.long),
            torch.zeros(2),
            TypeError,
            "targets should hold integer class indices",
        ),
        (
            torch.zeros(2, dtype=torch.long),
            torch.tensor([0, 4]),
            ValueError,
            r"targets should be class indices in \[0, 4\), but got targets\[1\]=4",
        ),
        (
            torch.zeros(2, dtype=torch.long),
            torch.zeros(2, 1, dtype=torch.long),
            ValueError,
            "targets should be 1-D",
        ),
    ],
)
def test_errors(input, target, error, fragment) -> None:
    with pytest.raises(error, match=fragment):
        shot_accuracy(input, target, TRAIN_COUNTS)
    metric = ShotAccuracy(TRAIN_COUNTS)
    with pytest.raises(error, match=fragment):
        metric.update(input, target)


def test_argument_errors() -> None:
    with pytest.raises(
        ValueError,
        match=r"train_class_counts should be non-negative, "
        r"but got train_class_counts\[1\]=-1.0",
    ):
        shot_accuracy(PREDS, TARGETS, [5, -1, 3, 3])
    with pytest.raises(ValueError, match="train_class_counts should be a non-empty 1-D"):
        ShotAccuracy([])
    with pytest.raises(ValueError, match="few should be <= many"):
        shot_accuracy(PREDS, TARGETS, TRAIN_COUNTS, many=10, few=50)
    with pytest.raises(ValueError, match="many should be a non-negative number"):
        ShotAccuracy(TRAIN_COUNTS, many=-1)


def test_streaming_equals_one_shot() -> None:
    rng = np.random.default_rng(1)
    counts = rng.integers(1, 300, size=12)
    logits = torch.from_numpy(rng.normal(size=(250, 12)))
    targets = torch.from_numpy(rng.integers(0, 12, size=250))
    metric = ShotAccuracy(counts, many=120, few=30)
    for lo in range(0, 250, 64):
        metric.update(logits[lo : lo + 64], targets[lo : lo + 64])
    streamed, whole = metric.compute(), shot_accuracy(logits, targets, counts, 120, 30)
    for key in ("overall", "many", "medium", "few"):
        assert streamed[key] == pytest.approx(whole[key])
    torch.testing.assert_close(streamed["per_class"], whole["per_class"], equal_nan=True)
    assert "seen=250" in repr(metric)
    assert metric.compute()["overall"] == streamed["overall"]  # compute() does not consume
    metric.reset()
    assert math.isnan(metric.compute()["overall"])


def _ddp_worker(rank: int, world: int, out_dir: str) -> None:
    preds, targets = PREDS[rank::world], TARGETS[rank::world]
    metric = ShotAccuracy(TRAIN_COUNTS)
    metric.update(preds, targets)
    synced = metric.compute()
    local = ShotAccuracy(TRAIN_COUNTS, sync=False)
    local.update(preds, targets)
    result = (rank, synced["overall"], synced["per_class"].tolist(), local.compute()["overall"])
    torch.save(result, os.path.join(out_dir, f"rank{rank}.pt"))


def test_compute_all_reduces_when_distributed_is_initialised(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls = []

    def fake_all_reduce(tensor, op):
        calls.append(op)
        tensor[1, 3] += 1  # another rank saw one class-3 sample and got it wrong

    monkeypatch.setattr(dist, "is_initialized", lambda: True)
    monkeypatch.setattr(dist, "all_reduce", fake_all_reduce)
    metric = ShotAccuracy(TRAIN_COUNTS)
    metric.update(PREDS, TARGETS)
    result = metric.compute()
    assert calls == [dist.ReduceOp.SUM]
    assert result["overall"] == pytest.approx(6 / 11)
    assert result["few"] == pytest.approx(0.5)
    assert metric.total.sum() == 10  # the local counts are left as they are
    unsynced = ShotAccuracy(TRAIN_COUNTS, sync=False)
    unsynced.update(PREDS, TARGETS)
    unsynced.compute()
    assert len(calls) == 1


@pytest.mark.slow
def test_ddp_sums_over_ranks(tmp_path) -> None:
    run_gloo_ranks(_ddp_worker, 2, tmp_path)
    results = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(2)]
    whole = shot_accuracy(PREDS, TARGETS, TRAIN_COUNTS)
    for _, overall, per_class, _ in results:
        assert overall == pytest.approx(whole["overall"])
        assert per_class == pytest.approx(whole["per_class"].tolist())
    # Each rank alone sees a different half.
    assert results[0][3] != results[1][3]
