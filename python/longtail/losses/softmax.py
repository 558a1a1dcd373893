"""Softmax-family losses (weighted CE, focal, class-balanced, LDAM, logit adjustment, Balanced
Softmax, softmax EQL): functional forms and ``nn.Module``s.

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

import math
import numbers
from collections.abc import Callable, Hashable, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from longtail import weights as _weights
from longtail._kernels import SoftmaxLossCall
from longtail._validation import (
    REDUCTIONS,
    Counts,
    as_class_counts,
    as_per_class,
    as_real_vector,
    check_choice,
    check_ignore_index,
    check_logits_target,
    check_real,
    check_reduction,
)
from longtail.losses._common import (
    _F32_MAX,
    _LOW_PRECISION,
    _check_frequencies,
    _check_labels_2d,
    _compute_dtype,
    _frequency_dtype,
    _getstate_with_generator,
    _setstate_with_generator,
    _sigmoid_run,
    kernel_per_class,
)
from longtail.losses._ops import run_softmax_loss, softmax_loss

_INT64 = (-(1 << 63), 1 << 63)


def _run(
    input: Tensor,
    target: Tensor,
    reduction: str,
    label_smoothing: float,
    checked: bool = False,
    *,
    ignore_index: int = -100,
    normalization: str = "weight",
    **kw,
) -> Tensor:
    """The one entry to the kernel for every loss of this module: checks the options and runs
    it; low-precision logits run in float32. The per-class tensors in ``kw`` come from
    :func:`~longtail.losses._common.kernel_per_class` (checked, in the compute dtype), so the
    kernel layer checks nothing again. ``checked``: the caller has already run
    :func:`check_logits_target`. The options are tested cheaply first: a Module passes the same
    valid values on every call."""
    if not checked:
        check_logits_target(input, target)
    if reduction.__class__ is not str or reduction not in REDUCTIONS:
        check_reduction(reduction)
    if label_smoothing.__class__ is not float or not 0.0 <= label_smoothing <= 1.0:
        label_smoothing = check_real("label_smoothing", label_smoothing, low=0.0, high=1.0)
    if ignore_index.__class__ is not int or not _INT64[0] <= ignore_index < _INT64[1]:
        ignore_index = check_ignore_index(ignore_index)
    if normalization != "weight" and normalization != "count":
        _check_normalization(normalization)
    x = input.float() if input.dtype in _LOW_PRECISION else input
    call = SoftmaxLossCall(
        target,
        reduction=reduction,
        label_smoothing=label_smoothing,
        ignore_index=ignore_index,
        normalization=normalization,
        **kw,
    )
    loss = run_softmax_loss(x, call, checked=True)
    return loss.to(input.dtype) if x is not input else loss


def _from_counts(
    name: str, class_counts: Counts, input: Tensor, rule: Callable[[Tensor], Tensor], key: Hashable
) -> Tensor:
    """The kernel's per-class tensor ``rule(counts)`` of the checked float64 ``class_counts``
    (kept between calls, see :func:`~longtail.losses._common.kernel_per_class`); ``key``
    names the rule and its scalars."""
    derived = kernel_per_class(
        name,
        class_counts,
        input,
        lambda: rule(as_class_counts(class_counts, input.shape[1])),
        key,
        optional=False,
    )
    assert derived is not None  # not optional
    return derived


def _weight_for(weight: Tensor | Sequence[float] | float | None, input: Tensor) -> Tensor | None:
    """``weight`` (per-class weights, or one real for every class) for the kernel."""
    return kernel_per_class(
        "weight", weight, input, lambda: as_per_class("weight", weight, input.shape[1], input)
    )


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
    _num_classes(input)
    tau = check_real("tau", tau)
    offsets = _from_counts(
        "offsets", class_counts, input, lambda n: logit_adjustments(n, tau), ("logit_adjusted", tau)
    )
    return _run(
        input,
        target,
        reduction,
        label_smoothing,
        offsets=offsets,
        weight=_weight_for(weight, input),
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
    _num_classes(input)
    offsets = _from_counts("offsets", class_counts, input, torch.log, "balanced_softmax")
    return _run(
        input,
        target,
        reduction,
        label_smoothing,
        offsets=offsets,
        weight=_weight_for(weight, input),
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
    _num_classes(input)
    scale = check_ldam_scale(scale, max_margin)
    max_margin = check_real("max_margin", max_margin, low=0.0)
    margins = _from_counts(
        "margins", class_counts, input, lambda n: ldam_margins(n, max_margin), ("ldam", max_margin)
    )
    return _run(
        input,
        target,
        reduction,
        label_smoothing,
        margins=margins,
        scale=scale,
        weight=_weight_for(weight, input),
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
    _num_classes(input)
    if (class_counts is None) == (weight is None):
        raise ValueError("weighted_cross_entropy needs exactly one of class_counts or weight")
    kernel_weight: Tensor | None
    if class_counts is not None:
        check_choice("weighting", weighting, _WEIGHTINGS)
        if weighting == "effective_number":
            beta = check_real("beta", beta, low=0.0, high=1.0)
        kernel_weight = _from_counts(
            "weight",
            class_counts,
            input,
            lambda n: _weighting(n, weighting, beta, input),
            (weighting, beta if weighting == "effective_number" else None),
        )
    else:
        kernel_weight = _weight_for(weight, input)
    return _run(
        input,
        target,
        reduction,
        label_smoothing,
        ignore_index=ignore_index,
        weight=kernel_weight,
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
        alpha=kernel_per_class(
            "alpha", alpha, input, lambda: as_per_class("alpha", alpha, c, input)
        ),
        weight=_weight_for(weight, input),
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
    if loss_type != "softmax":
        w = _weights.effective_number(as_class_counts(class_counts, c), beta, dtype=torch.float64)
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
    beta = check_real("beta", beta, low=0.0, high=1.0)
    weight = _from_counts(
        "weight",
        class_counts,
        input,
        lambda n: _weights.effective_number(n, beta, dtype=torch.float64),
        ("class_balanced", beta),
    )
    return _run(
        input,
        target,
        reduction,
        label_smoothing,
        weight=weight,
        ignore_index=ignore_index,
        normalization=_check_normalization(normalization),
    )


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


def _optional_tensor(name: str, value, num_classes: int | None = None) -> Tensor | None:
    """A per-class parameter as a float64 buffer, checked by the same rules as the functional
    form (real, 1-D, finite, non-negative, ``num_classes`` entries when known); one real number
    becomes a 0-d buffer, broadcast to every class at ``forward``."""
    if value is None:
        return None
    if isinstance(value, (numbers.Real, np.generic)) and not isinstance(value, (bool, np.bool_)):
        return torch.tensor(check_real(name, value, low=0.0), dtype=torch.float64)
    return as_real_vector(name, value, length=num_classes, nonnegative=True).cpu().clone()


class _SoftmaxFamilyLoss(nn.Module):
    """Shared arguments of the softmax-family Modules (``F.cross_entropy``'s)."""

    # The per-class buffers the kernel takes, by their SoftmaxLossCall field names.
    _per_class: tuple[str, ...] = ()

    def __init__(self, reduction: str, ignore_index: int, label_smoothing: float) -> None:
        super().__init__()
        self.reduction = check_reduction(reduction)
        self.ignore_index = check_ignore_index(ignore_index)
        self.label_smoothing = check_real("label_smoothing", label_smoothing, low=0.0, high=1.0)

    def _call(self, input: Tensor, target: Tensor, **options) -> Tensor:
        """The kernel over ``self._per_class`` and ``options`` (the other SoftmaxLossCall
        fields). The buffers reach it converted once per tensor version, input dtype, device
        and C (:func:`~longtail.losses._common.kernel_per_class`): an in-place change, a
        replaced buffer or another input dtype each take effect on the next call; the number
        of classes and an assigned weight are checked on those calls only."""
        check_logits_target(input, target)
        buffers = self._buffers  # not nn.Module.__getattr__: it costs 0.6 us a read
        for name in self._per_class:
            value = buffers[name]
            if value is not None:
                options[name] = kernel_per_class(
                    name,
                    value,
                    input,
                    lambda name=name, value=value: self._checked_buffer(name, value, input),
                )
        return _run(
            input,
            target,
            self.reduction,
            self.label_smoothing,
            True,
            ignore_index=self.ignore_index,
            **options,
        )

    def _checked_buffer(self, name: str, value: Tensor, input: Tensor) -> Tensor | None:
        counts = self._buffers.get("class_counts")
        if counts is not None:
            _num_classes_match(input, counts)
        if name in ("weight", "alpha"):
            # Maybe assigned after construction (``loss.weight = drw(...)``), or one number for
            # every class (a 0-d alpha): the functional forms' rules.
            return as_per_class(name, value, input.shape[1], input)
        return value

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

    # The buffers, typed (nn.Module.__getattr__ would type them Tensor | Module).
    class_counts: Tensor | None
    weight: Tensor | None

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
        self.normalization = _check_normalization(normalization)
        if class_counts is not None:
            counts = as_class_counts(class_counts)
            probe = torch.zeros(1, counts.numel(), dtype=torch.float64)
            # Reuse the functional's weighting rules (and its validation of `weighting`).
            weight = _weighting(counts, weighting, beta, probe)
            self.register_buffer("class_counts", counts)
        else:
            self.register_buffer("class_counts", None)
        self.register_buffer("weight", _optional_tensor("weight", weight))

    _per_class = ("weight",)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return self._call(input, target, normalization=self.normalization)


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

    alpha: Tensor | None
    weight: Tensor | None

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

    _per_class = ("alpha", "weight")

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        gamma = self.gamma
        if gamma.__class__ is not float or not 0.0 <= gamma < math.inf:  # reassigned
            gamma = check_real("gamma", gamma, low=0.0)
        return self._call(input, target, gamma=gamma, normalization="count")


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

    class_counts: Tensor
    weight: Tensor

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
        _check_loss_type(loss_type)
        self.beta = check_real("beta", beta, low=0.0, high=1.0)
        self.gamma = check_real("gamma", gamma, low=0.0)
        self.loss_type = loss_type
        self.normalization = _check_normalization(normalization)
        counts = as_class_counts(class_counts)
        self.register_buffer("class_counts", counts)
        self.register_buffer("weight", _weights.effective_number(counts, beta, dtype=torch.float64))

    _per_class = ("weight",)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        if self.loss_type != "softmax":
            _num_classes_match(input, self.weight)
            return _class_balanced_sigmoid(
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
        return self._call(input, target, normalization=self.normalization)


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

    class_counts: Tensor
    margins: Tensor
    weight: Tensor | None

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
        self.scale = check_ldam_scale(scale, self.max_margin)
        self.register_buffer("margins", ldam_margins(counts, max_margin))
        self.register_buffer("weight", _optional_tensor("weight", weight, counts.numel()))

    _per_class = ("margins", "weight")

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return self._call(input, target, scale=self.scale)


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

    class_counts: Tensor
    offsets: Tensor
    weight: Tensor | None

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
        self.register_buffer("offsets", logit_adjustments(counts, tau))
        self.register_buffer("weight", _optional_tensor("weight", weight, counts.numel()))

    _per_class = ("offsets", "weight")

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return self._call(input, target)


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

    class_counts: Tensor
    offsets: Tensor
    weight: Tensor | None

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

    _per_class = ("offsets", "weight")

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return self._call(input, target)


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

    class_frequencies: Tensor

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
            "class_frequencies", frequencies.to(_frequency_dtype(class_frequencies))
        )

    def forward(self, input: Tensor, target: Tensor, beta: Tensor | None = None) -> Tensor:
        return softmax_equalization_loss(
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

    # A torch.Generator does not pickle; its state does.
    __getstate__ = _getstate_with_generator
    __setstate__ = _setstate_with_generator
