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

import itertools
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from longtail import weights as _weights
from longtail._autograd import group_softmax_loss as _group_kernel
from longtail._autograd import seesaw_loss as _seesaw_kernel
from longtail._autograd import sigmoid_loss, softmax_loss
from longtail._validation import (
    Counts,
    _check_on_device,
    as_class_counts,
    as_per_class,
    as_real_vector,
    check_avg_factor,
    check_choice,
    check_ignore_index,
    check_int,
    check_logits_target,
    check_real,
    check_reduction,
    check_sample_weight,
)
from longtail.exceptions import OutOfRangeError

__all__ = [
    "bags_layout",
    "balanced_softmax_loss",
    "class_balanced_loss",
    "eqlv2_loss",
    "eqlv2_weights",
    "equalization_loss",
    "focal_loss",
    "group_softmax_inference",
    "group_softmax_loss",
    "ldam_loss",
    "ldam_margins",
    "logit_adjust",
    "logit_adjusted_loss",
    "logit_adjustments",
    "seesaw_loss",
    "sigmoid_focal_loss",
    "softmax_equalization_loss",
    "weighted_cross_entropy",
]

_LOW_PRECISION = (torch.float16, torch.bfloat16)

# The largest |adjusted logit| term a float32 kernel can hold: a margin or offset times the scale
# past it overflows to inf.
_F32_MAX = torch.finfo(torch.float32).max


def _run(
    input: Tensor,
    target: Tensor,
    reduction: str,
    label_smoothing: float,
    checked: bool = False,
    **kw,
) -> Tensor:
    """Validates the common arguments and runs the kernel; low-precision logits run in float32
    (the kernel layer casts the per-class parameters to that compute dtype, never to float16).
    ``checked``: the caller has already run :func:`check_logits_target`."""
    if not checked:
        check_logits_target(input, target)
    check_reduction(reduction)
    label_smoothing = check_real("label_smoothing", label_smoothing, low=0.0, high=1.0)
    if "ignore_index" in kw:
        kw["ignore_index"] = check_ignore_index(kw["ignore_index"])
    x = input.float() if input.dtype in _LOW_PRECISION else input
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
    # Scale to max 1 before the sum: counts of 1e308 each would overflow Σ n (the prior is
    # scale-invariant in the counts).
    scaled = counts / counts.max()
    prior = scaled / scaled.sum()
    return torch.log(prior.pow(tau) + 1e-12)


def logit_adjust(logits: Tensor, class_counts: Counts, tau: float = 1.0) -> Tensor:
    """Post-hoc logit adjustment (Menon et al.): ``logits − log(π^τ + 1e-12)`` along dim 1
    (dim 0 for 1-D logits); predict with ``argmax`` of the result."""
    if not isinstance(logits, Tensor) or not logits.is_floating_point():
        raise TypeError(f"logits should be a floating-point tensor, but got {type(logits)}")
    if logits.dim() == 0:
        raise ValueError("logits should have a class dimension, but got a 0-d tensor")
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
    margins = raw / top * max_margin  # raw/top <= 1 first: max_margin/top could overflow
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
    scale = check_ldam_scale(scale, max_margin)
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


