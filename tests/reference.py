"""Naive float64 oracles for longtail's softmax-family losses and class weights.

Written from the papers' formulas and the official codes' conventions (cited per function), with
plain tensor ops (``log_softmax``, ``gather``, masks) and autograd for the gradients. Nothing here
imports longtail. Every function upcasts its inputs to float64; the ``*_official`` functions are
line-by-line ports of the official code (2-D inputs, no ``ignore_index``), kept to pin the
conventions.

Shared conventions (those of ``torch.nn.functional.cross_entropy``):

* ``input`` is ``(N, C)`` or ``(N, C, d1, ...)``, ``target`` ``(N)`` or ``(N, d1, ...)``;
* ``reduction="none"`` returns the target's shape, with 0 at ignored positions;
* label smoothing ``ε``: ``ℓ = (1−ε)·w_y·(−log p_y) + (ε/C)·Σ_j w_j·(−log p_j)``;
* ``normalization="weight"`` divides ``"mean"`` by ``Σ w_{y_i}`` over non-ignored samples
  (torch), ``"count"`` by their number (TF's ``softmax_cross_entropy(weights=)``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

F64 = torch.float64


def _f64(t: Tensor | Sequence[float] | np.ndarray | None, device=None) -> Tensor | None:
    if t is None:
        return None
    return torch.as_tensor(t).to(device=device, dtype=F64)


# ---------------------------------------------------------------------------------------------
# The one generic oracle: cross-entropy of adjusted logits, row by row.


def _rows(input: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
    """``(N, C, d...)`` logits as ``(R, C)`` rows (R = N·d...) in the target's order."""
    c = input.shape[1]
    return input.movedim(1, -1).reshape(-1, c), target.reshape(-1)


def row_cross_entropy(
    u: Tensor, t: Tensor, weight: Tensor | None = None, label_smoothing: float = 0.0
) -> Tensor:
    """Per-row cross-entropy of logits ``u`` (R, C) for valid targets ``t`` (R,), torch style."""
    c = u.shape[1]
    logp = torch.log_softmax(u, dim=1)
    w = torch.ones(c, dtype=u.dtype, device=u.device) if weight is None else weight
    nll = -logp.gather(1, t[:, None]).squeeze(1) * w[t]
    if label_smoothing == 0.0:
        return nll
    # Σ_j w_j·(−log p_j); a zero-weight class contributes nothing (even with log p = −inf).
    keep = (w != 0)[None, :]
    smooth = -torch.where(keep, logp * w[None, :], torch.zeros_like(logp)).sum(dim=1)
    return (1.0 - label_smoothing) * nll + (label_smoothing / c) * smooth


def softmax_family(
    input: Tensor,
    target: Tensor,
    *,
    offsets: Tensor | None = None,
    margins: Tensor | None = None,
    scale: float = 1.0,
    weight: Tensor | None = None,
    alpha: Tensor | None = None,
    gamma: float = 0.0,
    label_smoothing: float = 0.0,
    ignore_index: int = -100,
    reduction: str = "mean",
    normalization: str = "weight",
    avg_factor: float | None = None,
) -> Tensor:
    """``ℓ_i = α_y·h(L_i)``, ``L_i`` = the (weighted, smoothed) CE of
    ``u = s·(z − m_y·onehot) + b``, ``h(L) = (1 − e^{−L})^γ·L`` (``h(L) = L`` for γ = 0);
    ``"mean"`` divides by ``avg_factor``, else by Σ w_y (``"weight"``) or the count
    (``"count"``) of the non-ignored rows."""
    z = input.to(F64)
    dev = z.device
    weight, alpha = _f64(weight, dev), _f64(alpha, dev)
    offsets, margins = _f64(offsets, dev), _f64(margins, dev)
    rows, t = _rows(z, target.to(dev))
    valid = t != ignore_index
    rows_v, t_v = rows[valid], t[valid].long()
    if t_v.numel() and (t_v.min() < 0 or t_v.max() >= z.shape[1]):
        raise IndexError("target out of range")
    onehot = F.one_hot(t_v, z.shape[1]).to(F64)
    if margins is not None:
        rows_v = rows_v - margins[t_v][:, None] * onehot
    u = scale * rows_v
    if offsets is not None:
        u = u + offsets[None, :]
    ce = row_cross_entropy(u, t_v, weight, label_smoothing)
    if gamma > 0:
        # 1 − e^{−L} through expm1, so that h keeps its precision near L = 0. At L = 0 exactly
        # h = 0 and h'(0) = lim γ·L^γ = 0; the double `where` keeps autograd from forming
        # 0^(γ−1)·0 = NaN there for γ < 1.
        pos = ce > 0
        safe = torch.where(pos, ce, torch.ones_like(ce))
        h = (-torch.expm1(-safe)).pow(gamma) * safe
        value = torch.where(pos, h, ce * 0.0)
    else:
        value = ce
    if alpha is not None:
        value = alpha[t_v] * value
    if reduction == "none":
        full = torch.zeros(t.shape, dtype=F64, device=dev)
        full = full.masked_scatter(valid, value)
        return full.reshape(target.shape)
    total = value.sum()
    if reduction == "sum":
        return total
    if reduction != "mean":
        raise ValueError(reduction)
    if avg_factor is not None:
        return total / avg_factor
    if normalization == "weight":
        divisor = weight[t_v].sum() if weight is not None else torch.tensor(float(t_v.numel()))
    elif normalization == "count":
        divisor = torch.tensor(float(t_v.numel()))
    else:
        raise ValueError(normalization)
    return total / divisor.to(dev)


