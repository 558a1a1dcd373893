"""Functional forms of longtail's losses (``Module`` versions are in :mod:`longtail.losses`).

Every softmax-family loss here is one fused kernel: cross-entropy over adjusted logits
``u_j = s·(z_j − m_y·[j = y]) + b_j`` (scale ``s``, target margin ``m``, per-class offset ``b``),
with class weights ``w`` and an optional focal factor. The loss and its gradient come out of one
pass over the logits (Rust on CPU tensors; the same math as libtorch ops on CUDA tensors).

Shared conventions, as in :func:`torch.nn.functional.cross_entropy`:

* ``input`` is ``(N, C)`` or ``(N, C, d1, ...)`` logits, ``target`` ``(N)`` or ``(N, d1, ...)``
  integer class indices; float16/bfloat16 logits are computed in float32.
* ``reduction`` is ``"mean"``, ``"sum"`` or ``"none"``; ``ignore_index`` rows contribute
  nothing; ``label_smoothing`` mixes in the uniform target exactly as torch does.
* ``"mean"`` divides by ``Σ w_{y_i}`` over non-ignored rows (torch's weighted mean) unless a
  loss says otherwise; ``normalization="count"`` divides by the number of non-ignored rows
  instead (the TF convention of the official class-balanced loss).
* ``class_counts`` are the training set's per-class sample counts (list, NumPy array or
  tensor).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from longtail import weights as _weights
from longtail._autograd import softmax_loss
from longtail._validation import (
    as_class_counts,
    as_per_class,
    check_logits_target,
    check_real,
    check_reduction,
)

__all__ = [
    "balanced_softmax_loss",
    "class_balanced_loss",
    "focal_loss",
    "ldam_loss",
    "ldam_margins",
    "logit_adjust",
    "logit_adjusted_loss",
    "logit_adjustments",
    "weighted_cross_entropy",
]

Counts = Sequence[float] | np.ndarray | Tensor

_LOW_PRECISION = (torch.float16, torch.bfloat16)


def _run(input: Tensor, target: Tensor, reduction: str, label_smoothing: float, **kw) -> Tensor:
    """Validates the common arguments and runs the kernel; low-precision logits run in float32."""
    check_logits_target(input, target)
    check_reduction(reduction)
    label_smoothing = check_real("label_smoothing", label_smoothing, low=0.0, high=1.0)
    x = input.float() if input.dtype in _LOW_PRECISION else input
    for name in ("offsets", "margins", "weight", "alpha"):
        if kw.get(name) is not None:
            kw[name] = kw[name].to(device=x.device, dtype=x.dtype)
    loss = softmax_loss(x, target, reduction=reduction, label_smoothing=label_smoothing, **kw)
    return loss.to(input.dtype) if x is not input else loss


def _num_classes(input: Tensor) -> int:
    if not isinstance(input, Tensor):
        raise TypeError(f"input should be a torch.Tensor, but got input of type {type(input)}")
    if input.dim() < 2:
        raise ValueError(
            "input should have shape (N, C) or (N, C, d1, ...), but got input of shape "
            f"{tuple(input.shape)}"
        )
    return input.shape[1]


def logit_adjustments(class_counts: Counts, tau: float = 1.0) -> Tensor:
    """``log(π^τ + 1e-12)`` with ``π = n / Σ n`` (float64): the logit-adjustment offsets.

    The 1e-12 sits inside the log as in the official code, so zero-count classes get a finite
    offset (≈ −27.6) and ``tau=0`` gives the same constant for every class (plain CE)."""
    counts = as_class_counts(class_counts)
    tau = check_real("tau", tau)
    if tau < 0 and (counts == 0).any():
        # 0^τ = inf for τ < 0: no finite adjustment exists for an empty class.
        raise ValueError(
            f"tau should be >= 0 when class_counts has zero entries, but got tau={tau}"
        )
    prior = counts / counts.sum()
    return torch.log(prior.pow(tau) + 1e-12)


def logit_adjust(logits: Tensor, class_counts: Counts, tau: float = 1.0) -> Tensor:
    """Post-hoc logit adjustment (Menon et al.): ``logits − log(π^τ + 1e-12)`` along dim 1
    (dim 0 for 1-D logits); predict with ``argmax`` of the result."""
    if not isinstance(logits, Tensor) or not logits.is_floating_point():
        raise TypeError(f"logits should be a floating-point tensor, but got {type(logits)}")
    class_dim = 0 if logits.dim() == 1 else 1
    counts = as_class_counts(class_counts, logits.shape[class_dim])
    adj = logit_adjustments(counts, tau).to(device=logits.device, dtype=logits.dtype)
    shape = [1] * logits.dim()
    shape[class_dim] = -1
    return logits - adj.view(shape)


def logit_adjusted_loss(
    input: Tensor,
    target: Tensor,
    class_counts: Counts,
    *,
    tau: float = 1.0,
    weight: Tensor | None = None,
    reduction: str = "mean",
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
) -> Tensor:
    """Logit-adjusted cross-entropy (Menon et al. ICLR 2021): ``CE(z + log(π^τ + 1e-12), y)``.

    ``tau=0`` or uniform counts give plain cross-entropy. At test time use the raw logits (the
    adjustment is already learned) or :func:`logit_adjust` on a plainly trained model."""
    c = _num_classes(input)
    offsets = logit_adjustments(as_class_counts(class_counts, c), tau)
    return _run(
        input,
        target,
        reduction,
        label_smoothing,
        offsets=offsets,
        weight=as_per_class("weight", weight, c, input),
        ignore_index=ignore_index,
    )


def balanced_softmax_loss(
    input: Tensor,
    target: Tensor,
    class_counts: Counts,
    *,
    weight: Tensor | None = None,
    reduction: str = "mean",
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
) -> Tensor:
    """Balanced Softmax (Ren et al. NeurIPS 2020): ``CE(z + log n, y)``, i.e.
    ``p̂_y = n_y e^{z_y} / Σ_j n_j e^{z_j}``.

    A class with ``n = 0`` gets offset ``−inf`` (as in the official code): it never receives
    probability, and a target of that class has loss ``+inf``. Use plain ``softmax(z)`` at test
    time."""
    c = _num_classes(input)
    counts = as_class_counts(class_counts, c)
    return _run(
        input,
        target,
        reduction,
        label_smoothing,
        offsets=torch.log(counts),
        weight=as_per_class("weight", weight, c, input),
        ignore_index=ignore_index,
    )


def ldam_margins(class_counts: Counts, max_margin: float = 0.5) -> Tensor:
    """LDAM margins ``m_c ∝ n_c^{−1/4}`` rescaled so that ``max m = max_margin`` (float64).

    Zero-count classes get ``max_margin`` (the limit for the rarest class) instead of the
    official code's ``inf``/NaN."""
    counts = as_class_counts(class_counts)
    max_margin = check_real("max_margin", max_margin, low=0.0)
    raw = torch.where(counts > 0, counts.clamp(min=1e-300).pow(-0.25), torch.zeros_like(counts))
    top = raw.max()
    margins = raw * (max_margin / top)
    return torch.where(counts > 0, margins, torch.full_like(counts, max_margin))


