"""describe, gini and the plots."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from longtail.stats import (
    LVIS_NAMES,
    describe,
    gini,
    plot_class_histogram,
    plot_per_class_accuracy,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_gini_known_values() -> None:
    assert gini([10, 10, 10]) == 0.0
    assert gini([30, 0, 0]) == pytest.approx(2 / 3)
    # Σ_i Σ_j |x_i - x_j| = 20, C = 4, mean 2.5: 20 / (2 · 16 · 2.5) = 0.25.
    assert gini([4, 1, 3, 2]) == pytest.approx(0.25)
    assert gini(torch.tensor([7.0])) == 0.0


def test_gini_matches_pairwise_definition() -> None:
    x = np.random.default_rng(0).integers(0, 1000, size=57).astype(float)
    pairwise = np.abs(x[:, None] - x[None, :]).sum() / (2 * x.size**2 * x.mean())
    assert gini(x) == pytest.approx(pairwise)


def test_describe_known_input() -> None:
    s = describe([500, 100, 20, 19, 5])
    assert (s.num_classes, s.num_samples, s.empty_classes) == (5, 644, 0)
    assert (s.max_count, s.median_count, s.min_count) == (500, 20, 5)
    assert s.imbalance_ratio == 100.0
    assert (s.many_classes, s.medium_classes, s.few_classes) == (1, 2, 2)
    assert s.head_share == pytest.approx(500 / 644)
    assert s.medium_share == pytest.approx(120 / 644)
    assert s.tail_share == pytest.approx(24 / 644)
    assert s.gini == pytest.approx(gini([500, 100, 20, 19, 5]))
    text = str(s)
    assert re.search(r"imbalance ratio \(max / min\) +100.00\n", text)
    assert "many classes (n > 100)" in text and "few classes (n < 20)" in text
    assert s.to_dict()["few_classes"] == 2


def test_describe_balanced_and_empty_classes() -> None:
    s = describe(np.full(10, 30))
    assert s.imbalance_ratio == 1.0 and s.gini == 0.0 and s.medium_classes == 10
    s = describe([10, 0, 5], many=8, few=6)
    assert s.empty_classes == 1 and s.imbalance_ratio == 2.0 and s.min_count == 5
    assert (s.many_classes, s.medium_classes, s.few_classes) == (1, 0, 2)
    assert "empty classes (n = 0)" in str(s)


def test_describe_lvis_groups() -> None:
    s = describe([1, 10, 11, 100, 101], many=100, few=11, group_names=LVIS_NAMES)
    assert (s.many_classes, s.medium_classes, s.few_classes) == (1, 2, 2)
    assert "rare classes (n < 11)" in str(s) and "frequent classes (n > 100)" in str(s)


@pytest.mark.parametrize(
    ("counts", "error", "fragment"),
    [
        ([], ValueError, "class_counts should be a non-empty 1-D"),
        ([[1, 2]], ValueError, "class_counts should be a non-empty 1-D"),
        ([3, -1], ValueError, r"class_counts\[1\]=-1.0"),
        ([3, float("nan")], ValueError, "should be finite"),
        ([0, 0], ValueError, "should have a positive total"),
        (["a", "b"], TypeError, "class_counts should hold real numbers"),
    ],
)
def test_describe_errors(counts, error, fragment) -> None:
    with pytest.raises(error, match=fragment):
        describe(counts)


def test_plots_write_png(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    counts = [500, 300, 120, 100, 50, 20, 19, 5, 1]
    fig = plot_class_histogram(counts, path=tmp_path / "hist.png")
    ax = fig.axes[0]
    assert ax.get_yscale() == "log"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "many: 3 classes",
        "medium: 3 classes",
        "few: 3 classes",
    ]
    # Bars are drawn sorted from the largest class.
    heights = [p.get_height() for p in ax.patches if p.get_width() == 1.0]
    assert heights == sorted(counts, reverse=True)
    assert (tmp_path / "hist.png").read_bytes()[:8] == PNG_MAGIC

    acc = {"CE": np.linspace(1, 0, 9), "BS": torch.full((9,), 0.5)}
    acc["CE"][4] = np.nan  # a class without test samples is skipped
    fig = plot_per_class_accuracy(acc, counts, path=tmp_path / "acc.png")
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    assert [len(line.get_xdata()) for line in ax.get_lines()] == [8, 9]
    assert (tmp_path / "acc.png").read_bytes()[:8] == PNG_MAGIC
    single = plot_per_class_accuracy(np.ones(9), counts)
    assert single.axes[0].get_lines()[0].get_label() == "accuracy"
    with pytest.raises(
        ValueError,
        match=r"per_class_accuracy\['CE'\] should have one entry per "
        r"class \(9\), but got shape \(3,\)",
    ):
        plot_per_class_accuracy({"CE": [1, 1, 1]}, counts)


def test_plots_without_matplotlib_name_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ImportError, match=r"plotting needs matplotlib.*longtail\[demo\]"):
        plot_class_histogram([5, 1])


def test_describe_cifar100_lt_split() -> None:
    from longtail.data import long_tailed_counts

    # CIFAR-100-LT at ratio 100 has the commonly reported 35 / 35 / 30 many / medium / few split.
    s = describe(long_tailed_counts(100, 100, 500))
    assert (s.many_classes, s.medium_classes, s.few_classes) == (35, 35, 30)
    assert (s.num_samples, s.imbalance_ratio) == (10847, 100.0)