def check_ldam_scale(scale: float, max_margin: float) -> float:
    """``scale > 0`` with ``scale·max_margin`` finite in float32, the kernel's smallest compute
    dtype (``max_margin=1e308`` would make every adjusted target logit ``-inf``)."""
    scale = check_real("scale", scale, low=0.0, low_open=True)
    max_margin = check_real("max_margin", max_margin, low=0.0)
    if scale * max_margin > _F32_MAX:
        raise ValueError(
            f"max_margin should be <= {_F32_MAX / scale:g} so that scale * max_margin is finite "
            f"in float32 (scale={scale}), but got max_margin={max_margin}"
        )
    return scale


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
    """Class-weighted cross-entropy with weights from ``class_counts`` or given.

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
    check_choice("weighting", weighting, _WEIGHTINGS)
    if weighting == "inverse_frequency":
        return _weights.inverse_frequency(counts, dtype=torch.float64)
    if weighting == "sqrt_inverse_frequency":
        return _weights.inverse_frequency(counts, 0.5, dtype=torch.float64)
    if weighting == "cost_sensitive":
        return _weights.cost_sensitive(counts, dtype=torch.float64)
    return _weights.effective_number(counts, beta, dtype=torch.float64)


def _num_classes_match(input: Tensor, per_class: Tensor) -> None:
    """A Module built for C classes must get C logit columns."""
    if isinstance(input, Tensor) and input.dim() >= 2 and input.shape[1] != per_class.numel():
        raise ValueError(
            f"input should have {per_class.numel()} classes (the length of class_counts), but "
            f"got input of shape {tuple(input.shape)}"
        )


def _check_loss_type(loss_type: str) -> str:
    return check_choice("loss_type", loss_type, _CB_TYPES)


def _check_normalization(normalization: str) -> str:
    if not isinstance(normalization, str) or normalization not in ("weight", "count"):
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


_CB_TYPES = ("softmax", "sigmoid", "focal")


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
    ``CE(weight=w)`` instead. ``beta=0`` is plain CE.

    ``loss_type="sigmoid"``: ``Σ_{i,j} w_{y_i} BCE(z_ij, onehot_ij) / N``; ``"focal"``: the same
    with the focal modulator ``(1 − p_t)^γ`` and no α — the official (TF) sigmoid and focal
    types, normalised by ``Σ labels = N``. For these ``reduction="none"`` returns the ``(N, C)``
    element losses, and ``label_smoothing`` must be 0.
    """
    c = _num_classes(input)
    _check_loss_type(loss_type)
    check_real("gamma", gamma, low=0.0)
    w = _weights.effective_number(as_class_counts(class_counts, c), beta, dtype=torch.float64)
    if loss_type != "softmax":
        return _class_balanced_sigmoid(
            input,
            target,
            w,
            gamma=gamma,
            loss_type=loss_type,
            reduction=reduction,
            ignore_index=ignore_index,
            label_smoothing=label_smoothing,
            normalization=normalization,
        )
    return _run(
        input,
        target,
        reduction,
        label_smoothing,
        weight=w,
        ignore_index=ignore_index,
        normalization=_check_normalization(normalization),
    )


# ---------------------------------------------------------------------------------------------
# Sigmoid and detection losses: sigmoid focal, class-balanced sigmoid/focal, EQL,
# EQLv2, Seesaw, softmax EQL and BAGS group softmax. Detection labels run over [0, C] with C the
# background (mmdetection >= 2). "mean" follows mmdetection's weight_reduce_loss: the mean, or
# sum / (avg_factor + eps) when an avg_factor is given (eps the float32 epsilon).
# ---------------------------------------------------------------------------------------------


_check_avg_factor = check_avg_factor


def _check_labels_2d(
    input: Tensor, target: Tensor, columns: int | None = None, what: str = ""
) -> None:
    """``input`` (N, K) float logits and ``target`` (N,) integer labels; K == columns if given."""
    check_logits_target(input, target)
    if input.dim() != 2:
        raise ValueError(
            f"input should have shape (N, C), but got input of shape {tuple(input.shape)}"
        )
    if columns is not None and input.shape[1] != columns:
        raise ValueError(
            f"input should have {columns} columns{what}, but got input of shape "
            f"{tuple(input.shape)}"
        )


_check_sample_weight = check_sample_weight


def _compute_dtype(input: Tensor) -> Tensor:
    return input.float() if input.dtype in _LOW_PRECISION else input


def _sigmoid_run(input: Tensor, target: Tensor, *, reduction: str, **kw) -> tuple[Tensor, Tensor]:
    """Runs the sigmoid kernel on float32/float64 logits; returns ``(loss, stats)``."""
    x = _compute_dtype(input)
    for name in ("weight", "label_weight", "pos_weight", "neg_weight"):
        if kw.get(name) is not None:
            kw[name] = kw[name].to(device=x.device, dtype=x.dtype)
    if target.is_floating_point():
        target = target.to(x.dtype)
    loss, stats = sigmoid_loss(x, target, reduction=reduction, **kw)
    return (loss.to(input.dtype) if x is not input else loss), stats