def ldam_loss(
    input: Tensor,
    target: Tensor,
    class_counts: Counts,
    *,
    max_margin: float = 0.5,
    scale: float = 30.0,
    weight: Tensor | None = None,
    reduction: str = "mean",
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
) -> Tensor:
    """LDAM (Cao et al. NeurIPS 2019): ``CE(s·(z − m_y·onehot), y, weight=w)``.

    The margin is subtracted before scaling; ``weight`` (e.g. :func:`longtail.weights.drw`)
    uses torch's weighted mean, as the official LDAM-DRW code does."""
    c = _num_classes(input)
    margins = ldam_margins(as_class_counts(class_counts, c), max_margin)
    scale = check_real("scale", scale, low=0.0, low_open=True)
    return _run(
        input,
        target,
        reduction,
        label_smoothing,
        margins=margins,
        scale=scale,
        weight=as_per_class("weight", weight, c, input),
        ignore_index=ignore_index,
    )


_WEIGHTINGS = ("inverse_frequency", "sqrt_inverse_frequency", "cost_sensitive", "effective_number")


def weighted_cross_entropy(
    input: Tensor,
    target: Tensor,
    class_counts: Counts | None = None,
    *,
    weighting: str = "inverse_frequency",
    beta: float = 0.9999,
    weight: Tensor | None = None,
    reduction: str = "mean",
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
    normalization: str = "weight",
) -> Tensor:
    """Class-weighted cross-entropy with weights from ``class_counts`` (spec 2.1, 2.3) or given.

    Args:
        class_counts: per-class training counts; the weights come from ``weighting``:
            ``"inverse_frequency"`` (``N/n_c``), ``"sqrt_inverse_frequency"``
            (``(N/n_c)^{1/2}``), ``"cost_sensitive"`` (``n_min/n_c``) or ``"effective_number"``
            (Cui et al., with ``beta``). Give either ``class_counts`` or ``weight``.
        weight: explicit per-class weights (a cost vector), used as given.
        normalization: ``"weight"`` (default) divides ``"mean"`` by ``Σ w_{y_i}`` as
            ``F.cross_entropy`` does — under it ``N/n_c`` and ``n_min/n_c`` give the same loss;
            ``"count"`` divides by the number of non-ignored samples.
    """
    c = _num_classes(input)
    if (class_counts is None) == (weight is None):
        raise ValueError("weighted_cross_entropy needs exactly one of class_counts or weight")
    if weight is None:
        weight = _weighting(as_class_counts(class_counts, c), weighting, beta, input)
    return _run(
        input,
        target,
        reduction,
        label_smoothing,
        ignore_index=ignore_index,
        weight=as_per_class("weight", weight, c, input),
        normalization=_check_normalization(normalization),
    )