# ---------------------------------------------------------------------------------------------
# The six losses.


def cross_entropy(
    input,
    target,
    *,
    weight=None,
    reduction="mean",
    ignore_index=-100,
    label_smoothing=0.0,
    normalization="weight",
) -> Tensor:
    """Class-weighted CE (inverse-frequency or cost weights): torch's weighted mean, or ``/N`` with
    ``"count"``."""
    return softmax_family(
        input,
        target,
        weight=weight,
        reduction=reduction,
        ignore_index=ignore_index,
        label_smoothing=label_smoothing,
        normalization=normalization,
    )


def focal(
    input,
    target,
    *,
    gamma=2.0,
    alpha=None,
    weight=None,
    reduction="mean",
    ignore_index=-100,
    label_smoothing=0.0,
) -> Tensor:
    """Softmax focal (Lin et al. 2017, arXiv:1708.02002), the LDAM-DRW form (``losses.py``):
    ``c_i = w_y·CE_i``, ``p = e^{−c_i}``, ``α_y·(1−p)^γ·c_i``, mean over the non-ignored
    samples."""
    return softmax_family(
        input,
        target,
        weight=weight,
        alpha=alpha,
        gamma=gamma,
        reduction=reduction,
        ignore_index=ignore_index,
        label_smoothing=label_smoothing,
        normalization="count",
    )


def focal_classic(input: Tensor, target: Tensor, *, gamma: float, alpha=None) -> Tensor:
    """Lin et al.'s ``−α_y (1−p_y)^γ log p_y`` with ``p = softmax(z)``, mean over N (2-D)."""
    z = input.to(F64)
    p = torch.softmax(z, dim=1).gather(1, target[:, None]).squeeze(1)
    a = torch.ones_like(p) if alpha is None else _f64(alpha, z.device)[target]
    return (-a * (1.0 - p).pow(gamma) * torch.log(p)).mean()


def focal_official(input: Tensor, target: Tensor, weight=None, gamma: float = 0.0) -> Tensor:
    """kaidic/LDAM-DRW ``losses.py::FocalLoss`` (ported; 2-D, mean)."""

    def focal_loss(input_values, gamma):
        p = torch.exp(-input_values)
        loss = (1 - p) ** gamma * input_values
        return loss.mean()

    z = input.to(F64)
    w = _f64(weight, z.device)
    return focal_loss(F.cross_entropy(z, target, reduction="none", weight=w), gamma)


def effective_number_weights(class_counts, beta: float) -> Tensor:
    """richardaecn/class-balanced-loss ``cifar_main.py``: ``(1−β)/(1−β^n)`` normalised to sum C
    (numpy, float64; β = 1 is the limit ``1/n``)."""
    n = np.asarray(class_counts, dtype=np.float64)
    if beta == 1.0:
        weights = 1.0 / n
    else:
        effective_num = 1.0 - np.power(beta, n)
        weights = (1.0 - beta) / np.array(effective_num)
    weights = weights / np.sum(weights) * len(n)
    return torch.from_numpy(weights)


def class_balanced_softmax(
    input,
    target,
    class_counts,
    *,
    beta=0.9999,
    reduction="mean",
    ignore_index=-100,
    label_smoothing=0.0,
    normalization="count",
) -> Tensor:
    """Softmax class-balanced loss (Cui et al. 2019, arXiv:1901.05555) as the official TF code
    (richardaecn/class-balanced-loss ``src/cifar_main.py``): ``Σ_i w_{y_i} CE_i / N``."""
    w = effective_number_weights(class_counts, beta)
    return softmax_family(
        input,
        target,
        weight=w,
        reduction=reduction,
        ignore_index=ignore_index,
        label_smoothing=label_smoothing,
        normalization=normalization,
    )


def ldam_margins(class_counts, max_m: float = 0.5) -> Tensor:
    """kaidic/LDAM-DRW ``LDAMLoss.__init__``: ``m = 1/sqrt(sqrt(n))``, ``m *= max_m / max m``."""
    m_list = 1.0 / np.sqrt(np.sqrt(np.asarray(class_counts, dtype=np.float64)))
    m_list = m_list * (max_m / np.max(m_list))
    return torch.from_numpy(m_list)


