"""Random over- and under-sampling with imbalanced-learn's ``sampling_strategy`` vocabulary
(Lemaitre et al. JMLR 2017, scikit-learn-contrib/imbalanced-learn:
``imblearn.over_sampling.RandomOverSampler``, ``imblearn.under_sampling.RandomUnderSampler``):
:class:`RandomOverSampler` and :class:`RandomUnderSampler`, labels of any sortable type
encoded as imbalanced-learn's label encoder does.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from torch import Tensor

from longtail import _core
from longtail._checks import I64_MAX, _integer_or_none
from longtail.samplers._base import ArrayLike, _as_labels, _LabelSampler, _preview

__all__ = ["RandomOverSampler", "RandomUnderSampler"]

_STRATEGIES = ("auto", "minority", "majority", "not minority", "not majority", "all")


def _strategy_targets(
    strategy: Any, over: bool, classes: np.ndarray, counts: np.ndarray, labels: np.ndarray
) -> np.ndarray:
    """Per-class target counts for imbalanced-learn's ``sampling_strategy`` vocabulary.

    Ties for the majority / minority class go to the smallest label, as imbalanced-learn's
    ``max``/``min`` over its sorted class counts do.
    """
    kind = "over-sampling" if over else "under-sampling"
    targets = counts.astype(np.int64).copy()
    n_max, n_min = int(counts.max()), int(counts.min())
    majority, minority = int(np.argmax(counts)), int(np.argmin(counts))
    if callable(strategy):
        strategy = strategy(labels)
        if not isinstance(strategy, Mapping):
            raise TypeError(
                "sampling_strategy should return a dict {class: count} when callable, but got "
                f"{strategy!r}"
            )
    if isinstance(strategy, str):
        if strategy not in _STRATEGIES:
            raise ValueError(
                f"sampling_strategy should be one of {', '.join(map(repr, _STRATEGIES))}, a "
                f"float, a dict or a callable, but got sampling_strategy={strategy!r}"
            )
        if strategy == "auto":
            strategy = "not majority" if over else "not minority"
        if over and strategy == "majority":
            raise ValueError(
                "sampling_strategy should not be 'majority' for an over-sampler, but got "
                "sampling_strategy='majority'"
            )
        if not over and strategy == "minority":
            raise ValueError(
                "sampling_strategy should not be 'minority' for an under-sampler, but got "
                "sampling_strategy='minority'"
            )
        chosen = np.ones(len(classes), dtype=bool)
        if strategy == "minority":
            chosen[:] = False
            chosen[minority] = True
        elif strategy == "majority":
            chosen[:] = False
            chosen[majority] = True
        elif strategy == "not minority":
            chosen[minority] = False
        elif strategy == "not majority":
            chosen[majority] = False
        targets[chosen] = n_max if over else n_min
        return targets
    if isinstance(strategy, numbers.Real) and not isinstance(strategy, bool):
        ratio = float(strategy)
        if not 0 < ratio <= 1:
            raise ValueError(
                f"sampling_strategy should be in the range (0, 1] when a float, but got "
                f"sampling_strategy={strategy}"
            )
        if len(classes) > 2:
            raise ValueError(
                "sampling_strategy should be a float only for two classes (imbalanced-learn's "
                f"rule; use a dict for more), but got sampling_strategy={strategy} with "
                f"{len(classes)} classes"
            )
        # imbalanced-learn: over → the others get int(n_max * ratio) in total (never fewer than
        # they have); under → the others keep int(n_min / ratio) (never more than they have).
        for c in range(len(classes)):
            if over and c != majority:
                extra = int(n_max * ratio - counts[c])
                # imbalanced-learn's _sampling_strategy_float raises unless every other class
                # gains at least one sample.
                if extra <= 0:
                    raise ValueError(
                        f"sampling_strategy should be large enough to generate samples of the "
                        f"minority class (int({n_max} * ratio) > its {counts[c]} samples), but "
                        f"got sampling_strategy={strategy}"
                    )
                targets[c] = counts[c] + extra
            elif not over and c != minority:
                keep = int(n_min / ratio)
                if keep > counts[c]:
                    raise ValueError(
                        f"sampling_strategy={strategy} would add samples to the majority class "
                        "while under-sampling; sampling_strategy should be larger, but got "
                        f"sampling_strategy={strategy}"
                    )
                targets[c] = keep
        return targets
    if isinstance(strategy, Mapping):
        position = {c.item() if isinstance(c, np.generic) else c: i for i, c in enumerate(classes)}
        integer_classes = classes.dtype.kind in "iu"
        for key, value in strategy.items():
            if integer_classes and _integer_or_none(key) is None:
                raise TypeError(
                    f"sampling_strategy should have integer class keys, but got key {key!r}"
                )
            try:
                known = key in position
            except TypeError:  # an unhashable key
                known = False
            if not known:
                raise ValueError(
                    f"sampling_strategy should name classes present in labels, but got class "
                    f"{key!r} in sampling_strategy={dict(strategy)!r}"
                )
            if _integer_or_none(value) is None:
                raise TypeError(
                    f"sampling_strategy should map classes to integer counts, but got "
                    f"sampling_strategy[{key!r}]={value!r}"
                )
            c, value = position[key], int(value)
            if value > I64_MAX:
                raise ValueError(
                    f"sampling_strategy should ask for at most 2**63 - 1 samples per class, but "
                    f"got sampling_strategy[{key!r}]={value}"
                )
            if value < 0:
                raise ValueError(
                    f"sampling_strategy should ask for non-negative counts, but got "
                    f"sampling_strategy[{key}]={value}"
                )
            if over and value < counts[c]:
                raise ValueError(
                    f"sampling_strategy should ask for at least the {counts[c]} samples class "
                    f"{key} has (over-sampling keeps every original), but got "
                    f"sampling_strategy[{key}]={value}"
                )
            if not over and value > counts[c]:
                raise ValueError(
                    f"sampling_strategy should ask for at most the {counts[c]} samples class "
                    f"{key} has (under-sampling draws without replacement), but got "
                    f"sampling_strategy[{key}]={value}"
                )
            targets[c] = value
        return targets
    raise TypeError(
        f"sampling_strategy should be a float, a str, a dict or a callable for {kind}, but got "
        f"sampling_strategy={strategy!r}"
    )


def _encode_labels(labels: Any) -> tuple[np.ndarray, np.ndarray | None, Any]:
    """``(codes, values, original)``: integer labels pass as they are (``values`` None);
    labels of any other hashable, sortable type (strings, booleans, objects) are encoded as
    indices into their sorted distinct ``values``, as imbalanced-learn's label encoder does."""
    if isinstance(labels, Tensor):
        return _as_labels(labels), None, labels
    try:
        arr = np.asarray(labels)
    except (TypeError, ValueError) as err:
        raise TypeError(
            f"labels should be a 1-D sequence of hashable class labels, but got labels={labels!r}"
        ) from err
    if arr.dtype.kind in "iuf" or arr.ndim != 1 or arr.size == 0:
        return _as_labels(arr), None, arr
    if arr.dtype.kind == "c":
        raise TypeError(
            f"labels should hold integer or hashable class labels, but got labels of "
            f"dtype={arr.dtype}"
        )
    try:
        values, codes = np.unique(arr, return_inverse=True)
    except TypeError as err:
        raise TypeError(
            "labels should be mutually comparable (imbalanced-learn sorts the classes), but got "
            f"labels={_preview(arr)}"
        ) from err
    return np.ascontiguousarray(codes.reshape(-1), dtype=np.int64), values, arr