def sigmoid_focal_loss(
    input: Tensor,
    target: Tensor,
    *,
    gamma: float = 2.0,
    alpha: float | None = 0.25,
    weight: Tensor | None = None,
    reduction: str = "mean",
    avg_factor: float | Tensor | None = None,
    ignore_index: int = -100,
) -> Tensor:
    r"""Sigmoid focal loss (Lin et al. 2017), as mmdetection's ``py_sigmoid_focal_loss`` and
    torchvision's ``sigmoid_focal_loss`` compute it:

    .. math::
        \ell_{ij} = \alpha_t\,(1 - p_t)^\gamma\,\mathrm{BCE}(z_{ij}, t_{ij}),\qquad
        p_t = \sigma(z) t + (1-\sigma(z))(1-t),\quad \alpha_t = \alpha t + (1-\alpha)(1-t).

    Args:
        input: logits ``(N, C)`` (any shape with a float target).
        target: integer labels ``(N,)`` in ``[0, C]``, where ``C`` is the background (an
            all-negative row; mmdetection's convention), or a float target of the input's
            shape (torchvision's convention); an integer target of the input's rank is a
            one-hot target (mmdetection's ``pred.dim() == target.dim()`` rule, e.g.
            ``(B, C, H, W)``).
        gamma: focusing exponent, ``>= 0``; ``0`` is α-weighted BCE.
        alpha: weight of positives (negatives get ``1 − α``); ``None`` or a negative value
            disables it, as torchvision's ``alpha=-1`` does.
        weight: per-sample weights ``(N,)`` (mmdetection's ``label_weights``).
        reduction: ``"none"`` (element losses, input's shape), ``"sum"`` or ``"mean"`` (over all
            elements, or ``sum / (avg_factor + eps)`` as mmdetection; RetinaNet passes the
            number of positives).
        ignore_index: label of rows that contribute nothing (integer targets only).

    Shape:
        input ``(N, C)``; target ``(N)`` or ``(N, C)``; output a scalar, or ``(N, C)`` for
        ``reduction="none"``.

    Example::

        >>> input = torch.randn(8, 5, requires_grad=True)
        >>> target = torch.tensor([0, 5, 5, 2, 4, 5, 1, 5])  # 5 = background
        >>> loss = sigmoid_focal_loss(input, target, avg_factor=4)
        >>> loss.backward()
    """
    check_reduction(reduction)
    gamma = check_real("gamma", gamma, low=0.0)
    if alpha is not None:
        alpha = check_real("alpha", alpha, high=1.0)
        if alpha < 0:
            alpha = None
    avg_factor = _check_avg_factor(avg_factor, reduction)
    ignore_index = check_ignore_index(ignore_index)
    if not isinstance(input, Tensor):
        raise TypeError(f"input should be a torch.Tensor, but got input of type {type(input)}")
    if (
        isinstance(target, Tensor)
        and not target.is_floating_point()
        and not target.is_complex()
        and target.dim() == input.dim()
        and input.is_floating_point()
    ):
        # An integer target of the input's rank is already one-hot: mmdetection's FocalLoss
        # takes ``pred.dim() == target.dim()`` as that (e.g. a (B, C, H, W) one-hot map) and
        # casts it with ``target.type_as(pred)``.
        target = target.to(_compute_dtype(input).dtype)
    if isinstance(target, Tensor) and target.is_floating_point():
        if not input.is_floating_point():
            raise TypeError(
                f"input should be a floating-point tensor of logits, but got dtype={input.dtype}"
            )
        if target.shape != input.shape:
            raise ValueError(
                f"target should have the shape of input {tuple(input.shape)} when it holds float "
                f"targets, but got target of shape {tuple(target.shape)}"
            )
        if input.dim() == 0:
            raise ValueError("input should have at least one dimension, but got a 0-d tensor")
        rows = input.numel() // max(input.shape[-1], 1)
    else:
        _check_labels_2d(input, target)
        rows = input.shape[0]
    weight = _check_sample_weight(weight, input, rows)
    loss, _ = _sigmoid_run(
        input,
        target,
        weight=weight,
        gamma=gamma,
        alpha=alpha,
        ignore_index=ignore_index,
        reduction=reduction,
        normalization="elements",
        avg_factor=avg_factor,
    )
    return loss


def _class_balanced_sigmoid(
    input: Tensor,
    target: Tensor,
    weight: Tensor,
    *,
    gamma: float,
    loss_type: str,
    reduction: str,
    ignore_index: int,
    label_smoothing: float,
    normalization: str,
) -> Tensor:
    """The official sigmoid and focal class-balanced losses: labels in [0, C), per-sample
    weight ``w_{y_i}`` on every column, divided by N."""
    check_reduction(reduction)
    gamma = check_real("gamma", gamma, low=0.0)
    if label_smoothing != 0.0:
        raise ValueError(
            f"label_smoothing should be 0 for loss_type={loss_type!r}, but got "
            f"label_smoothing={label_smoothing}"
        )
    if normalization != "count":
        raise ValueError(
            f"normalization should be 'count' (divide by N, as the official code does) for "
            f"loss_type={loss_type!r}, but got normalization={normalization!r}"
        )
    _check_labels_2d(input, target)
    ignore_index = check_ignore_index(ignore_index)
    loss, _ = _sigmoid_run(
        input,
        target,
        label_weight=weight,
        num_labels=input.shape[1],
        gamma=gamma if loss_type == "focal" else 0.0,
        ignore_index=ignore_index,
        reduction=reduction,
        normalization="rows",
    )
    return loss