def ldam(
    input,
    target,
    class_counts,
    *,
    max_margin=0.5,
    scale=30.0,
    weight=None,
    reduction="mean",
    ignore_index=-100,
    label_smoothing=0.0,
) -> Tensor:
    """LDAM (Cao et al. 2019, arXiv:1906.07413; kaidic/LDAM-DRW ``losses.py``):
    ``CE(s·(z − m_y·onehot), y, weight=w)``, torch weighted mean."""
    return softmax_family(
        input,
        target,
        margins=ldam_margins(class_counts, max_margin),
        scale=scale,
        weight=weight,
        reduction=reduction,
        ignore_index=ignore_index,
        label_smoothing=label_smoothing,
    )


def ldam_official(x: Tensor, target: Tensor, cls_num_list, max_m=0.5, s=30.0, weight=None):
    """kaidic/LDAM-DRW ``losses.py::LDAMLoss.forward`` (ported to CPU/float64; 2-D)."""
    x = x.to(F64)
    m_list = ldam_margins(cls_num_list, max_m).to(x.device)
    index = torch.zeros_like(x, dtype=torch.uint8)
    index.scatter_(1, target.data.view(-1, 1), 1)
    index_float = index.to(F64)
    batch_m = torch.matmul(m_list[None, :], index_float.transpose(0, 1))
    batch_m = batch_m.view((-1, 1))
    x_m = x - batch_m
    output = torch.where(index.bool(), x_m, x)
    return F.cross_entropy(s * output, target, weight=_f64(weight, x.device))


def logit_adjustments(class_counts, tau: float = 1.0) -> Tensor:
    """google-research ``logit_adjustment``: ``log(π^τ + 1e-12)``, ``π = n / Σ n``."""
    n = torch.as_tensor(np.asarray(class_counts, dtype=np.float64))
    prior = n / n.sum()
    return torch.log(prior**tau + 1e-12)


def logit_adjusted(
    input,
    target,
    class_counts,
    *,
    tau=1.0,
    weight=None,
    reduction="mean",
    ignore_index=-100,
    label_smoothing=0.0,
) -> Tensor:
    """Logit-adjusted loss (Menon et al. 2021, arXiv:2007.07314):
    ``CE(z + log(π^τ + 1e-12), y)``."""
    return softmax_family(
        input,
        target,
        offsets=logit_adjustments(class_counts, tau),
        weight=weight,
        reduction=reduction,
        ignore_index=ignore_index,
        label_smoothing=label_smoothing,
    )


def balanced_softmax(
    input,
    target,
    class_counts,
    *,
    weight=None,
    reduction="mean",
    ignore_index=-100,
    label_smoothing=0.0,
) -> Tensor:
    """Balanced Softmax (Ren et al. 2020, arXiv:2007.10740): ``CE(z + log n, y)``."""
    log_n = torch.log(torch.as_tensor(np.asarray(class_counts, dtype=np.float64)))
    return softmax_family(
        input,
        target,
        offsets=log_n,
        weight=weight,
        reduction=reduction,
        ignore_index=ignore_index,
        label_smoothing=label_smoothing,
    )


def balanced_softmax_explicit(input: Tensor, target: Tensor, class_counts) -> Tensor:
    """``−log(n_y e^{z_y} / Σ_j n_j e^{z_j})``, mean over N, with an explicit loop over the
    samples (2-D, moderate logits)."""
    z = input.to(F64)
    n = torch.as_tensor(np.asarray(class_counts, dtype=np.float64)).to(z.device)
    losses = []
    for i in range(z.shape[0]):
        e = n * torch.exp(z[i])
        losses.append(-torch.log(e[target[i]] / e.sum()))
    return torch.stack(losses).mean()


# ---------------------------------------------------------------------------------------------
# Class weights, as the official codes compute them.


def inverse_frequency(class_counts, power: float = 1.0) -> Tensor:
    """``(N / n_c)^power``, N = Σ n (inverse class frequency)."""
    n = np.asarray(class_counts, dtype=np.float64)
    return torch.from_numpy((n.sum() / n) ** power)


def cost_sensitive(class_counts) -> Tensor:
    """``n_min / n_c`` (cost-sensitive weights)."""
    n = np.asarray(class_counts, dtype=np.float64)
    return torch.from_numpy(n.min() / n)


def drw_official(cls_num_list, epoch: int) -> Tensor:
    """kaidic/LDAM-DRW ``cifar_train.py``, ``train_rule == 'DRW'`` (float32 as there)."""
    idx = epoch // 160
    betas = [0, 0.9999]
    effective_num = 1.0 - np.power(betas[idx], np.asarray(cls_num_list, dtype=np.float64))
    per_cls_weights = (1.0 - betas[idx]) / np.array(effective_num)
    per_cls_weights = per_cls_weights / np.sum(per_cls_weights) * len(cls_num_list)
    return torch.FloatTensor(per_cls_weights)