class _ResamplingSampler(_LabelSampler):
    _over: bool

    def __init__(
        self,
        labels: ArrayLike,
        sampling_strategy: float | str | Mapping[Any, int] | Callable[..., Any] = "auto",
        *,
        seed: int = 0,
        num_replicas: int | None = None,
        rank: int | None = None,
        drop_last: bool = False,
    ) -> None:
        codes, values, original = _encode_labels(labels)
        super().__init__(
            codes, seed=seed, num_replicas=num_replicas, rank=rank, drop_last=drop_last
        )
        if values is not None:
            # imbalanced-learn's label encoding: classes are the sorted distinct labels.
            self.classes = values[self.classes]
        if self.num_classes < 2:
            raise ValueError(
                "labels should hold more than 1 class (imbalanced-learn's rule), but got "
                f"labels with 1 class: {self.classes.tolist()}"
            )
        self.sampling_strategy = sampling_strategy
        #: The number of samples of each class in :attr:`classes` in every epoch.
        self.target_counts: np.ndarray = _strategy_targets(
            sampling_strategy, self._over, self.classes, self.class_counts, original
        )
        total = sum(int(t) for t in self.target_counts)
        if total > I64_MAX:
            raise ValueError(
                "sampling_strategy should ask for at most 2**63 - 1 samples in all, but got "
                f"sampling_strategy={sampling_strategy!r}, which asks for {total}"
            )
        self.num_samples: int = total
        if self.num_samples == 0:
            raise ValueError(
                "sampling_strategy should leave at least one sample, but got "
                f"sampling_strategy={sampling_strategy!r}, which keeps none"
            )

    def _epoch_length(self, epoch: int) -> int:
        return self.num_samples

    def _stream(self, epoch: int) -> Any:
        return _core.resample_stream(
            self._offsets, self._members, self.target_counts, self.seed, epoch
        )