def _check_frequencies(class_frequencies: Counts, input: Tensor | None = None) -> Tensor:
    """Per-class frequencies, checked like counts (1-D, finite, >= 0, not all 0). A tensor on an
    accelerator (a Module's buffer, checked again each forward) stays there and is checked by a
    device-side assert, not read back to the host."""
    if isinstance(class_frequencies, Tensor) and class_frequencies.device.type not in ("cpu",):
        meta = isinstance(input, Tensor) and input.is_meta
        freq = as_real_vector(
            "class_frequencies", class_frequencies, nonnegative=True, allow_meta=meta
        )
        if not torch.compiler.is_compiling():
            _check_on_device(freq, nonnegative=True, positive_total=True)
        return freq
    return as_class_counts(class_frequencies, name="class_frequencies")


def _frequency_dtype(class_frequencies: Counts) -> torch.dtype:
    """The dtype the frequencies arrived in: a floating tensor's or array's own, else torch's
    default (what ``torch.tensor(list)`` gives; the official code builds a ``FloatTensor``)."""
    if isinstance(class_frequencies, Tensor) and class_frequencies.is_floating_point():
        return class_frequencies.dtype
    if isinstance(class_frequencies, np.ndarray) and class_frequencies.dtype.kind == "f":
        return torch.from_numpy(np.zeros(0, dtype=class_frequencies.dtype)).dtype
    return torch.get_default_dtype()


def _eql_negative_weight(
    class_frequencies: Counts, lambda_: float, input: Tensor | None = None
) -> Tensor:
    """``1 − T_λ(f) = [f >= λ]`` as float64, the comparison done in the frequencies' own dtype:
    the official ``freq_info < lambda_`` compares a float32 tensor with a Python float in
    float32 (eql.detectron2, ``eql.py`` ``threshold_func``), which decides a frequency equal to
    λ in float32 but not in float64."""
    freq = _check_frequencies(class_frequencies, input)
    own = freq.to(_frequency_dtype(class_frequencies))
    return (own >= lambda_).to(torch.float64)


def equalization_loss(
    input: Tensor,
    target: Tensor,
    class_frequencies: Counts,
    *,
    lambda_: float = 0.00177,
    reduction: str = "mean",
    avg_factor: float | Tensor | None = None,
) -> Tensor:
    r"""Equalization loss (EQL, Tan et al. CVPR 2020), the sigmoid form of the official code:

    .. math::
        L = \frac{1}{N}\sum_{i,j} w_{ij}\,\mathrm{BCE}(z_{ij}, y_{ij}),\qquad
        w_{ij} = 1 - E(r_i)\,T_\lambda(f_j)\,(1 - y_{ij}),

    with ``E(r) = 1`` for a foreground proposal (label ``≠ C``) and ``T_λ(f) = [f < λ]``
    (strict). Background proposals and positives are never suppressed; the weights are
    constants, so the gradient is ``w (σ − y) / N``.

    Args:
        input: logits ``(N, C)`` over the C foreground classes (no background logit).
        target: labels ``(N,)`` in ``[0, C]``, ``C`` = background.
        class_frequencies: per-class **image** frequencies ``f_j`` (image count / #images),
            not instance counts.
        lambda_: frequency threshold: 0.00177 (LVIS v0.5, the default) or 0.0011 (LVIS v1).
        reduction: ``"mean"`` divides by N (or ``avg_factor``), not by N·C; ``"none"`` returns
            the ``(N, C)`` element losses.

    Example::

        >>> freq = torch.tensor([0.2, 0.001, 0.05, 0.0005])
        >>> input = torch.randn(6, 4, requires_grad=True)
        >>> loss = equalization_loss(input, torch.tensor([0, 4, 1, 4, 3, 2]), freq)
        >>> loss.backward()
    """
    check_reduction(reduction)
    lambda_ = check_real("lambda_", lambda_, low=0.0)
    avg_factor = _check_avg_factor(avg_factor, reduction)
    neg = _eql_negative_weight(class_frequencies, lambda_, input)
    _check_labels_2d(input, target, neg.numel(), " (one per class in class_frequencies)")
    loss, _ = _sigmoid_run(
        input,
        target,
        neg_weight=neg,
        neg_weight_fg_only=True,
        num_labels=neg.numel() + 1,
        reduction=reduction,
        normalization="rows",
        avg_factor=avg_factor,
    )
    return loss


