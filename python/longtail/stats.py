"""How imbalanced is a data set: summary statistics of class counts, and plots of the class
histogram and of per-class accuracy against class size.

The plots need matplotlib (the ``demo`` extra). They draw on ``matplotlib.figure.Figure``
objects directly, never through ``pyplot``, so they do not touch the global backend or the
figure registry, and they work headless.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, cast

import numpy as np
from torch import Tensor

from longtail._validation import ArrayLike, as_class_counts, as_real_array, check_shot_thresholds

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["Summary", "describe", "gini", "plot_class_histogram", "plot_per_class_accuracy"]

#: Group names for the classification (many/medium/few) and LVIS (frequent/common/rare) splits.
SHOT_NAMES = ("many", "medium", "few")
LVIS_NAMES = ("frequent", "common", "rare")

_BAND_COLORS = ("#4c72b0", "#dd8452", "#c44e52")


def _as_counts(class_counts: ArrayLike) -> np.ndarray:
    return as_class_counts(class_counts).numpy()


_check_thresholds = check_shot_thresholds


def gini(class_counts: ArrayLike) -> float:
    r"""The Gini coefficient of the class counts:
    :math:`G = \frac{\sum_i \sum_j |n_i - n_j|}{2 C^2 \bar n}`, 0 for a balanced set and
    :math:`(C-1)/C` when one class holds every sample.

    Example:
        >>> gini([10, 10, 10]), gini([30, 0, 0])
        (0.0, 0.6666666666666667)
    """
    counts = np.sort(_as_counts(class_counts))
    counts = counts / counts.max()  # scale-invariant; the sums below cannot overflow
    c = counts.size
    rank = np.arange(1, c + 1, dtype=np.float64)
    return float(max(0.0, 2.0 * np.sum(rank * counts) / (c * counts.sum()) - (c + 1.0) / c))


@dataclass(frozen=True)
class Summary:
    """What :func:`describe` returns.

    Attributes:
        num_classes: the number of classes ``C``.
        num_samples: the total count.
        empty_classes: classes with a count of 0.
        max_count, median_count, min_count: of the non-empty classes.
        imbalance_ratio: ``max_count / min_count`` over the non-empty classes.
        gini: the Gini coefficient of all ``C`` counts (:func:`gini`).
        many_classes, medium_classes, few_classes: the number of classes in each group (empty
            classes are few-shot).
        head_share: the fraction of samples in the many-shot (head) classes.
        medium_share: the fraction in the medium-shot classes.
        tail_share: the fraction in the few-shot (tail) classes.
        many, few: the thresholds: many-shot ``n > many``, few-shot ``n < few``.
        group_names: the names of the three groups, head first.
    """

    num_classes: int
    num_samples: int
    empty_classes: int
    max_count: float
    median_count: float
    min_count: float
    imbalance_ratio: float
    gini: float
    many_classes: int
    medium_classes: int
    few_classes: int
    head_share: float
    medium_share: float
    tail_share: float
    many: float
    few: float
    group_names: tuple[str, str, str] = SHOT_NAMES

    def to_dict(self) -> dict[str, Any]:
        """The fields as a plain dict."""
        return asdict(self)

    def __str__(self) -> str:
        head, mid, tail = self.group_names
        few, many = _fmt(self.few), _fmt(self.many)
        rows = [
            ("classes", f"{self.num_classes}"),
            ("samples", f"{self.num_samples}"),
            (
                "max / median / min per class",
                f"{_fmt(self.max_count)} / {_fmt(self.median_count)} / {_fmt(self.min_count)}",
            ),
            ("imbalance ratio (max / min)", f"{self.imbalance_ratio:.2f}"),
            ("Gini coefficient", f"{self.gini:.3f}"),
            (
                f"{head} classes (n > {many})",
                f"{self.many_classes:>5}  holding {100 * self.head_share:5.1f}% of samples",
            ),
            (
                f"{mid} classes ({few} <= n <= {many})",
                f"{self.medium_classes:>5}  holding {100 * self.medium_share:5.1f}% of samples",
            ),
            (
                f"{tail} classes (n < {few})",
                f"{self.few_classes:>5}  holding {100 * self.tail_share:5.1f}% of samples",
            ),
        ]
        if self.empty_classes:
            rows.append(("empty classes (n = 0)", f"{self.empty_classes}"))
        width = max(len(k) for k, _ in rows)
        return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


def _fmt(x: float) -> str:
    return f"{int(x)}" if float(x).is_integer() else f"{x:g}"


def describe(
    class_counts: ArrayLike,
    many: float = 100,
    few: float = 20,
    group_names: tuple[str, str, str] = SHOT_NAMES,
) -> Summary:
    """Summary statistics of a class distribution.

    Args:
        class_counts: the number of training samples of each class (for example
            :func:`longtail.class_counts` of the labels).
        many: many-shot classes have ``n > many`` samples (default: the decoupling paper's 100).
        few: few-shot classes have ``n < few`` samples (default 20). For LVIS's groups by image
            count use ``many=100, few=11, group_names=LVIS_NAMES``.
        group_names: names of the head, middle and tail groups, for printing.

    Returns:
        A :class:`Summary`; ``print`` it for a table.

    Example:
        >>> s = describe([500, 100, 20, 5])
        >>> s.imbalance_ratio, s.many_classes, s.medium_classes, s.few_classes
        (100.0, 1, 2, 1)
    """
    many, few = _check_thresholds(many, few)
    counts = _as_counts(class_counts)
    nonzero = counts[counts > 0]
    with np.errstate(over="ignore"):  # an overflowing total is reported below
        total = counts.sum()
    if not math.isfinite(total):
        raise ValueError(
            f"class_counts should have a finite total, but got class_counts summing past float64 "
            f"(max entry {counts.max():g})"
        )
    is_many, is_few = counts > many, counts < few
    is_medium = ~(is_many | is_few)
    return Summary(
        num_classes=int(counts.size),
        num_samples=round(float(total)),
        empty_classes=int((counts == 0).sum()),
        max_count=float(nonzero.max()),
        median_count=float(np.median(nonzero)),
        min_count=float(nonzero.min()),
        imbalance_ratio=float(nonzero.max() / nonzero.min()),
        gini=gini(counts),
        many_classes=int(is_many.sum()),
        medium_classes=int(is_medium.sum()),
        few_classes=int(is_few.sum()),
        head_share=float(counts[is_many].sum() / total),
        medium_share=float(counts[is_medium].sum() / total),
        tail_share=float(counts[is_few].sum() / total),
        many=many,
        few=few,
        # A list is accepted too (the annotation names what is printed: three groups).
        group_names=cast("tuple[str, str, str]", tuple(group_names)),
    )


# --------------------------------------------------------------------------------------------
# Plots.


def _new_figure(figsize: tuple[float, float]) -> Figure:
    try:
        from matplotlib.figure import Figure
    except ImportError as err:
        raise ImportError(
            "plotting needs matplotlib, which is not installed; install the 'demo' extra: "
            "pip install 'longtail[demo]'"
        ) from err
    return Figure(figsize=figsize, layout="constrained")


def _save(fig: Figure, path: str | os.PathLike[str] | None) -> None:
    if path is not None:
        fig.savefig(path, dpi=120)


def plot_class_histogram(
    class_counts: ArrayLike,
    many: float = 100,
    few: float = 20,
    path: str | os.PathLike[str] | None = None,
    title: str | None = None,
    group_names: tuple[str, str, str] = SHOT_NAMES,
) -> Figure:
    """The class sizes sorted from largest to smallest, on a log scale, with the many-, medium-
    and few-shot classes shaded as bands.

    Args:
        class_counts: the number of training samples of each class.
        many, few: the group thresholds (many-shot ``n > many``, few-shot ``n < few``).
        path: if given, the figure is saved there (the format follows the extension).
        title: the figure title.
        group_names: the names of the three groups, head first.

    Returns:
        The ``matplotlib.figure.Figure``.

    Example:
        >>> plot_class_histogram(longtail.class_counts(labels), path="classes.png")
    """
    many, few = _check_thresholds(many, few)
    counts = np.sort(_as_counts(class_counts))[::-1]
    fig = _new_figure((7.0, 3.6))
    ax = fig.add_subplot()
    rank = np.arange(counts.size)
    # Sorted descending, each group is a contiguous run of ranks.
    bounds = [0, int((counts > many).sum()), int((counts >= few).sum()), counts.size]
    for name, color, lo, hi in zip(group_names, _BAND_COLORS, bounds[:-1], bounds[1:], strict=True):
        if hi > lo:
            ax.axvspan(lo - 0.5, hi - 0.5, color=color, alpha=0.12, lw=0)
            ax.bar(
                rank[lo:hi],
                np.maximum(counts[lo:hi], 0.5),
                width=1.0,
                color=color,
                label=f"{name}: {hi - lo} classes",
            )
    for value, style in ((many, "--"), (few, ":")):
        ax.axhline(max(value, 0.5), color="0.3", lw=0.8, ls=style)
    ax.set_yscale("log")
    ax.set_xlim(-0.5, counts.size - 0.5)
    ax.set_xlabel("class (sorted by size)")
    ax.set_ylabel("training samples")
    ax.set_title(
        title
        or f"{counts.size} classes, imbalance ratio "
        f"{describe(counts, many, few).imbalance_ratio:.1f}"
    )
    ax.legend(loc="upper right", fontsize="small")
    _save(fig, path)
    return fig


def plot_per_class_accuracy(
    per_class_accuracy: ArrayLike | Mapping[str, ArrayLike],
    class_counts: ArrayLike,
    many: float = 100,
    few: float = 20,
    path: str | os.PathLike[str] | None = None,
    title: str | None = None,
    group_names: tuple[str, str, str] = SHOT_NAMES,
) -> Figure:
    """Per-class accuracy against the class's training size (log scale), one line per method,
    with the many-, medium- and few-shot ranges shaded.

    Args:
        per_class_accuracy: the accuracy of each class (``nan`` for a class without test
            samples is skipped), or a mapping ``{method name: per-class accuracies}``.
        class_counts: the number of training samples of each class.
        many, few: the group thresholds.
        path: if given, the figure is saved there.
        title: the figure title.
        group_names: the names of the three groups, head first.

    Returns:
        The ``matplotlib.figure.Figure``.

    Example:
        >>> acc = longtail.metrics.shot_accuracy(logits, y, counts)["per_class"]
        >>> plot_per_class_accuracy({"CE": acc}, counts, path="accuracy.png")
    """
    many, few = _check_thresholds(many, few)
    counts = _as_counts(class_counts)
    if not isinstance(per_class_accuracy, Mapping):
        per_class_accuracy = {"accuracy": per_class_accuracy}
    order = np.argsort(-counts, kind="stable")
    x = np.maximum(counts[order], 0.5)
    fig = _new_figure((7.0, 4.0))
    ax = fig.add_subplot()
    lo, hi = 0.5 * x.min(), 2.0 * x.max()
    bands = [
        (min(max(many, lo), hi), hi),
        (min(max(few, lo), hi), min(max(many, lo), hi)),
        (lo, min(max(few, lo), hi)),
    ]
    for name, color, (a, b) in zip(group_names, _BAND_COLORS, bands, strict=True):
        if b > a:
            ax.axvspan(a, b, color=color, alpha=0.10, lw=0)
            ax.text(
                math.sqrt(a * b),
                1.06,
                name,
                ha="center",
                va="bottom",
                fontsize="small",
                color=color,
            )
    for method, acc in per_class_accuracy.items():
        values = _as_accuracy(acc, counts.size, method)[order]
        keep = ~np.isnan(values)
        ax.plot(x[keep], values[keep], marker="o", ms=3, lw=1, label=str(method))
    ax.set_xscale("log")
    ax.set_xlim(lo, hi)
    ax.set_ylim(-0.02, 1.15)
    ax.set_xlabel("training samples of the class")
    ax.set_ylabel("test accuracy")
    ax.set_title(title or "per-class accuracy against class size")
    ax.legend(loc="lower right", fontsize="small", ncols=2)
    _save(fig, path)
    return fig


def _as_accuracy(acc: ArrayLike, num_classes: int, method: str) -> np.ndarray:
    # nan is allowed: it marks a class without a test sample (shot_accuracy's per_class).
    name = f"per_class_accuracy[{method!r}]"
    data = as_real_array(name, acc)
    values = data.cpu().double().numpy() if isinstance(data, Tensor) else data.astype(np.float64)
    if values.shape != (num_classes,):
        raise ValueError(
            f"{name} should have one entry per class ({num_classes}), "
            f"but got shape {tuple(values.shape)}"
        )
    return values
