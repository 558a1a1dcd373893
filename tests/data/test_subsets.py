"""long_tailed_counts and long_tailed_subset: the CIFAR-LT arithmetic and selection of the
reference code (longtail/data/subsets.py)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from longtail.data import long_tailed_counts, long_tailed_subset


def reference_counts(cls_num: int, imb_type: str, imb_factor: float, img_max: int) -> list[int]:
    """The per-class count loop of LDAM-DRW's ``get_img_num_per_cls``, re-typed as an oracle
    (``imb_factor = 1 / imbalance_ratio``)."""
    out = []
    if imb_type == "exp":
        for i in range(cls_num):
            out.append(int(img_max * (imb_factor ** (i / (cls_num - 1.0)))))
    else:
        out += [int(img_max)] * (cls_num // 2) + [int(img_max * imb_factor)] * (cls_num // 2)
    return out


# Training-set sizes reported for CIFAR-LT (LDAM-DRW, logit adjustment `num_train`, BALMS).
KNOWN_TOTALS = {
    (10, 10): 20431,
    (10, 50): 13996,
    (10, 100): 12406,
    (10, 200): 11203,
    (100, 10): 19573,
    (100, 50): 12608,
    (100, 100): 10847,
    (100, 200): 9502,
}


@pytest.mark.parametrize(("num_classes", "ratio"), sorted(KNOWN_TOTALS))
def test_cifar_lt_totals(num_classes: int, ratio: int) -> None:
    counts = long_tailed_counts(num_classes, ratio, 50000 // num_classes)
    assert sum(counts) == KNOWN_TOTALS[num_classes, ratio]
    assert counts[0] == 50000 // num_classes
    assert counts[-1] == 50000 // num_classes // ratio
    assert all(a >= b for a, b in itertools.pairwise(counts))


@pytest.mark.parametrize("profile", ["exp", "step"])
@pytest.mark.parametrize("num_classes", [10, 100])
@pytest.mark.parametrize("ratio", [10, 50, 100, 200])
def test_counts_match_reference_arithmetic(profile: str, num_classes: int, ratio: int) -> None:
    n_max = 50000 // num_classes
    expected = reference_counts(num_classes, profile, 1 / ratio, n_max)
    assert long_tailed_counts(num_classes, ratio, n_max, profile=profile) == expected


def test_counts_truncate_not_round() -> None:
    # 500 * 0.01 ** (2/99) = 455.58..., 500 * 0.01 ** (7/99) = 361.04...: int() truncates.
    counts = long_tailed_counts(100, 100, 500)
    assert counts[:3] == [500, 477, 455] and counts[7] == 361 and counts[99] == 5


def test_step_profile_and_edge_cases() -> None:
    assert long_tailed_counts(4, 10, 100, profile="step") == [100, 100, 10, 10]
    # Odd C: the extra class is a tail class (the reference returns only C - 1 counts).
    assert long_tailed_counts(5, 4, 100, profile="step") == [100, 100, 25, 25, 25]
    assert long_tailed_counts(1, 100, 37) == [37]
    assert long_tailed_counts(6, 1, 20) == [20] * 6
    assert long_tailed_counts(3, 2.5, 10) == [10, 6, 4]


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "fragment"),
    [
        ((10, 0.5, 500), {}, ValueError, "imbalance_ratio should be a finite number >= 1"),
        ((10, float("inf"), 500), {}, ValueError, "imbalance_ratio=inf"),
        ((10, "100", 500), {}, TypeError, "imbalance_ratio should be a real number"),
        ((0, 100, 500), {}, ValueError, "num_classes should be a positive integer"),
        ((10.0, 100, 500), {}, TypeError, "num_classes should be an integer"),
        ((10, 100, 0), {}, ValueError, "n_max should be a positive integer"),
        ((10, 100, 500), {"profile": "linear"}, ValueError, "profile should be one of"),
    ],
)
def test_counts_errors(args, kwargs, error, fragment) -> None:
    with pytest.raises(error, match=fragment):
        long_tailed_counts(*args, **kwargs)


def reference_subset(labels: np.ndarray, counts: list[int], seed: int) -> np.ndarray:
    """LDAM-DRW's ``gen_imbalanced_data`` selection: ``np.random.seed``, then per class a global
    ``np.random.shuffle`` of that class's indices, keeping the first ``n_i``."""
    state = np.random.get_state()
    try:
        np.random.seed(seed)
        out = []
        for c, n in zip(np.unique(labels), counts, strict=True):
            idx = np.where(labels == c)[0]
            np.random.shuffle(idx)
            out.append(idx[:n])
        return np.concatenate(out)
    finally:
        np.random.set_state(state)


@pytest.mark.parametrize("seed", [0, 1, 123])
@pytest.mark.parametrize("profile", ["exp", "step"])
def test_subset_matches_reference_selection(seed: int, profile: str) -> None:
    rng = np.random.default_rng(5)
    labels = rng.permutation(np.repeat(np.arange(10), 300))
    got = long_tailed_subset(labels, 20, profile=profile, seed=seed)
    expected = reference_subset(labels, long_tailed_counts(10, 20, 300, profile), seed)
    np.testing.assert_array_equal(got, expected)


def test_subset_follows_profile_and_is_deterministic() -> None:
    labels = np.repeat(np.arange(10), 500)
    a = long_tailed_subset(labels, 100, seed=3)
    b = long_tailed_subset(torch.from_numpy(labels), 100, seed=3)
    c = long_tailed_subset(labels.tolist(), 100, seed=4)
    np.testing.assert_array_equal(a, b)
    assert a.dtype == np.int64
    assert len(np.unique(a)) == len(a)
    assert np.bincount(labels[a]).tolist() == long_tailed_counts(10, 100, 500)
    assert np.bincount(labels[c]).tolist() == np.bincount(labels[a]).tolist()
    assert not np.array_equal(np.sort(a), np.sort(c))
    # Grouped by class, in class order (the reference's new data order).
    assert (np.diff(labels[a]) >= 0).all()


def test_subset_class_order_and_n_max() -> None:
    # Class ids need not be contiguous: the smallest present id is the head.
    labels = np.array([7] * 40 + [3] * 50 + [9] * 45)
    idx = long_tailed_subset(labels, 10, seed=0)
    assert [int((labels[idx] == c).sum()) for c in (3, 7, 9)] == long_tailed_counts(3, 10, 40)
    idx = long_tailed_subset(labels, 10, seed=0, n_max=20)
    assert [int((labels[idx] == c).sum()) for c in (3, 7, 9)] == [20, 6, 2]
    with pytest.raises(
        ValueError, match="n_max=60 asks for 60 samples of class 3, which has only 50"
    ):
        long_tailed_subset(labels, 10, n_max=60)
    with pytest.raises(ValueError, match="labels should not be empty"):
        long_tailed_subset([], 10)
    with pytest.raises(TypeError, match="labels should hold integer class indices"):
        long_tailed_subset([0.5, 1.0], 10)
    with pytest.raises(ValueError, match="seed should be a non-negative integer"):
        long_tailed_subset(labels, 10, seed=-1)