def _check_eqlv2_alpha(alpha: float) -> float:
    """``alpha >= 0`` with the positive weights ``1 + α(1 − f)`` finite in float32."""
    alpha = check_real("alpha", alpha, low=0.0)
    if alpha > _F32_MAX / 2:
        raise ValueError(
            f"alpha should be <= {_F32_MAX / 2:g} so that the positive weights 1 + alpha·(1 − f) "
            f"are finite in float32, but got alpha={alpha}"
        )
    return alpha


def eqlv2_weights(
    pos_neg: Tensor, *, gamma: float = 12.0, mu: float = 0.8, alpha: float = 4.0
) -> tuple[Tensor, Tensor]:
    r"""EQLv2's per-class weights from the accumulated ratio ``pos_neg`` (C entries):
    ``neg_w = [f(pos_neg), 1]`` with ``f(x) = 1/(1 + e^{−γ(x−μ)})`` and
    ``pos_w = 1 + α(1 − neg_w)``; the background column (last) always has weight 1.
    Returns ``(pos_w, neg_w)``, each of length C+1."""
    neg_w = torch.cat([torch.sigmoid(gamma * (pos_neg - mu)), pos_neg.new_ones(1)])
    return 1 + alpha * (1 - neg_w), neg_w


def _check_eqlv2_input(input: Tensor, target: Tensor, num_classes: int) -> None:
    _check_labels_2d(
        input,
        target,
        num_classes + 1,
        f" (num_classes={num_classes} class logits and one background logit)",
    )


def _eqlv2(
    input: Tensor,
    target: Tensor,
    pos_neg: Tensor,
    *,
    gamma: float,
    mu: float,
    alpha: float,
    reduction: str,
    avg_factor: float | None,
    collect_stats: bool,
) -> tuple[Tensor, Tensor]:
    """EQLv2 with weights from ``pos_neg``; returns ``(loss, stats)`` with ``stats`` the
    ``(2, C)`` positive/negative gradient sums of this batch (class columns only)."""
    pos_w, neg_w = eqlv2_weights(
        pos_neg.to(_compute_dtype(input).dtype), gamma=gamma, mu=mu, alpha=alpha
    )
    loss, stats = _sigmoid_run(
        input,
        target,
        pos_weight=pos_w,
        neg_weight=neg_w,
        num_labels=input.shape[1],
        reduction=reduction,
        normalization="rows",
        avg_factor=avg_factor,
        collect_stats=collect_stats,
    )
    return loss, (stats[:, :-1] if collect_stats else stats)


def eqlv2_loss(
    input: Tensor,
    target: Tensor,
    pos_neg: Tensor,
    *,
    gamma: float = 12.0,
    mu: float = 0.8,
    alpha: float = 4.0,
    reduction: str = "mean",
    avg_factor: float | Tensor | None = None,
) -> Tensor:
    r"""Equalization loss v2 (Tan et al. CVPR 2021) for given gradient statistics:

    .. math::
        L = \frac{1}{N}\sum_{i,j} w_{ij}\,\mathrm{BCE}(z_{ij}, y_{ij}),\qquad
        w_{ij} = \mathrm{pos\_w}_j\, y_{ij} + \mathrm{neg\_w}_j\,(1 - y_{ij})

    with the weights of :func:`eqlv2_weights`. The weights are constants, so the gradient is
    ``w (σ − y) / N``. This function is stateless; :class:`longtail.losses.EQLv2Loss` keeps
    and updates ``pos_neg`` from the gradient statistics of each step.

    Args:
        input: ``(N, C+1)`` logits, the last one background/objectness.
        target: labels ``(N,)`` in ``[0, C]``; label C sets the target of the last column.
        pos_neg: ``(C,)`` accumulated ``pos_grad / (neg_grad + 1e-10)`` (100 initially, which
            makes the first step plain BCE).
        reduction: ``"mean"`` divides by N (or ``avg_factor``); ``"none"`` gives ``(N, C+1)``.

    Example::

        >>> input = torch.randn(6, 4, requires_grad=True)  # 3 classes + background
        >>> loss = eqlv2_loss(input, torch.tensor([0, 3, 1, 3, 2, 3]), torch.full((3,), 100.0))
        >>> loss.backward()
    """
    check_reduction(reduction)
    if not isinstance(pos_neg, Tensor):
        raise TypeError(
            f"pos_neg should be a 1-D tensor of gradient ratios, but got pos_neg of type "
            f"{type(pos_neg).__name__}"
        )
    pos_neg = as_real_vector("pos_neg", pos_neg, nonnegative=True)
    _check_eqlv2_input(input, target, pos_neg.numel())
    gamma, mu, alpha = (
        check_real("gamma", gamma, low=0.0),
        check_real("mu", mu),
        _check_eqlv2_alpha(alpha),
    )
    avg_factor = _check_avg_factor(avg_factor, reduction)
    loss, _ = _eqlv2(
        input,
        target,
        pos_neg.to(input.device),
        gamma=gamma,
        mu=mu,
        alpha=alpha,
        reduction=reduction,
        avg_factor=avg_factor,
        collect_stats=False,
    )
    return loss


