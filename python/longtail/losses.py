"""``nn.Module`` losses for long-tailed recognition. Each Module keeps its per-class
quantities (class counts and what is derived from them) as buffers, so they follow
``.to(device)`` and ``state_dict()``, and its ``forward`` is one call into
:mod:`longtail.functional`, where the math is documented."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor, nn

from longtail import functional as F
from longtail import weights as _weights
from longtail._validation import as_class_counts, check_real, check_reduction

__all__ = [
    "BalancedSoftmaxLoss",
    "ClassBalancedLoss",
    "FocalLoss",
    "LDAMLoss",
    "LogitAdjustedLoss",
    "WeightedCrossEntropyLoss",
]

Counts = Sequence[float] | np.ndarray | Tensor


def _optional_tensor(name: str, value) -> Tensor | None:
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return torch.tensor(float(value))
    try:
        return torch.as_tensor(value, dtype=torch.float64).clone()
    except (TypeError, ValueError) as err:
        raise TypeError(
            f"{name} should be a tensor or sequence of floats, but got {value!r}"
        ) from err


class _SoftmaxFamilyLoss(nn.Module):
    """Shared arguments of the softmax-family Modules (``F.cross_entropy``'s)."""

    def __init__(self, reduction: str, ignore_index: int, label_smoothing: float) -> None:
        super().__init__()
        self.reduction = check_reduction(reduction)
        self.ignore_index = int(ignore_index)
        self.label_smoothing = check_real("label_smoothing", label_smoothing, low=0.0, high=1.0)

    def _call(self, input: Tensor, target: Tensor, **params) -> Tensor:
        return F._run(
            input,
            target,
            self.reduction,
            self.label_smoothing,
            ignore_index=self.ignore_index,
            **params,
        )

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}, ignore_index={self.ignore_index}"


class WeightedCrossEntropyLoss(_SoftmaxFamilyLoss):
    r"""Class-weighted cross-entropy with weights derived from the class counts.

    .. math:: \ell_i = w_{y_i}\,(-\log \mathrm{softmax}(z_i)_{y_i})

    Args:
        class_counts: per-class training counts (or pass ``weight``).
        weighting: ``"inverse_frequency"``, ``"sqrt_inverse_frequency"``, ``"cost_sensitive"``
            or ``"effective_number"`` (see :func:`longtail.functional.weighted_cross_entropy`).
        beta: for ``"effective_number"``.
        weight: explicit per-class weights instead of ``class_counts``.
        reduction, ignore_index, label_smoothing: as in ``nn.CrossEntropyLoss``.
        normalization: ``"weight"`` (torch's weighted mean, default) or ``"count"`` (divide by N).

    Shape:
        input ``(N, C)`` or ``(N, C, d1, ...)``; target ``(N)`` or ``(N, d1, ...)``; output a
        scalar, or the target's shape for ``reduction="none"``.

    Example::

        >>> loss = WeightedCrossEntropyLoss([500, 50, 5])
        >>> out = loss(torch.randn(4, 3, requires_grad=True), torch.tensor([0, 1, 2, 2]))
        >>> out.backward()
    """

    def __init__(
        self,
        class_counts: Counts | None = None,
        *,
        weighting: str = "inverse_frequency",
        beta: float = 0.9999,
        weight: Tensor | None = None,
        reduction: str = "mean",
        ignore_index: int = -100,
        label_smoothing: float = 0.0,
        normalization: str = "weight",
    ) -> None:
        super().__init__(reduction, ignore_index, label_smoothing)
        if (class_counts is None) == (weight is None):
            raise ValueError("WeightedCrossEntropyLoss needs exactly one of class_counts or weight")
        self.normalization = F._check_normalization(normalization)
        if weight is None:
            counts = as_class_counts(class_counts)
            probe = torch.zeros(1, counts.numel(), dtype=torch.float64)
            # Reuse the functional's weighting rules (and its validation of `weighting`).
            weight = F._weighting(counts, weighting, beta, probe)
            self.register_buffer("class_counts", counts)
        else:
            self.register_buffer("class_counts", None)
        self.register_buffer("weight", _optional_tensor("weight", weight))

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        if self.class_counts is not None:
            F._num_classes_match(input, self.class_counts)
        return self._call(input, target, weight=self.weight, normalization=self.normalization)


class FocalLoss(_SoftmaxFamilyLoss):
    r"""Softmax focal loss, :math:`\ell_i = \alpha_{y_i}(1-e^{-c_i})^\gamma c_i` with
    :math:`c_i` the (weighted) cross-entropy — :math:`-\alpha_y(1-p_y)^\gamma\log p_y` without
    weights; the LDAM-DRW ``FocalLoss`` with them. See :func:`longtail.functional.focal_loss`.

    Example::

        >>> loss = FocalLoss(gamma=2.0)
        >>> loss(torch.randn(4, 3, requires_grad=True), torch.tensor([0, 1, 2, 2])).backward()
    """

    def __init__(
        self,
        gamma: float = 2.0,
        alpha: Tensor | Sequence[float] | float | None = None,
        weight: Tensor | None = None,
        reduction: str = "mean",
        ignore_index: int = -100,
        label_smoothing: float = 0.0,
    ) -> None:
        super().__init__(reduction, ignore_index, label_smoothing)
        self.gamma = check_real("gamma", gamma, low=0.0)
        self.register_buffer("alpha", _optional_tensor("alpha", alpha))
        self.register_buffer("weight", _optional_tensor("weight", weight))

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        alpha = self.alpha
        if alpha is not None and alpha.dim() == 0:
            alpha = alpha.expand(input.shape[1])
        return F.focal_loss(
            input,
            target,
            gamma=self.gamma,
            alpha=alpha,
            weight=self.weight,
            reduction=self.reduction,
            ignore_index=self.ignore_index,
            label_smoothing=self.label_smoothing,
        )