def _weighting(counts: Tensor, weighting: str, beta: float, input: Tensor) -> Tensor:
    """Per-class weights (float64) for the named ``weighting`` rule."""
    if weighting == "inverse_frequency":
        return _weights.inverse_frequency(counts, dtype=torch.float64)
    if weighting == "sqrt_inverse_frequency":
        return _weights.inverse_frequency(counts, 0.5, dtype=torch.float64)
    if weighting == "cost_sensitive":
        return _weights.cost_sensitive(counts, dtype=torch.float64)
    if weighting == "effective_number":
        return _weights.effective_number(counts, beta, dtype=torch.float64)
    raise ValueError(
        f"weighting should be one of {', '.join(map(repr, _WEIGHTINGS))}, but got "
        f"weighting={weighting!r}"
    )


def _num_classes_match(input: Tensor, per_class: Tensor) -> None:
    """A Module built for C classes must get C logit columns."""
    if isinstance(input, Tensor) and input.dim() >= 2 and input.shape[1] != per_class.numel():
        raise ValueError(
            f"input should have {per_class.numel()} classes (the length of class_counts), but "
            f"got input of shape {tuple(input.shape)}"
        )


def _check_loss_type(loss_type: str) -> str:
    if loss_type not in _CB_TYPES:
        raise ValueError(
            f"loss_type should be one of {', '.join(map(repr, _CB_TYPES))}, but got "
            f"loss_type={loss_type!r}"
        )
    return loss_type


def _check_normalization(normalization: str) -> str:
    if normalization not in ("weight", "count"):
        raise ValueError(
            "normalization should be 'weight' (divide by the sum of target weights) or 'count' "
            f"(divide by the number of samples), but got normalization={normalization!r}"
        )
    return normalization


def focal_loss(
    input: Tensor,
    target: Tensor,
    *,
    gamma: float = 2.0,
    alpha: Tensor | Sequence[float] | float | None = None,
    weight: Tensor | None = None,
    reduction: str = "mean",
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
) -> Tensor:
    """Softmax focal loss: ``ℓ_i = α_{y_i}·(1 − e^{−c_i})^γ·c_i`` with
    ``c_i = F.cross_entropy(input, target, weight, reduction="none", label_smoothing)``.

    With no ``weight`` and no smoothing ``e^{−c_i} = p_{y_i}``: the classic
    ``−α_y (1−p_y)^γ log p_y`` (Lin et al.). With ``weight`` it is exactly the LDAM-DRW
    ``FocalLoss(weight, gamma)`` (class weights inside the exponent). ``"mean"`` divides by
    the number of non-ignored samples. ``gamma=0`` is cross-entropy.

    Args:
        alpha: per-class factors (or one float for every class) outside the focal term.
    """
    c = _num_classes(input)
    gamma = check_real("gamma", gamma, low=0.0)
    return _run(
        input,
        target,
        reduction,
        label_smoothing,
        gamma=gamma,
        alpha=as_per_class("alpha", alpha, c, input),
        weight=as_per_class("weight", weight, c, input),
        ignore_index=ignore_index,
        normalization="count",
    )


_CB_TYPES = ("softmax",)


def class_balanced_loss(
    input: Tensor,
    target: Tensor,
    class_counts: Counts,
    *,
    beta: float = 0.9999,
    gamma: float = 1.0,
    loss_type: str = "softmax",
    reduction: str = "mean",
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
    normalization: str = "count",
) -> Tensor:
    """Class-balanced loss (Cui et al. CVPR 2019) with effective-number weights
    ``(1−β)/(1−β^{n_c})`` normalised to sum to C.

    ``loss_type="softmax"``: ``Σ_i w_{y_i} CE_i / N`` — the official code's normalisation
    (``normalization="count"``, the default); ``normalization="weight"`` gives torch's
    ``CE(weight=w)`` instead. ``beta=0`` is plain CE. ``gamma`` is used by the focal type.
    """
    c = _num_classes(input)
    _check_loss_type(loss_type)
    check_real("gamma", gamma, low=0.0)
    w = _weights.effective_number(as_class_counts(class_counts, c), beta, dtype=torch.float64)
    return _run(
        input,
        target,
        reduction,
        label_smoothing,
        weight=w,
        ignore_index=ignore_index,
        normalization=_check_normalization(normalization),
    )