_SEESAW_MODES = ("classification", "background", "objectness")


def _check_seesaw_mode(mode: str) -> str:
    return check_choice("mode", mode, _SEESAW_MODES)


def _seesaw_columns(num_classes: int, mode: str) -> int:
    return num_classes + {"classification": 0, "background": 1, "objectness": 2}[mode]


def _check_seesaw_input(input: Tensor, target: Tensor, num_classes: int, mode: str) -> None:
    what = {
        "classification": f" (num_classes={num_classes} class logits)",
        "background": f" (num_classes={num_classes} class logits and one background logit)",
        "objectness": f" (num_classes={num_classes} class logits and 2 objectness logits)",
    }[mode]
    _check_labels_2d(input, target, _seesaw_columns(num_classes, mode), what)


def _label_counts(target: Tensor, length: int, dtype: torch.dtype) -> Tensor:
    """Per-label counts of ``target`` over ``[0, length)`` (other values are not counted),
    without a host synchronisation (no ``unique``/``bincount``)."""
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


def softmax_equalization_loss(
    input: Tensor,
    target: Tensor,
    class_frequencies: Counts,
    *,
    lambda_: float = 0.00177,
    gamma: float = 0.9,
    generator: torch.Generator | None = None,
    beta: Tensor | None = None,
    reduction: str = "mean",
    ignore_index: int = -100,
) -> Tensor:
    r"""Softmax equalization loss (Tan et al. CVPR 2020, the classification variant):

    .. math::
        \tilde p_j = \frac{e^{z_j}}{\sum_k \tilde w_k e^{z_k}},\qquad
        \tilde w_k = 1 - \beta_k\,T_\lambda(f_k)\,(1 - y_k),\quad \beta_k \sim
        \mathrm{Bernoulli}(\gamma),

    i.e. each rare class (``f_k < λ``) is dropped from the denominator of a non-target row with
    probability γ. β is drawn per (sample, class) element, as the BagofTricks SEQL does, from
    ``generator`` — or given explicitly as ``beta`` (``(N, C)``, 0/1). The mask is constant,
    so the gradient is the cross-entropy gradient of the masked softmax.

    Args:
        class_frequencies: per-class frequencies ``f_k = n_k / N`` (any non-negative counts
            work: only ``f_k < λ`` matters, so pass frequencies, not counts).
        lambda_: frequency threshold; ``gamma``: probability of dropping a rare class.
        reduction: ``"mean"`` over non-ignored rows, ``"sum"`` or ``"none"`` (per row).

    Example::

        >>> g = torch.Generator().manual_seed(0)
        >>> input = torch.randn(4, 3, requires_grad=True)
        >>> loss = softmax_equalization_loss(input, torch.tensor([0, 1, 2, 0]),
        ...                                  [0.7, 0.299, 0.001], generator=g)
        >>> loss.backward()
    """
    check_reduction(reduction)
    lambda_ = check_real("lambda_", lambda_, low=0.0)
    gamma = check_real("gamma", gamma, low=0.0, high=1.0)
    ignore_index = check_ignore_index(ignore_index)
    freq = _check_frequencies(class_frequencies, input)
    c = freq.numel()
    _check_labels_2d(input, target, c, " (one per class in class_frequencies)")
    x = _compute_dtype(input)
    rare = (freq < lambda_).to(device=input.device, dtype=x.dtype)
    if beta is None:
        dropped = (
            torch.rand(input.shape, generator=generator, device=input.device, dtype=x.dtype) < gamma
        )
    else:
        dropped = _check_seql_beta(beta, input) > 0
    dropped = dropped & (rare > 0)
    # The target term is never dropped (the (1 − y_k) factor).
    rows = torch.arange(input.shape[0], device=input.device)
    dropped[rows, target.long().clamp(0, c - 1)] = False
    # A dropped class leaves the denominator: its logit becomes −inf before a plain softmax
    # cross-entropy, whose row maximum then runs over the kept logits only (a dropped logit far
    # above the kept ones can no longer underflow every kept term to 0 and give −inf).
    masked = x.masked_fill(dropped, float("-inf"))
    loss = softmax_loss(
        masked,
        target,
        reduction=reduction,
        label_smoothing=0.0,
        ignore_index=ignore_index,
        normalization="count",
    )
    return loss.to(input.dtype) if x is not input else loss


