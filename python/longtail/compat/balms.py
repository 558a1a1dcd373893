"""Balanced Meta-Softmax's ``balanced_softmax_loss`` (Ren et al. NeurIPS 2020,
``jiawei-ren/BalancedMetaSoftmax-Classification`` ``loss/BalancedSoftmaxLoss.py``) on longtail's
softmax kernel.

The official argument order ``(labels, logits, sample_per_class, reduction)`` — labels first,
``reduction`` positional and required — where :func:`longtail.functional.balanced_softmax_loss`
takes ``(input, target, class_counts, *, reduction="mean")``. The value is the official
``F.cross_entropy(logits + log(sample_per_class), labels, reduction=reduction)``; a class with
no samples gets offset ``−inf``, as there.

Example (the official ``BalancedSoftmax.forward``)::

    loss = balanced_softmax_loss(label, input, self.sample_per_class, self.reduction)
"""

from __future__ import annotations

from torch import Tensor

from longtail import functional as F

__all__ = ["balanced_softmax_loss"]


def balanced_softmax_loss(
    labels: Tensor, logits: Tensor, sample_per_class: Tensor, reduction: str
) -> Tensor:
    """Balanced Softmax loss: cross-entropy over ``logits + log n``.

    Args:
        labels: ``(N,)`` class indices.
        logits: ``(N, C)`` logits.
        sample_per_class: the training count of each class, ``(C,)``.
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.

    Returns:
        The loss, a scalar or ``(N,)`` for ``"none"``.
    """
    return F.balanced_softmax_loss(logits, labels, sample_per_class, reduction=reduction)
