"""``nn.Module`` losses for long-tailed recognition. Each Module keeps its per-class
quantities (class counts and what is derived from them) as buffers, so they follow
``.to(device)`` and ``state_dict()``, and its ``forward`` is one call into
:mod:`longtail.functional`, where the math is documented."""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import numpy as np
import torch
import torch.distributed as dist
from torch import Tensor, nn

from longtail import functional as F
from longtail import weights as _weights
from longtail._validation import (
    Counts,
    as_class_counts,
    as_per_class,
    as_real_vector,
    check_ignore_index,
    check_int,
    check_real,
    check_reduction,
    compute_dtype,
)

__all__ = [
    "BalancedSoftmaxLoss",
    "ClassBalancedLoss",
    "EQLv2Loss",
    "EqualizationLoss",
    "FocalLoss",
    "GroupSoftmaxLoss",
    "LDAMLoss",
    "LogitAdjustedLoss",
    "SeesawLoss",
    "SigmoidFocalLoss",
    "SoftmaxEqualizationLoss",
    "WeightedCrossEntropyLoss",
]


def _optional_tensor(name: str, value, num_classes: int | None = None) -> Tensor | None:
    """A per-class parameter as a float64 buffer, checked by the same rules as the functional
    form (real, 1-D, finite, non-negative, ``num_classes`` entries when known); one real number
    becomes a 0-d buffer, broadcast to every class at ``forward``."""
    if value is None:
        return None
    if isinstance(value, (numbers.Real, np.generic)) and not isinstance(value, (bool, np.bool_)):
        return torch.tensor(check_real(name, value, low=0.0), dtype=torch.float64)
    return as_real_vector(name, value, length=num_classes, nonnegative=True).cpu().clone()


def _per_class_for(name: str, value, input: Tensor) -> Tensor:
    """A Module's per-class tensor in ``input``'s compute dtype and device; an assigned weight
    is checked as the functional forms check theirs (buffers were checked at construction)."""
    if name == "weight":
        checked = as_per_class("weight", value, input.shape[1], input)
        assert checked is not None  # value is not None
        return checked
    return value.to(device=input.device, dtype=compute_dtype(input))


