"""Evaluation for long-tailed classification: accuracy over all samples, per class, and over the
many-, medium- and few-shot classes (more than 100, 20 to 100, and fewer than 20 training
samples), as in Kang et al., "Decoupling Representation and Classifier for Long-Tailed
Recognition", ICLR 2020, arXiv:1910.09217.

The definitions follow the decoupling code (facebookresearch/classifier-balancing ``utils.py``,
``shot_acc``, and ``mic_acc_cal`` for the overall top-1):

* ``overall`` is the fraction of test samples predicted correctly;
* the accuracy of class ``c`` is the fraction of its test samples predicted correctly;
* a class is *many-shot* if it has more than ``many`` training samples, *few-shot* if it has
  fewer than ``few``, and *medium-shot* otherwise (defaults 100 and 20);
* a group's accuracy is the mean of the accuracies of its classes that occur in the test set.

Where the official code reports 0 for a group without a test class, here it is ``nan`` (a 0
reads like a real accuracy); no warning is raised for it. Classes without a test sample are
``nan`` in ``per_class`` and left out of every group mean.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import Tensor

from longtail._validation import (
    ArrayLike,
    as_real_vector,
    check_bool,
    check_int,
    check_shot_thresholds,
)

__all__ = ["ShotAccuracy", "balanced_accuracy", "shot_accuracy"]


def _as_tensor(value: Any, name: str) -> Tensor:
    if isinstance(value, Tensor):
        if value.is_meta:
            raise ValueError(f"{name} should hold values, but got {name} on the meta device")
        return value.detach()
    if isinstance(value, (str, bytes, dict, set)):
        raise TypeError(
            f"{name} should be a tensor, an array or a sequence of numbers, but got {name} of "
            f"type {type(value).__name__}"
        )
    try:
        return torch.as_tensor(np.asarray(value))
    except (TypeError, ValueError, RuntimeError) as err:
        raise TypeError(
            f"{name} should be a tensor, an array or a sequence of numbers, but got {name} of "
            f"type {type(value).__name__}"
        ) from err


def _predictions(logits_or_preds: Any, targets: Any) -> tuple[Tensor, Tensor]:
    """``(preds, targets)`` as 1-D int64 tensors of the same length, on the targets' device."""
    input = _as_tensor(logits_or_preds, "logits_or_preds")
    target = _as_tensor(targets, "targets")
    if target.is_floating_point() or target.is_complex() or target.dtype == torch.bool:
        raise TypeError(
            f"targets should hold integer class indices, but got targets of dtype={target.dtype}"
        )
    if target.dim() != 1:
        raise ValueError(f"targets should be 1-D, but got targets of shape {tuple(target.shape)}")
    if input.dim() == 2:
        if not input.is_floating_point():
            raise TypeError(
                "logits_or_preds of shape (N, C) should be floating-point logits, but got "
                f"dtype={input.dtype}"
            )
        preds = input.argmax(1) if input.shape[1] > 0 else input.new_zeros(0, dtype=torch.long)
    elif input.dim() == 1:
        if input.is_floating_point() or input.is_complex() or input.dtype == torch.bool:
            raise TypeError(
                "logits_or_preds of shape (N,) should be integer predictions, but got "
                f"dtype={input.dtype}"
            )
        preds = input
    else:
        raise ValueError(
            "logits_or_preds should be logits of shape (N, C) or predictions of shape (N,), but "
            f"got logits_or_preds of shape {tuple(input.shape)}"
        )
    if preds.shape[0] != target.shape[0]:
        raise ValueError(
            "logits_or_preds and targets should have the same length, but got "
            f"{preds.shape[0]} predictions and {target.shape[0]} targets"
        )
    return preds.to(target.device, torch.long), target.long()


def _check_targets(target: Tensor, num_classes: int) -> None:
    if target.numel() and (target.min() < 0 or target.max() >= num_classes):
        bad = int(torch.nonzero((target < 0) | (target >= num_classes))[0, 0])
        raise ValueError(
            f"targets should be class indices in [0, {num_classes}), but got "
            f"targets[{bad}]={int(target[bad])}"
        )


def _train_counts(train_class_counts: Any) -> Tensor:
    counts = as_real_vector(
        "train_class_counts",
        train_class_counts,
        nonnegative=True,
        what="the per-class training counts",
    )
    return counts.cpu()


_check_thresholds = check_shot_thresholds


def _per_class_correct(preds: Tensor, target: Tensor, num_classes: int) -> tuple[Tensor, Tensor]:
    correct = torch.bincount(target[preds == target], minlength=num_classes)
    total = torch.bincount(target, minlength=num_classes)
    return correct, total


def _summarize(
    correct: Tensor, total: Tensor, counts: Tensor, many: float, few: float
) -> dict[str, Any]:
    correct = correct.to("cpu", torch.float64)
    total = total.to("cpu", torch.float64)
    present = total > 0
    per_class = torch.where(present, correct / total.clamp(min=1), torch.full_like(total, math.nan))
    groups = {"many": counts > many, "few": counts < few}
    groups["medium"] = ~(groups["many"] | groups["few"])

    def mean(mask: Tensor) -> float:
        mask = mask & present
        return per_class[mask].mean().item() if mask.any() else math.nan

    n = total.sum().item()
    return {
        "overall": correct.sum().item() / n if n > 0 else math.nan,
        "many": mean(groups["many"]),
        "medium": mean(groups["medium"]),
        "few": mean(groups["few"]),
        "per_class": per_class,
    }