class RandomOverSampler(_ResamplingSampler):
    r"""Random over-sampling with imbalanced-learn's ``sampling_strategy`` (Lemaitre et al. 2017).

    Every original sample is kept, and each class chosen by the strategy gets duplicates drawn
    with replacement from its own samples, redrawn every epoch; the epoch is shuffled. The
    default ``'auto'`` (= ``'not majority'``) brings every class up to ``n_max``, so the epoch
    has ``C * n_max`` indices.

    As in imbalanced-learn, ``labels`` may be of any hashable, sortable type (strings ...):
    they go through a label encoder, :attr:`classes` holds the sorted distinct labels and a
    dict strategy is keyed by them; a single class is a ``ValueError``.

    Args:
        labels: the class label of every sample.
        sampling_strategy: as in ``imblearn.over_sampling.RandomOverSampler``: ``'auto'``,
            ``'minority'``, ``'not minority'``, ``'not majority'``, ``'all'`` (chosen classes
            reach ``n_max``); a float ``r`` in (0, 1] for two classes (the minority reaches
            ``int(r * n_max)``, which must add at least one sample); a dict
            ``{class: target count}``; or a callable
            ``labels -> dict``.
        seed, num_replicas, rank, drop_last: as for :class:`WeightedSampler`.

    Example:
        >>> sampler = RandomOverSampler([0, 0, 0, 1])
        >>> len(sampler), sampler.target_counts.tolist()
        (6, [3, 3])
    """

    _over = True


class RandomUnderSampler(_ResamplingSampler):
    r"""Random under-sampling with imbalanced-learn's ``sampling_strategy`` (Lemaitre et al. 2017).

    Each class chosen by the strategy keeps a uniformly random subset of its samples (drawn
    without replacement, anew every epoch); the others keep all theirs. The epoch is
    shuffled. The default ``'auto'`` (= ``'not minority'``) cuts every class to ``n_min``, so
    the epoch has ``C * n_min`` indices.

    Labels of any hashable, sortable type are encoded as for :class:`RandomOverSampler`; a
    single class is a ``ValueError``.

    Args:
        labels: the class label of every sample.
        sampling_strategy: as in ``imblearn.under_sampling.RandomUnderSampler``: ``'auto'``,
            ``'majority'``, ``'not minority'``, ``'not majority'``, ``'all'`` (chosen classes
            are cut to ``n_min``); a float ``r`` in (0, 1] for two classes (the majority keeps
            ``int(n_min / r)``); a dict ``{class: target count}``; or a callable.
        seed, num_replicas, rank, drop_last: as for :class:`WeightedSampler`.

    Example:
        >>> sampler = RandomUnderSampler([0, 0, 0, 1, 1, 2])
        >>> len(sampler), sampler.target_counts.tolist()
        (3, [1, 1, 1])
    """

    _over = False