def _check_seql_beta(beta: Tensor, input: Tensor) -> Tensor:
    """The explicit drop mask of softmax EQL: a real or boolean ``(N, C)`` tensor of 0/1."""
    if not isinstance(beta, Tensor) or beta.shape != input.shape:
        raise ValueError(
            f"beta should be a tensor of the input's shape {tuple(input.shape)}, but got "
            f"beta={beta!r}"
        )
    if beta.is_complex():
        raise TypeError(f"beta should be a 0/1 mask, but got beta of dtype={beta.dtype}")
    beta = beta.to(input.device)
    if beta.dtype != torch.bool and not ((beta == 0) | (beta == 1)).all():
        raise ValueError("beta should hold only 0 and 1 (drop or keep), but got other values")
    return beta


def bags_layout(
    class_counts: Counts, bin_split: Sequence[int] = (10, 100, 1000)
) -> tuple[Tensor, list[int]]:
    """The BAGS group layout (eqlv2's encoding): classes are grouped by training instance count
    with ``bisect_right(bin_split, n)`` — ``(0, 10)``, ``[10, 100)``, ``[100, 1000)``,
    ``[1000, ∞)`` by default — plus one background group. Every group's logits are
    ``[others, its classes in class order]``; the background group is ``[others, background]``.

    Returns ``(label_map, sizes)``: ``label_map[g, k]`` is the position of label ``k`` (in
    ``[0, C]``, C = background) inside group g (0 = "others"), and ``sizes[g]`` the number of
    logits of group g. The input has ``sum(sizes) = C + 1 + G`` columns."""
    counts = as_class_counts(class_counts)
    splits = _check_bin_split(bin_split)
    if any(b2 <= b1 for b1, b2 in itertools.pairwise(splits)):
        raise ValueError(f"bin_split should be strictly increasing, but got bin_split={splits}")
    c = counts.numel()
    groups = torch.bucketize(counts, torch.tensor(splits, dtype=torch.float64), right=True)
    num_groups = len(splits) + 2
    label_map = torch.zeros(num_groups, c + 1, dtype=torch.long)
    sizes = []
    for g in range(num_groups - 1):
        members = torch.nonzero(groups == g).flatten()
        label_map[g, members] = torch.arange(1, members.numel() + 1)
        sizes.append(members.numel() + 1)
    label_map[-1, c] = 1
    sizes.append(2)
    return label_map, sizes


def _check_bin_split(bin_split: Sequence[int]) -> list[int]:
    if isinstance(bin_split, (str, bytes, Tensor)) or not hasattr(bin_split, "__iter__"):
        raise TypeError(
            f"bin_split should be a sequence of integer group boundaries, but got "
            f"bin_split={bin_split!r}"
        )
    return [check_int(f"bin_split[{i}]", b) for i, b in enumerate(bin_split)]


def _bags_keep(targets: Tensor, beta: float, generator: torch.Generator | None) -> Tensor:
    """BAGS sampling, without a host synchronisation: in each foreground group keep every
    positive and ``int(β·#positives)`` "others" drawn uniformly without replacement (all of them
    if fewer exist; none when the group has no positive); keep every row of the background
    group."""
    pos = targets > 0
    k = torch.floor(beta * pos.sum(0).to(torch.float64))
    keys = torch.rand(
        targets.shape,
        generator=generator,
        dtype=torch.float64,
        device=targets.device if generator is None else generator.device,
    )
    keys = keys.to(targets.device).masked_fill(pos, 2.0)  # positives rank after all others
    rank = keys.argsort(0).argsort(0)
    keep = pos | (rank < k)
    keep[:, -1] = True
    return keep