class _SoftmaxFamilyLoss(nn.Module):
    """Shared arguments of the softmax-family Modules (``F.cross_entropy``'s)."""

    def __init__(self, reduction: str, ignore_index: int, label_smoothing: float) -> None:
        super().__init__()
        self.reduction = check_reduction(reduction)
        self.ignore_index = check_ignore_index(ignore_index)
        self.label_smoothing = check_real("label_smoothing", label_smoothing, low=0.0, high=1.0)

    def _call(self, input: Tensor, target: Tensor, **params) -> Tensor:
        # The per-class tensors (buffers, or a weight assigned after construction:
        # ``loss.weight = drw(...)``) are brought to the input's compute dtype and device once,
        # and a weight is checked by the functional forms' rules once: again only when the tensor
        # is another one, was changed in place (its version counter), or the input's compute
        # dtype or device changed. On small batches the cast and the check cost about as much
        # as the kernel.
        F.check_logits_target(input, target)
        if torch.compiler.is_compiling():  # traced once; no object identity in a graph
            for name, value in params.items():
                if (name == "weight" and value is not None) or isinstance(value, Tensor):
                    params[name] = _per_class_for(name, value, input)
            return self._run(input, target, params)
        cache = self.__dict__.setdefault("_per_class_cache", {})
        for name, value in params.items():
            if value is None or (name != "weight" and not isinstance(value, Tensor)):
                continue  # scalars and strings go to the functional as they are
            key = (getattr(value, "_version", None), input.dtype, input.device)
            hit = cache.get(name)
            if hit is not None and hit[0] is value and hit[1] == key:
                params[name] = hit[2]
            else:
                converted = _per_class_for(name, value, input)
                cache[name] = (value, key, converted)
                params[name] = converted
        return self._run(input, target, params)

    def _run(self, input: Tensor, target: Tensor, params: dict) -> Tensor:
        return F._run(
            input,
            target,
            self.reduction,
            self.label_smoothing,
            ignore_index=self.ignore_index,
            checked=True,
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
        >>> loss(torch.zeros(2, 3), torch.tensor([0, 2]))  # the weighted mean of log 3
        tensor(1.0986)
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

    Lin et al., "Focal Loss for Dense Object Detection", ICCV 2017, arXiv:1708.02002; the
    weighted form is kaidic/LDAM-DRW ``losses.py`` (``FocalLoss``).

    Args:
        gamma: focusing exponent :math:`\gamma \ge 0` (2); ``gamma=0`` is cross-entropy.
        alpha: per-class factors :math:`\alpha_c` outside the focal term, or one float for
            every class; ``None`` (default) for none.
        weight: per-class weights inside :math:`c_i` (e.g. the DRW weights of
            :func:`longtail.weights.drw`), as in the LDAM-DRW code; assignable after
            construction (``loss.weight = ...``).
        reduction: ``"mean"`` (over the non-ignored samples), ``"sum"`` or ``"none"``.
        ignore_index, label_smoothing: as in ``nn.CrossEntropyLoss``.

    Shape:
        input ``(N, C)`` or ``(N, C, d1, ...)``; target ``(N)`` or ``(N, d1, ...)`` class
        indices; output a scalar, or the target's shape for ``reduction="none"``.

    Example::

        >>> loss = FocalLoss(gamma=2.0)
        >>> loss(torch.randn(4, 3, requires_grad=True), torch.tensor([0, 1, 2, 2])).backward()
        >>> loss(torch.zeros(2, 3), torch.tensor([0, 2]))  # p_y = 1/3: (2/3)^2 log 3
        tensor(0.4883)
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
    (``normalization="count"``); ``"sigmoid"`` and ``"focal"`` (with ``gamma``) are the
    official sigmoid-based types, also divided by N; see
    :func:`longtail.functional.class_balanced_loss`.

    Cui et al., "Class-Balanced Loss Based on Effective Number of Samples", CVPR 2019,
    arXiv:1901.05555; official code richardaecn/class-balanced-loss ``src/cifar_main.py``.

    Args:
        class_counts: per-class training counts :math:`n_c`.
        beta: :math:`\beta \in [0, 1]` of the weights :math:`(1-\beta)/(1-\beta^{n_c})`
            (0.9999); ``beta=0`` is plain cross-entropy.
        gamma: focusing exponent of ``loss_type="focal"`` (1.0).
        loss_type: ``"softmax"`` (default), ``"sigmoid"`` or ``"focal"``.
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.
        ignore_index, label_smoothing: as in ``nn.CrossEntropyLoss`` (``label_smoothing`` 0
            for the sigmoid types).
        normalization: ``"count"`` (divide ``"mean"`` by N, the official code's; default) or
            ``"weight"`` (divide by :math:`\sum_i w_{y_i}`, torch's ``CE(weight=w)``).

    Shape:
        input ``(N, C)`` or ``(N, C, d1, ...)``; target ``(N)`` or ``(N, d1, ...)`` class
        indices; output a scalar, or for ``reduction="none"`` the target's shape
        (``"softmax"``) or the input's (``"sigmoid"``, ``"focal"``).

    Example::

        >>> loss = ClassBalancedLoss([500, 50, 5], beta=0.999)
        >>> loss(torch.randn(4, 3, requires_grad=True), torch.tensor([0, 1, 2, 2])).backward()
        >>> round(loss.weight.sum().item(), 6)  # the weights are normalised to sum to C
        3.0
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
        if self.loss_type != "softmax":
            return F._class_balanced_sigmoid(
                input,
                target,
                self.weight,
                gamma=self.gamma,
                loss_type=self.loss_type,
                reduction=self.reduction,
                ignore_index=self.ignore_index,
                label_smoothing=self.label_smoothing,
                normalization=self.normalization,
            )
        return self._call(input, target, weight=self.weight, normalization=self.normalization)


class LDAMLoss(_SoftmaxFamilyLoss):
    r"""LDAM loss (Cao et al.): :math:`\mathrm{CE}(s\,(z - m_y\,\mathrm{onehot}), y, w)` with
    :math:`m_c \propto n_c^{-1/4}`, :math:`\max m = ` ``max_margin``.

    For DRW assign the epoch's weights: ``loss.weight = longtail.weights.drw(counts, epoch)``.

    Cao et al., "Learning Imbalanced Datasets with Label-Distribution-Aware Margin Loss",
    NeurIPS 2019, arXiv:1906.07413; official code kaidic/LDAM-DRW ``losses.py``
    (``LDAMLoss``). The margin is subtracted before the scaling by :math:`s`.

    Args:
        class_counts: per-class training counts :math:`n_c`.
        max_margin: the margin of the rarest class (0.5).
        scale: :math:`s > 0` (30).
        weight: per-class weights, torch's weighted mean (``None``: unweighted); assignable
            after construction, as DRW does each epoch.
        reduction, ignore_index, label_smoothing: as in ``nn.CrossEntropyLoss``.

    Shape:
        input ``(N, C)`` or ``(N, C, d1, ...)``; target ``(N)`` or ``(N, d1, ...)`` class
        indices; output a scalar, or the target's shape for ``reduction="none"``.

    Example::

        >>> loss = LDAMLoss([500, 50, 5], max_margin=0.5, scale=30.0)
        >>> loss(torch.randn(4, 3, requires_grad=True), torch.tensor([0, 1, 2, 2])).backward()
        >>> loss.margins  # m_c ∝ n_c^(-1/4), the largest max_margin
        tensor([0.1581, 0.2812, 0.5000], dtype=torch.float64)
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
        self.scale = F.check_ldam_scale(scale, self.max_margin)
        self.register_buffer("margins", F.ldam_margins(counts, max_margin))
        self.register_buffer("weight", _optional_tensor("weight", weight, counts.numel()))

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        F._num_classes_match(input, self.margins)
        return self._call(input, target, margins=self.margins, scale=self.scale, weight=self.weight)


class LogitAdjustedLoss(_SoftmaxFamilyLoss):
    r"""Logit-adjusted loss (Menon et al.): :math:`\mathrm{CE}(z + \log(\pi^\tau + 10^{-12}), y)`
    with :math:`\pi = n / \sum_c n_c`. The :math:`10^{-12}` inside the log keeps empty classes
    finite; ``tau=0`` or uniform counts give plain cross-entropy. At test time use the raw
    logits. See :func:`longtail.functional.logit_adjusted_loss`.

    Menon et al., "Long-tail learning via logit adjustment", ICLR 2021, arXiv:2007.07314;
    official code google-research/google-research ``logit_adjustment/utils.py``.

    Args:
        class_counts: per-class training counts :math:`n_c`.
        tau: the exponent :math:`\tau` of the prior (1.0).
        weight: per-class weights, torch's weighted mean (``None``: unweighted).
        reduction, ignore_index, label_smoothing: as in ``nn.CrossEntropyLoss``.

    Shape:
        input ``(N, C)`` or ``(N, C, d1, ...)``; target ``(N)`` or ``(N, d1, ...)`` class
        indices; output a scalar, or the target's shape for ``reduction="none"``.

    Example::

        >>> loss = LogitAdjustedLoss([500, 50, 5], tau=1.0)
        >>> loss(torch.randn(4, 3, requires_grad=True), torch.tensor([0, 1, 2, 2])).backward()
        >>> loss(torch.zeros(2, 3), torch.tensor([0, 2]))  # -(log(500/555) + log(5/555)) / 2
        tensor(2.4069)
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
        self.register_buffer("weight", _optional_tensor("weight", weight, counts.numel()))

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        F._num_classes_match(input, self.offsets)
        return self._call(input, target, offsets=self.offsets, weight=self.weight)


class BalancedSoftmaxLoss(_SoftmaxFamilyLoss):
    r"""Balanced Softmax (Ren et al.): :math:`\mathrm{CE}(z + \log n, y)`, i.e.
    :math:`\hat p_y = n_y e^{z_y} / \sum_j n_j e^{z_j}`. Use plain softmax at test time.
    A class with :math:`n = 0` never gets probability (a target of it has loss ``+inf``). See
    :func:`longtail.functional.balanced_softmax_loss`.

    Ren et al., "Balanced Meta-Softmax for Long-Tailed Visual Recognition", NeurIPS 2020,
    arXiv:2007.10740; official code jiawei-ren/BalancedMetaSoftmax-Classification
    ``loss/BalancedSoftmaxLoss.py``.

    Args:
        class_counts: per-class training counts :math:`n_c` (raw counts, not frequencies).
        weight: per-class weights, torch's weighted mean (``None``: unweighted).
        reduction, ignore_index, label_smoothing: as in ``nn.CrossEntropyLoss``.

    Shape:
        input ``(N, C)`` or ``(N, C, d1, ...)``; target ``(N)`` or ``(N, d1, ...)`` class
        indices; output a scalar, or the target's shape for ``reduction="none"``.

    Example::

        >>> loss = BalancedSoftmaxLoss([500, 50, 5])
        >>> loss(torch.randn(4, 3, requires_grad=True), torch.tensor([0, 1, 2, 2])).backward()
        >>> loss(torch.zeros(2, 3), torch.tensor([0, 2]))  # -(log(500/555) + log(5/555)) / 2
        tensor(2.4069)
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
        self.register_buffer("weight", _optional_tensor("weight", weight, counts.numel()))

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        F._num_classes_match(input, self.offsets)
        return self._call(input, target, offsets=self.offsets, weight=self.weight)


# ---------------------------------------------------------------------------------------------
# Sigmoid and detection losses. Stateful losses (EQLv2, Seesaw) keep their state in
# buffers, update it once per training step with plain torch ops after the kernel accepted the
# batch, and sum each step's increment across ranks when torch.distributed is initialised.
# ---------------------------------------------------------------------------------------------


class _StatefulLoss(nn.Module):
    """State policy shared by Seesaw and EQLv2.

    The state is updated when ``update_state`` is True, or, when it is None (the default), in
    training mode with autograd enabled — never in ``eval()`` or under ``torch.no_grad()``.
    With ``distributed=True`` and ``torch.distributed`` initialised, each step's increment is
    ``all_reduce``d (summed), so every rank holds the state of the global batch.
    """

    def __init__(self, distributed: bool) -> None:
        super().__init__()
        self.distributed = bool(distributed)

    def _updating(self, update_state: bool | None) -> bool:
        if update_state is None:
            return self.training and torch.is_grad_enabled()
        return bool(update_state)

    def _sum_across_ranks(self, increment: Tensor) -> Tensor:
        if self.distributed and dist.is_available() and dist.is_initialized():
            # all_reduce works in place on dense memory: never hand it a strided view.
            increment = increment.contiguous()
            dist.all_reduce(increment, op=dist.ReduceOp.SUM)
        return increment


class SigmoidFocalLoss(nn.Module):
    r"""Sigmoid focal loss (mmdetection / torchvision):
    :math:`\ell_{ij} = \alpha_t (1-p_t)^\gamma \mathrm{BCE}(z_{ij}, t_{ij})`.
    See :func:`longtail.functional.sigmoid_focal_loss`.

    Args:
        gamma: focusing exponent (2).
        alpha: weight of positives (0.25); ``None`` or negative disables it.
        reduction: ``"mean"`` (over elements, or ``sum / (avg_factor + eps)``), ``"sum"``
            or ``"none"``.
        ignore_index: label of rows that contribute nothing.

    Shape:
        input ``(N, C)``; target ``(N)`` labels in ``[0, C]`` (``C`` = background) or a float
        ``(N, C)`` target; output a scalar, or ``(N, C)`` for ``reduction="none"``.

    Example::

        >>> loss = SigmoidFocalLoss()
        >>> input = torch.randn(4, 3, requires_grad=True)
        >>> loss(input, torch.tensor([0, 3, 2, 3]), avg_factor=2).backward()
    """

    def __init__(
        self,
        gamma: float = 2.0,
        alpha: float | None = 0.25,
        reduction: str = "mean",
        ignore_index: int = -100,
    ) -> None:
        super().__init__()
        self.gamma = check_real("gamma", gamma, low=0.0)
        self.alpha = None if alpha is None else check_real("alpha", alpha, high=1.0)
        self.reduction = check_reduction(reduction)
        self.ignore_index = check_ignore_index(ignore_index)

    def forward(
        self,
        input: Tensor,
        target: Tensor,
        weight: Tensor | None = None,
        avg_factor: float | Tensor | None = None,
    ) -> Tensor:
        return F.sigmoid_focal_loss(
            input,
            target,
            gamma=self.gamma,
            alpha=self.alpha,
            weight=weight,
            reduction=self.reduction,
            avg_factor=avg_factor,
            ignore_index=self.ignore_index,
        )

    def extra_repr(self) -> str:
        return f"gamma={self.gamma}, alpha={self.alpha}, reduction={self.reduction!r}"


class EqualizationLoss(nn.Module):
    r"""Equalization loss (EQL, Tan et al. CVPR 2020), sigmoid form:
    :math:`L = \frac1N \sum_{ij} (1 - E(r_i) T_\lambda(f_j)(1-y_{ij}))\,\mathrm{BCE}_{ij}`.
    See :func:`longtail.functional.equalization_loss`.

    Args:
        class_frequencies: per-class image frequencies (image count / #images).
        lambda_: threshold, 0.00177 (LVIS v0.5) or 0.0011 (LVIS v1).
        reduction: ``"mean"`` (divide by N), ``"sum"`` or ``"none"``.

    Shape:
        input ``(N, C)``; target ``(N)`` labels in ``[0, C]`` (``C`` = background); output a
        scalar, or ``(N, C)`` for ``reduction="none"``.

    Example::

        >>> loss = EqualizationLoss([0.2, 0.001, 0.05], lambda_=0.00177)
        >>> input = torch.randn(4, 3, requires_grad=True)
        >>> loss(input, torch.tensor([0, 3, 1, 2])).backward()
    """

    def __init__(
        self, class_frequencies: Counts, lambda_: float = 0.00177, reduction: str = "mean"
    ) -> None:
        super().__init__()
        self.lambda_ = check_real("lambda_", lambda_, low=0.0)
        self.reduction = check_reduction(reduction)
        # Kept in the frequencies' own dtype: the threshold is compared in it.
        frequencies = as_class_counts(class_frequencies, name="class_frequencies")
        self.register_buffer(
            "class_frequencies", frequencies.to(F._frequency_dtype(class_frequencies))
        )

    def forward(
        self, input: Tensor, target: Tensor, avg_factor: float | Tensor | None = None
    ) -> Tensor:
        return F.equalization_loss(
            input,
            target,
            self.class_frequencies,
            lambda_=self.lambda_,
            reduction=self.reduction,
            avg_factor=avg_factor,
        )

    def extra_repr(self) -> str:
        return f"lambda_={self.lambda_}, reduction={self.reduction!r}"


class EQLv2Loss(_StatefulLoss):
    r"""Equalization loss v2 (Tan et al. CVPR 2021): BCE over C+1 logits with gradient-guided
    weights :math:`w_{ij} = \mathrm{pos\_w}_j y_{ij} + \mathrm{neg\_w}_j (1-y_{ij})`, divided by N
    (see :func:`longtail.functional.eqlv2_loss`).

    State (float32 buffers, in ``state_dict``): ``pos_grad`` and ``neg_grad`` (C, zeros) and
    ``pos_neg`` (C, 100). Each step computes the weights from ``pos_neg`` first, then the loss,
    then adds this batch's statistics ``Σ_i |σ−y| y w`` and ``Σ_i |σ−y| (1−y) w`` (class columns
    only) and sets ``pos_neg = pos_grad / (neg_grad + 1e-10)``. The statistics come out of the
    same fused kernel pass as the loss (no extra pass, no host synchronisation).

    Args:
        num_classes: C, the number of foreground classes (the input has C+1 columns).
        gamma, mu, alpha: the mapping ``f(x) = 1/(1+e^{−γ(x−μ)})`` and ``pos_w = 1 + α(1−neg_w)``;
            defaults 12, 0.8, 4.
        reduction: ``"mean"`` (divide by N, or ``avg_factor``), ``"sum"`` or ``"none"``.
        distributed: sum each step's statistics across ranks (``all_reduce``) when
            ``torch.distributed`` is initialised.

    Shape:
        input ``(N, C+1)``; target ``(N)`` labels in ``[0, C]`` (``C`` = background); output a
        scalar, or ``(N, C+1)`` for ``reduction="none"``.

    Example::

        >>> loss = EQLv2Loss(num_classes=3)
        >>> input = torch.randn(4, 4, requires_grad=True)
        >>> loss(input, torch.tensor([0, 3, 1, 2])).backward()
    """

    def __init__(
        self,
        num_classes: int,
        gamma: float = 12.0,
        mu: float = 0.8,
        alpha: float = 4.0,
        reduction: str = "mean",
        distributed: bool = True,
    ) -> None:
        super().__init__(distributed)
        self.num_classes = _check_num_classes(num_classes)
        # γ < 0 would turn f into a decreasing map, α < 0 give negative positive weights.
        self.gamma = check_real("gamma", gamma, low=0.0)
        self.mu = check_real("mu", mu)
        self.alpha = F._check_eqlv2_alpha(alpha)
        self.reduction = check_reduction(reduction)
        self.register_buffer("pos_grad", torch.zeros(self.num_classes))
        self.register_buffer("neg_grad", torch.zeros(self.num_classes))
        self.register_buffer("pos_neg", torch.full((self.num_classes,), 100.0))

    def forward(
        self,
        input: Tensor,
        target: Tensor,
        avg_factor: float | Tensor | None = None,
        update_state: bool | None = None,
    ) -> Tensor:
        check_reduction(self.reduction)
        F._check_eqlv2_input(input, target, self.num_classes)
        avg_factor = F._check_avg_factor(avg_factor, self.reduction)
        update = self._updating(update_state)
        loss, stats = F._eqlv2(
            input,
            target,
            self.pos_neg,
            gamma=self.gamma,
            mu=self.mu,
            alpha=self.alpha,
            reduction=self.reduction,
            avg_factor=avg_factor,
            collect_stats=update,
        )
        if update:
            # Only now, after the kernel accepted the batch: weights first, then statistics.
            inc = self._sum_across_ranks(stats.to(self.pos_grad.dtype))
            self.pos_grad.add_(inc[0])
            self.neg_grad.add_(inc[1])
            self.pos_neg.copy_(self.pos_grad / (self.neg_grad + 1e-10))
        return loss

    def extra_repr(self) -> str:
        return (
            f"num_classes={self.num_classes}, gamma={self.gamma}, mu={self.mu}, "
            f"alpha={self.alpha}, reduction={self.reduction!r}"
        )


def _check_num_classes(num_classes: int) -> int:
    # Buffers are sized by it: bound it so that a typo cannot ask for petabytes.
    return check_int("num_classes", num_classes, low=1, high=1 << 31)


class SeesawLoss(_StatefulLoss):
    r"""Seesaw loss (Wang et al. CVPR 2021) with its cumulative class counts as state:
    :math:`\ell_i = -\log\frac{e^{z_{iy}}}{e^{z_{iy}} + \sum_{j\ne y} M_{yj} C_{yj} e^{z_{ij}}}`
    (see :func:`longtail.functional.seesaw_loss`).

    State: the float32 buffer ``cum_samples`` (C entries; C+1 with the background last in the
    detection forms) counts the labels of every sample seen, background included. Each
    training step adds this batch's counts **before** computing its loss, as the official code
    does; under ``torch.distributed`` the increment is ``all_reduce``d first, so every rank
    computes its local loss with the counts of the global batch. The counting uses no
    ``unique``/``.item()`` (no host synchronisation) and works on any device.

    Args:
        num_classes: C, the number of (foreground) classes.
        p, q, eps: mitigation exponent (0.8), compensation exponent (2.0), clamp (1e-2).
        mode: ``"classification"`` (C logits, labels in ``[0, C)``), ``"background"`` (C+1
            logits, label C = background, a softmax class) or ``"objectness"`` (mmdetection's
            C+2 logits: classes then 2 objectness logits).
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.
        ignore_index: label of rows that contribute nothing (and are not counted).
        return_dict: return ``{"loss_cls_classes", "loss_cls_objectness"}`` like mmdetection.
        distributed: sum each step's counts across ranks when ``torch.distributed`` is
            initialised.

    Shape:
        input ``(N, C)``, ``(N, C+1)`` or ``(N, C+2)`` by ``mode``; target ``(N)``; output a
        scalar, or ``(N)`` for ``reduction="none"``.

    Example::

        >>> loss = SeesawLoss(num_classes=3)
        >>> input = torch.randn(4, 3, requires_grad=True)
        >>> loss(input, torch.tensor([0, 0, 1, 2])).backward()
    """

    def __init__(
        self,
        num_classes: int,
        p: float = 0.8,
        q: float = 2.0,
        eps: float = 1e-2,
        mode: str = "classification",
        reduction: str = "mean",
        ignore_index: int = -100,
        return_dict: bool = False,
        distributed: bool = True,
    ) -> None:
        super().__init__(distributed)
        self.num_classes = _check_num_classes(num_classes)
        self.p = check_real("p", p, low=0.0)
        self.q = check_real("q", q, low=0.0)
        self.eps = check_real("eps", eps, low=0.0, low_open=True)
        self.mode = F._check_seesaw_mode(mode)
        self.reduction = check_reduction(reduction)
        self.ignore_index = check_ignore_index(ignore_index)
        self.return_dict = bool(return_dict)
        length = self.num_classes + (0 if mode == "classification" else 1)
        self.register_buffer("cum_samples", torch.zeros(length))

    def forward(
        self,
        input: Tensor,
        target: Tensor,
        weight: Tensor | None = None,
        avg_factor: float | Tensor | None = None,
        update_state: bool | None = None,
    ) -> Tensor | dict[str, Tensor]:
        check_reduction(self.reduction)
        F._check_seesaw_input(input, target, self.num_classes, self.mode)
        avg_factor = F._check_avg_factor(avg_factor, self.reduction)
        weight = F._check_sample_weight(weight, input, input.shape[0])
        counts = self.cum_samples
        update = self._updating(update_state)
        if update:
            # Counts first (the official order); committed only once the kernel accepted the
            # batch, so a rejected batch leaves the state untouched.
            inc = F._label_counts(target, counts.numel(), counts.dtype)
            counts = counts + self._sum_across_ranks(inc)
        out = F._seesaw(
            input,
            target,
            counts,
            num_classes=self.num_classes,
            mode=self.mode,
            p=self.p,
            q=self.q,
            eps=self.eps,
            factors=None,
            weight=weight,
            reduction=self.reduction,
            avg_factor=avg_factor,
            ignore_index=self.ignore_index,
            return_dict=self.return_dict,
        )
        if update:
            self.cum_samples.copy_(counts)
        return out

    def extra_repr(self) -> str:
        return (
            f"num_classes={self.num_classes}, p={self.p}, q={self.q}, eps={self.eps}, "
            f"mode={self.mode!r}, reduction={self.reduction!r}"
        )


class SoftmaxEqualizationLoss(nn.Module):
    r"""Softmax equalization loss (the classification variant of EQL): rare classes
    (``f < λ``) are dropped from the softmax denominator of non-target rows with probability
    ``gamma``; see :func:`longtail.functional.softmax_equalization_loss`.

    Args:
        class_frequencies: per-class frequencies ``n_k / N``.
        lambda_: frequency threshold (0.00177); gamma: drop probability (0.9).
        generator: the source of the random drops (``None``: torch's global generator).
        reduction, ignore_index: as in ``nn.CrossEntropyLoss``.

    Shape:
        input ``(N, C)``; target ``(N)`` class indices in ``[0, C)``; ``beta`` (the drop mask,
        optional) ``(N, C)``; output a scalar, or ``(N)`` for ``reduction="none"``.

    Example::

        >>> loss = SoftmaxEqualizationLoss([0.7, 0.299, 0.001],
        ...                                generator=torch.Generator().manual_seed(0))
        >>> loss(torch.randn(4, 3, requires_grad=True), torch.tensor([0, 1, 2, 0])).backward()
    """

    def __init__(
        self,
        class_frequencies: Counts,
        lambda_: float = 0.00177,
        gamma: float = 0.9,
        generator: torch.Generator | None = None,
        reduction: str = "mean",
        ignore_index: int = -100,
    ) -> None:
        super().__init__()
        self.lambda_ = check_real("lambda_", lambda_, low=0.0)
        self.gamma = check_real("gamma", gamma, low=0.0, high=1.0)
        self.generator = generator
        self.reduction = check_reduction(reduction)
        self.ignore_index = check_ignore_index(ignore_index)
        # Kept in the frequencies' own dtype: the threshold is compared in it.
        frequencies = as_class_counts(class_frequencies, name="class_frequencies")
        self.register_buffer(
            "class_frequencies", frequencies.to(F._frequency_dtype(class_frequencies))
        )

    def forward(self, input: Tensor, target: Tensor, beta: Tensor | None = None) -> Tensor:
        return F.softmax_equalization_loss(
            input,
            target,
            self.class_frequencies,
            lambda_=self.lambda_,
            gamma=self.gamma,
            generator=self.generator,
            beta=beta,
            reduction=self.reduction,
            ignore_index=self.ignore_index,
        )

    def __getstate__(self):
        # A torch.Generator does not pickle; its state does.
        state = self.__dict__.copy()
        gen = state.pop("generator")
        state["_generator_state"] = None if gen is None else (str(gen.device), gen.get_state())
        return state

    def __setstate__(self, state):
        saved = state.pop("_generator_state")
        self.__dict__.update(state)
        self.generator = None
        if saved is not None:
            self.generator = torch.Generator(device=saved[0])
            self.generator.set_state(saved[1])


class GroupSoftmaxLoss(nn.Module):
    r"""Balanced group softmax (BAGS, Li et al. CVPR 2020): classes grouped by training instance
    count, a softmax per group with an "others" logit, and sampled "others"
    (see :func:`longtail.functional.group_softmax_loss`; test-time scores come from
    :meth:`inference`, i.e. :func:`longtail.functional.group_softmax_inference`).

    Args:
        class_counts: per-class training instance counts.
        bin_split: group boundaries, ``(10, 100, 1000)``.
        beta: "others" sampled per positive (8).
        generator: the source of the "others" draw (``None``: torch's global generator).
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.

    Shape:
        input ``(N, C + 1 + G)`` with G = ``len(bin_split) + 2`` groups; target ``(N)`` labels
        in ``[0, C]`` (C = background); output a scalar, or ``(N)`` for ``reduction="none"``.

    Example::

        >>> loss = GroupSoftmaxLoss([5, 50, 500, 5000])
        >>> input = torch.randn(6, 10, requires_grad=True)
        >>> loss(input, torch.tensor([0, 1, 4, 4, 2, 3])).backward()
    """

    def __init__(
        self,
        class_counts: Counts,
        bin_split: Sequence[int] = (10, 100, 1000),
        beta: float = 8.0,
        generator: torch.Generator | None = None,
        reduction: str = "mean",
    ) -> None:
        super().__init__()
        self.bin_split = tuple(F._check_bin_split(bin_split))
        self.beta = check_real("beta", beta, low=0.0)
        self.reduction = check_reduction(reduction)
        self.generator = generator
        counts = as_class_counts(class_counts)
        label_map, self.sizes = F.bags_layout(counts, self.bin_split)
        self.register_buffer("class_counts", counts)
        self.register_buffer("label_map", label_map)

    def forward(self, input: Tensor, target: Tensor, keep: Tensor | None = None) -> Tensor:
        check_reduction(self.reduction)
        return F._group_softmax(
            input,
            target,
            self.label_map,
            self.sizes,
            beta=self.beta,
            generator=self.generator,
            keep=keep,
            reduction=self.reduction,
        )

    def inference(self, input: Tensor) -> Tensor:
        """``(N, C+1)`` test-time scores, the background last."""
        return F.group_softmax_inference(input, self.class_counts, self.bin_split)

    __getstate__ = SoftmaxEqualizationLoss.__getstate__
    __setstate__ = SoftmaxEqualizationLoss.__setstate__
