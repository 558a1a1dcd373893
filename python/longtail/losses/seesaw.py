"""Seesaw loss (Wang et al. CVPR 2021): the functional form, for given cumulative class counts,
and the ``nn.Module`` that accumulates them."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from longtail._validation import (
    Counts,
    as_real_vector,
    check_choice,
    check_ignore_index,
    check_real,
    check_reduction,
)
from longtail.losses._common import (
    _check_avg_factor,
    _check_labels_2d,
    _check_num_classes,
    _check_sample_weight,
    _compute_dtype,
    _StatefulLoss,
)
from longtail.losses._ops import seesaw_loss as _seesaw_kernel

_SEESAW_MODES = ("classification", "background", "objectness")


def _check_seesaw_mode(mode: str) -> str:
    return check_choice("mode", mode, _SEESAW_MODES)


def _seesaw_columns(num_classes: int, mode: str) -> int:
    return num_classes + {"classification": 0, "background": 1, "objectness": 2}[mode]


_SEESAW_LAYOUTS = {
    "classification": " (num_classes={} class logits)",
    "background": " (num_classes={} class logits and one background logit)",
    "objectness": " (num_classes={} class logits and 2 objectness logits)",
}


def _check_seesaw_input(input: Tensor, target: Tensor, num_classes: int, mode: str) -> None:
    _check_labels_2d(
        input,
        target,
        _seesaw_columns(num_classes, mode),
        lambda: _SEESAW_LAYOUTS[mode].format(num_classes),
    )


_NUMPY_COUNT_DTYPES = {torch.float32: np.float32, torch.float64: np.float64}
_NUMPY_LABEL_DTYPES = (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8)


def _label_counts(target: Tensor, length: int, dtype: torch.dtype) -> Tensor:
    """Per-label counts of ``target`` over ``[0, length)`` (other values are not counted),
    without a host synchronisation (no ``unique``/``bincount`` on a device)."""
    counts_dtype = _NUMPY_COUNT_DTYPES.get(dtype)
    if target.device.type == "cpu" and counts_dtype is not None:
        if target.dtype in _NUMPY_LABEL_DTYPES and not torch.compiler.is_compiling():
            # One NumPy pass instead of five torch ops (a fifth of a small batch's step).
            labels = target.numpy()
            labels = labels[(labels >= 0) & (labels < length)]
            return torch.from_numpy(
                np.bincount(labels, minlength=length).astype(counts_dtype, copy=False)
            )
    target = target.long()  # index_add_ takes int64 indices; any integer label dtype is upcast
    valid = (target >= 0) & (target < length)
    counts = torch.zeros(length, dtype=dtype, device=target.device)
    return counts.index_add_(0, target.clamp(0, length - 1), valid.to(dtype))


def _as_seesaw_counts(class_counts: Counts, input: Tensor) -> Tensor:
    """Cumulative counts: 1-D, real, finite, non-negative (all zero is allowed: they are clamped
    at 1)."""
    return as_real_vector("class_counts", class_counts, nonnegative=True, allow_meta=input.is_meta)


def _seesaw(
    input: Tensor,
    target: Tensor,
    counts: Tensor | None,
    *,
    num_classes: int,
    mode: str,
    p: float,
    q: float,
    eps: float,
    factors: Tensor | None,
    weight: Tensor | None,
    reduction: str,
    avg_factor: float | None,
    ignore_index: int,
    return_dict: bool,
) -> Tensor | dict[str, Tensor]:
    x = _compute_dtype(input)
    if counts is not None:
        counts = counts[:num_classes].to(device=x.device, dtype=x.dtype)
    if factors is not None:
        factors = factors.to(device=x.device, dtype=x.dtype)
    if weight is not None:
        weight = weight.to(device=x.device, dtype=x.dtype)
    cls, obj = _seesaw_kernel(
        x,
        target,
        num_classes=num_classes,
        mode=mode,
        counts=counts,
        factors=factors,
        weight=weight,
        p=p,
        q=q,
        eps=eps,
        ignore_index=ignore_index,
        reduction=reduction,
        avg_factor=avg_factor,
    )
    if x is not input:
        cls, obj = cls.to(input.dtype), obj.to(input.dtype)
    if return_dict:
        out = {"loss_cls_classes": cls}
        if mode == "objectness":
            out["loss_cls_objectness"] = obj
        return out
    return cls + obj if mode == "objectness" else cls


def seesaw_loss(
    input: Tensor,
    target: Tensor,
    class_counts: Counts,
    *,
    p: float = 0.8,
    q: float = 2.0,
    eps: float = 1e-2,
    mode: str = "classification",
    weight: Tensor | None = None,
    reduction: str = "mean",
    avg_factor: float | Tensor | None = None,
    ignore_index: int = -100,
    return_dict: bool = False,
) -> Tensor | dict[str, Tensor]:
    r"""Seesaw loss (Wang et al. CVPR 2021) for given cumulative class counts:

    .. math::
        \ell_i = -\log\frac{e^{z_{iy}}}{e^{z_{iy}} + \sum_{j\ne y} S_{yj}\,e^{z_{ij}}},\qquad
        S_{yj} = M_{yj}\,C_{yj},

    with mitigation :math:`M_{yj} = (N_j/N_y)^p` if :math:`N_j < N_y` (else 1; counts clamped
    at 1) and compensation :math:`C_{yj} = (\sigma_j/\max(\sigma_y, \epsilon))^q` if that
    exceeds 1 (else 1), :math:`\sigma = \mathrm{softmax}(z)` of the unadjusted logits. The
    factors are constants (detached), so the gradient is
    :math:`\mathrm{softmax}(z + \log S \odot (1-\mathrm{onehot})) - \mathrm{onehot}` — not the
    finite-difference gradient when ``q > 0``. This function is stateless:
    :class:`longtail.losses.SeesawLoss` accumulates the counts (before the loss of each batch).

    Args:
        input: ``(N, C)`` logits (``mode="classification"``), ``(N, C+1)`` with a background
            logit last (``"background"``) or ``(N, C+2)``, C class logits then 2 objectness
            logits (``"objectness"``, mmdetection's head).
        target: labels ``(N,)`` in ``[0, C)`` (classification) or ``[0, C]`` (C = background).
        class_counts: cumulative per-class counts ``N_j`` (the first C entries are used).
        p, q, eps: mitigation exponent, compensation exponent, clamp of ``σ_y``.
        mode: the head layout. ``"background"``: the background is a class of the softmax;
            the factors act between foreground classes only (a background row, and the
            background column, get factor 1). ``"objectness"``: the class term covers the
            foreground rows only, plus a 2-way cross-entropy on the objectness logits
            (0 = object, 1 = background) over every row, both with the same ``weight`` and
            ``avg_factor``.
        weight: per-sample weights ``(N,)`` (mmdetection's ``label_weights``).
        reduction: ``"mean"`` (per term: mean over its rows, or ``sum / (avg_factor + eps)``),
            ``"sum"`` or ``"none"`` (per row).
        ignore_index: label of rows that contribute nothing.
        return_dict: return ``{"loss_cls_classes", "loss_cls_objectness"}`` (as mmdetection)
            instead of their sum.

    Example::

        >>> input = torch.randn(6, 4, requires_grad=True)
        >>> loss = seesaw_loss(input, torch.tensor([0, 1, 3, 3, 2, 0]), [500, 40, 3, 120])
        >>> loss.backward()
    """
    check_reduction(reduction)
    _check_seesaw_mode(mode)
    p = check_real("p", p, low=0.0)
    q = check_real("q", q, low=0.0)
    eps = check_real("eps", eps, low=0.0, low_open=True)
    ignore_index = check_ignore_index(ignore_index)
    if not isinstance(input, Tensor) or input.dim() != 2:
        _check_labels_2d(input, target)  # raises the type or shape error
    num_classes = input.shape[1] - _seesaw_columns(0, mode)
    counts = _as_seesaw_counts(class_counts, input)
    allowed = (num_classes,) if mode == "classification" else (num_classes, num_classes + 1)
    if counts.numel() not in allowed:
        raise ValueError(
            f"class_counts should have {' or '.join(map(str, allowed))} entries for input of "
            f"shape {tuple(input.shape)} in mode={mode!r}, but got {counts.numel()}"
        )
    _check_seesaw_input(input, target, num_classes, mode)
    avg_factor = _check_avg_factor(avg_factor, reduction)
    weight = _check_sample_weight(weight, input, input.shape[0])
    return _seesaw(
        input,
        target,
        counts,
        num_classes=num_classes,
        mode=mode,
        p=p,
        q=q,
        eps=eps,
        factors=None,
        weight=weight,
        reduction=reduction,
        avg_factor=avg_factor,
        ignore_index=ignore_index,
        return_dict=return_dict,
    )


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

    # The buffers, typed (nn.Module.__getattr__ would type them Tensor | Module).
    cum_samples: Tensor

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
        self.mode = _check_seesaw_mode(mode)
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
        _check_seesaw_input(input, target, self.num_classes, self.mode)
        avg_factor = _check_avg_factor(avg_factor, self.reduction)
        weight = _check_sample_weight(weight, input, input.shape[0])
        counts = self.cum_samples
        update = self._updating(update_state)
        if update:
            # Counts first (the official order); committed only once the kernel accepted the
            # batch, so a rejected batch leaves the state untouched.
            inc = _label_counts(target, counts.numel(), counts.dtype)
            counts = counts + self._sum_across_ranks(inc)
        out = _seesaw(
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