def _group_softmax(
    input: Tensor,
    target: Tensor,
    label_map: Tensor,
    sizes: list[int],
    *,
    beta: float,
    generator: torch.Generator | None,
    keep: Tensor | None,
    reduction: str,
) -> Tensor:
    _check_labels_2d(
        input, target, sum(sizes), f" (C + 1 + G = {sum(sizes)} for the {len(sizes)} groups)"
    )
    check_reduction(reduction)
    # Any integer label dtype: index with int64 (a uint8 index would be read as a mask).
    target = target.long()
    targets = label_map.to(target.device)[:, target.clamp(0, label_map.shape[1] - 1)].T
    bad = (target < 0) | (target >= label_map.shape[1])
    if target.device.type != "cpu":
        # A device-side assert, not a host read (which would sync with the device each call).
        torch._assert_async(~bad.any())
    elif bad.any():
        i = int(torch.nonzero(bad)[0, 0])
        raise OutOfRangeError(
            f"target should contain labels in [0, {label_map.shape[1]}), but got "
            f"target={int(target[i])} at position {i}"
        )
    if keep is None:
        keep = _bags_keep(targets, beta, generator)
    elif not isinstance(keep, Tensor) or keep.shape != targets.shape:
        raise ValueError(
            f"keep should be a boolean tensor of shape {tuple(targets.shape)}, but "
            f"got keep={keep!r}"
        )
    x = _compute_dtype(input)
    w = keep.to(device=x.device, dtype=x.dtype)
    if reduction == "mean":
        w = w / w.sum(0).clamp(min=1.0)  # each group's normaliser: max(#kept, 1)
    offsets = [0]
    for s in sizes:
        offsets.append(offsets[-1] + s)
    loss = _group_kernel(x, targets.contiguous(), w.contiguous(), offsets, reduction=reduction)
    return loss.to(input.dtype) if x is not input else loss


def group_softmax_loss(
    input: Tensor,
    target: Tensor,
    class_counts: Counts,
    *,
    bin_split: Sequence[int] = (10, 100, 1000),
    beta: float = 8.0,
    generator: torch.Generator | None = None,
    keep: Tensor | None = None,
    reduction: str = "mean",
) -> Tensor:
    r"""Balanced group softmax (BAGS, Li et al. CVPR 2020), in the eqlv2 encoding
    (:func:`bags_layout`):

    .. math::
        L = \sum_g \frac{\sum_i k_{ig}\,\mathrm{CE}(z_i^{(g)}, \tilde y_i^{(g)})}
                        {\max(\sum_i k_{ig}, 1)}

    with :math:`\tilde y^{(g)}` the position of the label inside group g, or 0 ("others") when
    the label is outside it. The background group keeps every row; a foreground group keeps its
    positives plus ``int(β·#positives)`` random "others" (all when fewer exist; none when the
    group has no positive, so it contributes 0).

    Args:
        input: ``(N, C + 1 + G)`` logits.
        target: labels ``(N,)`` in ``[0, C]``, C = background.
        class_counts: per-class training **instance** counts, which define the groups.
        bin_split: group boundaries (``bisect_right``).
        beta: "others" per positive (8).
        generator: the source of the "others" draw; or pass the ``(N, G)`` boolean ``keep``
            mask explicitly.
        reduction: ``"mean"`` (the formula above), ``"sum"`` (without the normalisers) or
            ``"none"`` (per row, without the normalisers).

    Example::

        >>> counts = [5, 50, 500, 5000]  # one class per group
        >>> input = torch.randn(6, 4 + 1 + 5, requires_grad=True)
        >>> loss = group_softmax_loss(input, torch.tensor([0, 1, 4, 4, 2, 3]), counts)
        >>> loss.backward()
    """
    check_reduction(reduction)
    beta = check_real("beta", beta, low=0.0)
    label_map, sizes = bags_layout(class_counts, bin_split)
    return _group_softmax(
        input,
        target,
        label_map,
        sizes,
        beta=beta,
        generator=generator,
        keep=keep,
        reduction=reduction,
    )


def group_softmax_inference(
    input: Tensor, class_counts: Counts, bin_split: Sequence[int] = (10, 100, 1000)
) -> Tensor:
    """Test-time scores of a BAGS head: softmax within each group, drop "others", multiply the
    foreground scores by the background group's foreground probability. Returns ``(N, C+1)``
    scores, the background score last (eqlv2's ``get_activation``)."""
    label_map, sizes = bags_layout(class_counts, bin_split)
    if not isinstance(input, Tensor) or input.dim() != 2 or input.shape[1] != sum(sizes):
        raise ValueError(
            f"input should have shape (N, {sum(sizes)}), but got input of shape "
            f"{tuple(getattr(input, 'shape', ()))}"
        )
    probs = [chunk.softmax(1) for chunk in input.split(sizes, dim=1)]
    fg = torch.cat([p[:, 1:] for p in probs[:-1]], dim=1)
    # Columns of fg follow the groups; put them back in class order.
    order = torch.cat([torch.nonzero(label_map[g, :-1]).flatten() for g in range(len(sizes) - 1)])
    scores = torch.empty(input.shape[0], label_map.shape[1], dtype=input.dtype, device=input.device)
    scores[:, order.to(input.device)] = fg * probs[-1][:, :1]
    scores[:, -1] = probs[-1][:, 1]
    return scores