class ClassBalancedLoss(_SoftmaxFamilyLoss):
    r"""Class-balanced loss (Cui et al.) with effective-number weights normalised to sum to C.

    ``loss_type="softmax"`` divides by N by default, as the official code does
    (``normalization="count"``); see :func:`longtail.functional.class_balanced_loss`.

    Example::

        >>> loss = ClassBalancedLoss([500, 50, 5], beta=0.999)
        >>> loss(torch.randn(4, 3, requires_grad=True), torch.tensor([0, 1, 2, 2])).backward()
    """

    def __init__(
        self,
        class_counts: Counts,
        beta: float = 0.9999,
        gamma: float = 1.0,
        loss_type: str = "softmax",
        reduction: str = "mean",
        ignore_index: int = -100,
        label_smoothing: float = 0.0,
        normalization: str = "count",
    ) -> None:
        super().__init__(reduction, ignore_index, label_smoothing)
        F._check_loss_type(loss_type)
        self.beta = check_real("beta", beta, low=0.0, high=1.0)
        self.gamma = check_real("gamma", gamma, low=0.0)
        self.loss_type = loss_type
        self.normalization = F._check_normalization(normalization)
        counts = as_class_counts(class_counts)
        self.register_buffer("class_counts", counts)
        self.register_buffer("weight", _weights.effective_number(counts, beta, dtype=torch.float64))

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        F._num_classes_match(input, self.weight)
        return self._call(input, target, weight=self.weight, normalization=self.normalization)


class LDAMLoss(_SoftmaxFamilyLoss):
    r"""LDAM loss (Cao et al.): :math:`\mathrm{CE}(s\,(z - m_y\,\mathrm{onehot}), y, w)` with
    :math:`m_c \propto n_c^{-1/4}`, :math:`\max m = ` ``max_margin``.

    For DRW assign the epoch's weights: ``loss.weight = longtail.weights.drw(counts, epoch)``.

    Example::

        >>> loss = LDAMLoss([500, 50, 5], max_margin=0.5, scale=30.0)
        >>> loss(torch.randn(4, 3, requires_grad=True), torch.tensor([0, 1, 2, 2])).backward()
    """

    def __init__(
        self,
        class_counts: Counts,
        max_margin: float = 0.5,
        scale: float = 30.0,
        weight: Tensor | None = None,
        reduction: str = "mean",
        ignore_index: int = -100,
        label_smoothing: float = 0.0,
    ) -> None:
        super().__init__(reduction, ignore_index, label_smoothing)
        counts = as_class_counts(class_counts)
        self.max_margin = check_real("max_margin", max_margin, low=0.0)
        self.scale = check_real("scale", scale, low=0.0, low_open=True)
        self.register_buffer("class_counts", counts)
        self.register_buffer("margins", F.ldam_margins(counts, max_margin))
        self.register_buffer("weight", _optional_tensor("weight", weight))

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        F._num_classes_match(input, self.margins)
        return self._call(input, target, margins=self.margins, scale=self.scale, weight=self.weight)


class LogitAdjustedLoss(_SoftmaxFamilyLoss):
    r"""Logit-adjusted loss (Menon et al.): :math:`\mathrm{CE}(z + \log(\pi^\tau + 10^{-12}), y)`.

    Example::

        >>> loss = LogitAdjustedLoss([500, 50, 5], tau=1.0)
        >>> loss(torch.randn(4, 3, requires_grad=True), torch.tensor([0, 1, 2, 2])).backward()
    """

    def __init__(
        self,
        class_counts: Counts,
        tau: float = 1.0,
        weight: Tensor | None = None,
        reduction: str = "mean",
        ignore_index: int = -100,
        label_smoothing: float = 0.0,
    ) -> None:
        super().__init__(reduction, ignore_index, label_smoothing)
        counts = as_class_counts(class_counts)
        self.tau = check_real("tau", tau)
        self.register_buffer("class_counts", counts)
        self.register_buffer("offsets", F.logit_adjustments(counts, tau))
        self.register_buffer("weight", _optional_tensor("weight", weight))

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        F._num_classes_match(input, self.offsets)
        return self._call(input, target, offsets=self.offsets, weight=self.weight)


class BalancedSoftmaxLoss(_SoftmaxFamilyLoss):
    r"""Balanced Softmax (Ren et al.): :math:`\mathrm{CE}(z + \log n, y)`, i.e.
    :math:`\hat p_y = n_y e^{z_y} / \sum_j n_j e^{z_j}`. Use plain softmax at test time.

    Example::

        >>> loss = BalancedSoftmaxLoss([500, 50, 5])
        >>> loss(torch.randn(4, 3, requires_grad=True), torch.tensor([0, 1, 2, 2])).backward()
    """

    def __init__(
        self,
        class_counts: Counts,
        weight: Tensor | None = None,
        reduction: str = "mean",
        ignore_index: int = -100,
        label_smoothing: float = 0.0,
    ) -> None:
        super().__init__(reduction, ignore_index, label_smoothing)
        counts = as_class_counts(class_counts)
        self.register_buffer("class_counts", counts)
        self.register_buffer("offsets", torch.log(counts))
        self.register_buffer("weight", _optional_tensor("weight", weight))

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        F._num_classes_match(input, self.offsets)
        return self._call(input, target, offsets=self.offsets, weight=self.weight)