def shot_accuracy(
    logits_or_preds: ArrayLike,
    targets: ArrayLike,
    train_class_counts: ArrayLike,
    many: float = 100,
    few: float = 20,
) -> dict[str, Any]:
    """Overall, many-, medium-, few-shot and per-class top-1 accuracy.

    The decoupling paper's split (``shot_acc`` of facebookresearch/classifier-balancing): a
    class is many-shot with more than ``many`` training samples, few-shot with fewer than
    ``few``, medium-shot otherwise. See the module docstring for the exact definitions.

    Args:
        logits_or_preds: logits ``(N, C)`` (the prediction is their argmax) or predicted class
            indices ``(N,)``.
        targets: the true class indices ``(N,)``.
        train_class_counts: the number of training samples of each of the ``C`` classes.
        many: many-shot classes have ``n > many`` training samples.
        few: few-shot classes have ``n < few`` training samples.

    Returns:
        A dict with ``"overall"``, ``"many"``, ``"medium"`` and ``"few"`` (floats in [0, 1], or
        ``nan`` for a group with no class in the test set) and ``"per_class"`` (a float64
        tensor of length ``C``, ``nan`` for a class without test samples).

    Example:
        >>> acc = shot_accuracy(torch.tensor([0, 1, 1, 2]), torch.tensor([0, 1, 2, 2]),
        ...                     train_class_counts=[500, 50, 5])
        >>> acc["overall"], acc["many"], acc["medium"], acc["few"]
        (0.75, 1.0, 1.0, 0.5)
    """
    many, few = _check_thresholds(many, few)
    counts = _train_counts(train_class_counts)
    preds, target = _predictions(logits_or_preds, targets)
    _check_targets(target, counts.numel())
    correct, total = _per_class_correct(preds, target, counts.numel())
    return _summarize(correct, total, counts, many, few)


def balanced_accuracy(
    logits_or_preds: ArrayLike, targets: ArrayLike, num_classes: int | None = None
) -> float:
    """The mean of the per-class accuracies (recalls) over the classes present in ``targets``,
    as scikit-learn's ``balanced_accuracy_score``. On a balanced test set it equals the
    ``"overall"`` accuracy of :func:`shot_accuracy`.

    Args:
        logits_or_preds: logits ``(N, C)`` or predicted class indices ``(N,)``.
        targets: the true class indices ``(N,)``.
        num_classes: the number of classes; by default ``max(targets) + 1``.

    Returns:
        A float in [0, 1] (``nan`` for empty inputs).

    Example:
        >>> balanced_accuracy(torch.tensor([0, 0, 0, 0]), torch.tensor([0, 0, 0, 1]))
        0.5
    """
    preds, target = _predictions(logits_or_preds, targets)
    if target.numel() == 0:
        return math.nan
    if num_classes is None:
        num_classes = int(target.max()) + 1
    else:
        num_classes = check_int("num_classes", num_classes, low=1)
    _check_targets(target, num_classes)
    correct, total = _per_class_correct(preds, target, num_classes)
    present = total > 0
    return (correct[present].double() / total[present]).mean().item()


class ShotAccuracy:
    """Streaming :func:`shot_accuracy` for evaluation loops, also under DDP.

    :meth:`update` adds a batch's per-class correct and total counts; :meth:`compute` returns the
    same dict as :func:`shot_accuracy` over everything seen so far. When
    ``torch.distributed`` is initialised, :meth:`compute` sums the counts over all ranks with
    ``all_reduce`` first (every rank must call it), so each rank gets the accuracy of the whole
    (sharded) test set. The counts live on the device of the first batch (a CUDA device for
    NCCL).

    Args:
        train_class_counts: the number of training samples of each class.
        many: many-shot classes have ``n > many`` training samples.
        few: few-shot classes have ``n < few`` training samples.
        sync: sum across ranks in :meth:`compute` when ``torch.distributed`` is initialised.

    Example:
        >>> metric = ShotAccuracy(train_class_counts=[500, 50, 5])
        >>> for logits, y in [(torch.eye(3), torch.tensor([0, 1, 1]))]:
        ...     metric.update(logits, y)
        >>> metric.compute()["medium"]
        0.5
    """

    def __init__(
        self, train_class_counts: ArrayLike, many: float = 100, few: float = 20, sync: bool = True
    ) -> None:
        self.many, self.few = _check_thresholds(many, few)
        self.train_class_counts: Tensor = _train_counts(train_class_counts)
        self.num_classes: int = self.train_class_counts.numel()
        self.sync = check_bool("sync", sync)
        self.reset()

    def reset(self) -> None:
        """Forgets every batch seen so far."""
        self.correct: Tensor = torch.zeros(self.num_classes, dtype=torch.long)
        self.total: Tensor = torch.zeros(self.num_classes, dtype=torch.long)

    @torch.no_grad()
    def update(self, logits_or_preds: ArrayLike, targets: ArrayLike) -> None:
        """Adds a batch: logits ``(B, C)`` or predictions ``(B,)``, and targets ``(B,)``."""
        preds, target = _predictions(logits_or_preds, targets)
        _check_targets(target, self.num_classes)
        correct, total = _per_class_correct(preds, target, self.num_classes)
        if self.correct.device != correct.device:
            self.correct, self.total = self.correct.to(correct.device), self.total.to(total.device)
        self.correct += correct
        self.total += total

    def compute(self) -> dict[str, Any]:
        """The accuracies over all batches (and all ranks); see :func:`shot_accuracy`."""
        correct, total = self.correct, self.total
        dist = torch.distributed
        if self.sync and dist.is_available() and dist.is_initialized():
            both = torch.stack([correct, total])
            dist.all_reduce(both, op=dist.ReduceOp.SUM)
            correct, total = both[0], both[1]
        return _summarize(correct, total, self.train_class_counts, self.many, self.few)

    def __repr__(self) -> str:
        return (
            f"ShotAccuracy(num_classes={self.num_classes}, many={self.many:g}, few={self.few:g}, "
            f"seen={int(self.total.sum())})"
        )
