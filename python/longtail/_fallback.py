"""The four loss kernels written as plain torch ops: what CUDA (or any non-CPU) tensors run when
the tch accelerator is absent or was built for another torch.

Each function ports ``src/losses/<family>_tch.rs`` (itself the CPU kernel of
``src/losses/<family>.rs`` in tensor form) and returns what ``longtail._core.<family>_loss``
returns: the loss together with its gradient with respect to ``input`` (of each element of the
loss for ``reduction="none"``), on the input's device, never aliasing each other or the inputs.
The caller has validated every argument (shapes, dtypes, option strings) and wraps the call in an
autograd Function, so nothing here builds a graph.

Nothing reads a device value back to the host, so a CUDA step never waits on these ops:

* labels out of range: on the CPU the first one is reported as ``OutOfRangeError`` with the Rust
  kernel's message; elsewhere a device-side assert (``torch._assert_async``), as
  ``F.cross_entropy`` does on CUDA. The failure then surfaces as a ``RuntimeError`` ("device-side
  assert triggered") at the next synchronisation, and the CUDA context is unusable afterwards.
  Out-of-range labels are clamped before any indexing, so no kernel reads out of bounds first.
* NaN logits: on the CPU, ``InvalidArgumentError`` as the Rust kernel raises; elsewhere they are
  not checked (a check needs a sync or a fatal device assert) and flow into the outputs as NaN, as
  in torch's own losses (and as AMP's ``GradScaler`` expects, to skip the step).

Reductions accumulate in float64 and divide once, as the CPU kernel does; the gradient carries the
reciprocal of the divisor, 0 for a zero divisor (an all-ignored ``"mean"`` is NaN with a zero
gradient, as in torch).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

import torch
from torch import Tensor

from longtail.exceptions import InvalidArgumentError, OutOfRangeError

__all__ = ["group_softmax_loss", "seesaw_loss", "sigmoid_loss", "softmax_loss"]

#: A "mean" divisor: a Python float when known on the host (avg_factor, a count of rows fixed by
#: the shape), else a float64 tensor on the input's device.
Divisor = float | Tensor


def _check_labels(bad: Tensor, message: Callable[[int], str]) -> None:
    """Rejects the labels flagged in ``bad``; ``message(p)`` describes the one at flat position p.

    Off the CPU this enqueues a device-side assert instead of raising. It uses the one-argument
    ``torch._assert_async(tensor)``, which every torch from 2.4 to 2.15 has on CUDA; the ``.msg``
    overload is not relied on (on CUDA it ignored its message in some of those releases, and a
    device assert cannot carry a Python message anyway)."""
    if bad.device.type == "cpu":
        flat = bad.reshape(-1)
        if flat.any():
            raise OutOfRangeError(message(int(flat.nonzero()[0, 0])))
    else:
        torch._assert_async(bad.any().logical_not())


def _check_nan_rows(x: Tensor, used: Tensor | None) -> None:
    """CPU only (see the module docstring): the Rust kernel's error for a NaN logit in a row of
    the (rows, columns) ``x`` that enters the loss (every row when ``used`` is None)."""
    if x.device.type != "cpu":
        return
    nan_rows = x.isnan().any(1)
    if used is not None:
        nan_rows = nan_rows & used
    if nan_rows.any():
        i = int(nan_rows.nonzero()[0, 0])
        raise InvalidArgumentError(f"input should not contain NaN, but got NaN logits in row {i}")


def _inverse(divisor: Divisor | None) -> Divisor:
    """The gradient factor of a reduction: 1/divisor ("mean"), 1 (no divisor), 0 for 0."""
    if divisor is None:
        return 1.0
    if isinstance(divisor, float):
        return 0.0 if divisor == 0.0 else 1.0 / divisor
    return torch.where(divisor != 0, divisor.reciprocal(), 0.0)


def _scaled(grad: Tensor, factor: Divisor) -> Tensor:
    """``grad`` times a gradient factor from :func:`_inverse`, in grad's dtype."""
    if isinstance(factor, float):
        return grad if factor == 1.0 else grad * factor
    return grad * factor.to(grad.dtype)


def _reduce(values: Tensor, reduction: str, divisor: Divisor | None) -> Tensor:
    """The sum of ``values`` in float64, divided by ``divisor`` for "mean", in values' dtype."""
    total = values.sum(dtype=torch.float64)
    if reduction == "mean":
        assert divisor is not None, "a 'mean' reduction needs its divisor"
        total = total / divisor
    return total.to(values.dtype)


def _mean_divisor(reduction: str, avg_factor: float | None, default: Divisor) -> Divisor | None:
    """What "mean" divides by: mmdetection's ``avg_factor`` when given, else ``default``."""
    if reduction != "mean":
        return None
    return float(avg_factor) if avg_factor is not None else default


@torch.no_grad()
def softmax_loss(
    input: Tensor,
    target: Tensor,
    *,
    offsets: Tensor | None,
    margins: Tensor | None,
    scale: float,
    weight: Tensor | None,
    alpha: Tensor | None,
    gamma: float,
    label_smoothing: float,
    ignore_index: int,
    reduction: str,
    normalization: str,
    avg_factor: float | None,
) -> tuple[Tensor, Tensor]:
    """The softmax family (``src/losses/softmax_tch.rs``): per row with label y,
    ``u_j = s·(z_j − m_y·[j = y]) + b_j`` (LDAM's scaled margin, Cao et al. 2019; logit
    adjustment / Balanced Softmax offsets, Menon et al. 2021, Ren et al. 2020), ``p = softmax(u)``,
    ``L = (1−ε)·w_y·(−log p_y) + (ε/C)·Σ_j w_j·(−log p_j)`` (``F.cross_entropy``'s weight and
    label smoothing) and ``ℓ = α_y·h(L)`` with ``h(L) = (1 − e^{−L})^γ·L`` (focal loss, Lin et al.
    2017; ``1 − e^{−L} = 1 − p_y`` without weights or smoothing). Returns ``(loss, grad)``."""
    c = input.shape[1]
    dtype, device = input.dtype, input.device
    target_flat = target.reshape(-1)
    valid = target_flat != ignore_index
    bad = valid & ((target_flat < 0) | (target_flat >= c))
    _check_labels(
        bad,
        lambda i: (
            f"target should contain class indices in [0, {c}) or "
            f"ignore_index={ignore_index}, but got target={int(target_flat[i])} at position {i}"
        ),
    )
    # Rows (N·d, C) with classes last. Ignored rows read class 0 of zero logits: finite, dropped.
    x = torch.where(valid.unsqueeze(1), input.movedim(1, -1).reshape(-1, c), 0.0)
    y = torch.where(valid, target_flat, 0).clamp(0, c - 1)
    y_col = y.unsqueeze(1)
    onehot = torch.zeros_like(x).scatter_(1, y_col, 1.0)

    u = x * scale
    if offsets is not None:
        u = u + offsets
    if margins is not None:
        u = u - onehot * (margins.index_select(0, y) * scale).unsqueeze(1)
    logp = torch.log_softmax(u, dim=1)
    w = weight if weight is not None else torch.ones(c, dtype=dtype, device=device)
    w_y = w.index_select(0, y)
    a = (1.0 - label_smoothing) * w_y  # the target's coefficient in L
    b = label_smoothing / c  # every class's coefficient (times w_j) in L
    loss_l = -a * logp.gather(1, y_col).squeeze(1)
    p_coef = a  # dL/du_j = p_coef·p_j − a·[j = y] − b·w_j
    if label_smoothing > 0:
        # Zero-weight classes are left out, so that a −inf logit there does not give 0·inf.
        smooth = torch.where(w != 0, logp * w, 0.0).sum(1)
        loss_l = loss_l - b * smooth
        p_coef = a + b * w.sum()
    if gamma > 0:
        # h(L) and h'(L) = γ·t^{γ−1}·e^{−L}·L + t^γ with t = 1 − e^{−L} (clamped: never negative
        # from rounding); h'(0) = 0 for γ > 0.
        t = (-torch.expm1(-loss_l)).clamp_min(0.0)
        t_gamma = t.pow(gamma)
        dh = torch.where(t > 0, gamma * t_gamma / t * torch.exp(-loss_l) * loss_l + t_gamma, 0.0)
        value = t_gamma * loss_l
    else:
        value, dh = loss_l, torch.ones_like(loss_l)
    if alpha is not None:
        alpha_y = alpha.index_select(0, y)
        value, dh = alpha_y * value, alpha_y * dh
    row_loss = torch.where(valid, value, 0.0)

    # "mean" divides by Σ w_y over kept rows (as F.cross_entropy(weight=) does), or their count.
    if normalization == "weight":
        kept_total = torch.where(valid, w_y, 0.0).sum(dtype=torch.float64)
    else:
        kept_total = valid.sum(dtype=torch.float64)
    divisor = _mean_divisor(reduction, avg_factor, kept_total)
    k = torch.where(valid, _scaled(dh * scale, _inverse(divisor)), 0.0).unsqueeze(1)
    g = logp.exp() * p_coef.unsqueeze(1) - onehot * a.unsqueeze(1)
    if label_smoothing > 0:
        g = g - b * w
    # Back to the input's layout (N, C, d...).
    grad = (g * k).reshape(*target.shape, c).movedim(-1, 1).contiguous()
    if reduction == "none":
        return row_loss.reshape(target.shape), grad
    return _reduce(row_loss, reduction, divisor), grad


@torch.no_grad()
def sigmoid_loss(
    input: Tensor,
    target: Tensor,
    *,
    num_labels: int | None,
    gamma: float,
    alpha: float | None,
    weight: Tensor | None,
    label_weight: Tensor | None,
    pos_weight: Tensor | None,
    neg_weight: Tensor | None,
    neg_weight_fg_only: bool,
    ignore_index: int,
    reduction: str,
    normalization: str,
    avg_factor: float | None,
    collect_stats: bool,
) -> tuple[Tensor, Tensor, Tensor]:
    """The sigmoid family (``src/losses/sigmoid_tch.rs``): per element
    ``ℓ_ij = W_ij · q_ij^γ · BCE(z_ij, t_ij)`` with ``q = σ(1−t) + (1−σ)t`` (the focal
    modulator ``1 − p_t``, Lin et al. 2017; torchvision ``sigmoid_focal_loss``) and
    ``W_ij = s_i · v_{y_i} · (α t + (1−α)(1−t)) · (P_j t + Q_j (1−t))``: per-row weight, per-label
    weight (class-balanced, Cui et al. 2019), focal α, and per-class positive / negative weights
    (EQLv2, Tan et al. 2021; EQL's ``Q = 1 − T_λ(f)`` on foreground rows, Tan et al. 2020). The
    weights are constants for autograd, as in the official code. Returns ``(loss, grad, stats)``
    with ``stats = [Σ_i |σ−t|·t·W, Σ_i |σ−t|·(1−t)·W]``, ``(2, C)`` when ``collect_stats``."""
    shape = input.shape
    c = shape[-1]
    dtype, device = input.dtype, input.device
    x = input.reshape(-1, c)
    n = x.shape[0]
    row_weight = weight
    fg = None  # rows with a foreground label; None for dense targets
    if target.is_floating_point():
        t = target.reshape(-1, c)
        valid = None
        valid_rows: Divisor = float(n)
        _check_nan_rows(x, None)
    else:
        labels = num_labels if num_labels is not None else c + 1
        valid = target != ignore_index
        bad = valid & ((target < 0) | (target >= labels))
        _check_labels(
            bad,
            lambda i: (
                f"target should contain labels in [0, {labels}) or "
                f"ignore_index={ignore_index}, but got target={int(target[i])} at position {i}"
            ),
        )
        _check_nan_rows(x, valid)
        y = torch.where(valid, target, 0).clamp(0, labels - 1)
        # Labels in [C, num_labels) (background) set a dropped extra column: an all-negative row.
        t = torch.zeros(n, c + 1, dtype=dtype, device=device)
        t = t.scatter_(1, y.clamp_max(c).unsqueeze(1), 1.0)[:, :c]
        fg = valid & (y < c)
        x = torch.where(valid.unsqueeze(1), x, 0.0)  # ignored rows: finite, weight 0
        if row_weight is None:
            row_weight = torch.ones(n, dtype=dtype, device=device)
        if label_weight is not None:
            row_weight = row_weight * label_weight.index_select(0, y)
        row_weight = torch.where(valid, row_weight, 0.0)
        valid_rows = valid.sum(dtype=torch.float64)

    one_m_t = 1.0 - t
    w_el = torch.ones_like(x) if row_weight is None else row_weight.unsqueeze(1).expand(n, c)
    if alpha is not None:
        w_el = w_el * (alpha * t + (1.0 - alpha) * one_m_t)
    if pos_weight is not None or neg_weight is not None:
        ones_c = torch.ones(c, dtype=dtype, device=device)
        pos = pos_weight if pos_weight is not None else ones_c
        neg = (neg_weight if neg_weight is not None else ones_c).expand(n, c)
        if neg_weight_fg_only and fg is not None:
            neg = torch.where(fg.unsqueeze(1), neg, 1.0)
        w_el = w_el * (pos * t + neg * one_m_t)

    s = torch.sigmoid(x)
    s_neg = torch.sigmoid(-x)  # 1 − σ without the cancellation for large positive logits
    # BCE with logits, log1p(e^{−|z|}) plus the linear part of the logit's side: no difference
    # of nearly equal numbers, so easy positives keep float32 relative precision (as the kernel).
    bce = torch.log1p(torch.exp(-x.abs())) + torch.where(x >= 0, x * one_m_t, -x * t)
    s_minus_t = s * one_m_t - s_neg * t
    if gamma > 0:
        # d(q^γ)/dz = γ q^{γ−1}·σ(1−σ)(1−2t), whose limit at q = 0 is 0.
        q = s * one_m_t + s_neg * t
        q_gamma = q.pow(gamma)
        dq = s * s_neg * (1.0 - 2.0 * t)
        dq_gamma = torch.where(q > 0, gamma * q_gamma / q * dq, 0.0)
        elem, d_elem = q_gamma * bce, dq_gamma * bce + q_gamma * s_minus_t
    else:
        elem, d_elem = bce, s_minus_t
    elem = elem * w_el

    if collect_stats:
        # EQLv2's gradient statistics, before any divisor (Tan et al. 2021, official eqlv2.py).
        g_abs = s_minus_t.abs() * w_el
        stats = torch.stack([(g_abs * t).sum(0), (g_abs * one_m_t).sum(0)])
    else:
        stats = torch.zeros(0, dtype=dtype, device=device)
    default = valid_rows * c if normalization == "elements" else valid_rows
    divisor = _mean_divisor(reduction, avg_factor, default)
    grad = _scaled(d_elem * w_el, _inverse(divisor)).reshape(shape).contiguous()
    if reduction == "none":
        return elem.reshape(shape).contiguous(), grad, stats
    return _reduce(elem, reduction, divisor), grad, stats


@torch.no_grad()
def seesaw_loss(
    input: Tensor,
    target: Tensor,
    *,
    num_classes: int,
    mode: str,
    counts: Tensor | None,
    p: float,
    q: float,
    eps: float,
    factors: Tensor | None,
    weight: Tensor | None,
    ignore_index: int,
    reduction: str,
    avg_factor: float | None,
) -> tuple[Tensor, Tensor, Tensor]:
    """Seesaw loss (``src/losses/seesaw_tch.rs``; Wang et al. CVPR 2021, mmdetection
    ``seesaw_loss.py``), and softmax EQL through ``factors``. For a foreground row with label y
    the class term is cross-entropy on ``u = z + log S_y ⊙ (1 − onehot)`` with
    ``log S_yj = p·min(log N_j − log N_y, 0) + q·max(log σ_j − log max(σ_y, ε), 0) + log K_ij``
    (mitigation, compensation with ``σ = softmax(z)``, per-element factors), the factors detached
    as in the official code. Forms: ``"classification"`` (C logits), ``"background"`` (C+1, the
    factors act between foreground classes only), ``"objectness"`` (C class logits, class term on
    foreground rows, then a 2-way object/background cross-entropy on every row). Returns
    ``(loss_classes, loss_objectness, grad)``; ``grad`` is the gradient of their sum."""
    c = num_classes
    n = input.shape[0]
    dtype, device = input.dtype, input.device
    num_labels = c if mode == "classification" else c + 1
    valid = target != ignore_index
    bad = valid & ((target < 0) | (target >= num_labels))
    _check_labels(
        bad,
        lambda i: (
            f"target should contain labels in [0, {num_labels}) or "
            f"ignore_index={ignore_index}, but got target={int(target[i])} at position {i}"
        ),
    )
    _check_nan_rows(input, valid)
    y = torch.where(valid, target, 0).clamp(0, num_labels - 1)
    x = torch.where(valid.unsqueeze(1), input, 0.0)  # ignored rows: finite, weight 0
    fg = valid & (y < c)
    # Rows of the class softmax: every valid row, except background rows of the objectness form.
    in_cls = fg if mode == "objectness" else valid
    soft_cols = c + 1 if mode == "background" else c
    z = x[:, :soft_cols]
    y_cls = y.clamp_max(soft_cols - 1)
    onehot = torch.zeros_like(z).scatter_(1, y_cls.unsqueeze(1), 1.0)

    y_fg = y.clamp_max(c - 1)
    log_s = torch.zeros(n, c, dtype=dtype, device=device)
    if p > 0 and counts is not None:
        log_n = counts.clamp_min(1.0).log()
        log_s = log_s + p * (
            log_n.unsqueeze(0) - log_n.index_select(0, y_fg).unsqueeze(1)
        ).clamp_max(0.0)
    if q > 0:
        log_sigma = torch.log_softmax(z, dim=1)[:, :c]
        log_eps = math.log(eps) if eps > 0 else -math.inf
        log_sigma_y = log_sigma.gather(1, y_fg.unsqueeze(1)).clamp_min(log_eps)
        log_s = log_s + q * (log_sigma - log_sigma_y).clamp_min(0.0)
    if factors is not None:
        log_s = log_s + factors.log()
    if soft_cols > c:  # the background column of the background form keeps factor 1
        log_s = torch.cat([log_s, torch.zeros(n, soft_cols - c, dtype=dtype, device=device)], 1)
    # Only the non-target columns of foreground rows are adjusted.
    adjust = (onehot == 0) & fg.unsqueeze(1)
    u = z + torch.where(adjust, log_s, 0.0)
    logp = torch.log_softmax(u, dim=1)
    w = weight if weight is not None else torch.ones(n, dtype=dtype, device=device)
    row_cls = torch.where(in_cls, -logp.gather(1, y_cls.unsqueeze(1)).squeeze(1) * w, 0.0)
    g_cls = torch.where(in_cls.unsqueeze(1), (logp.exp() - onehot) * w.unsqueeze(1), 0.0)

    if mode == "objectness":
        div_cls = _mean_divisor(reduction, avg_factor, fg.sum(dtype=torch.float64))
        div_obj = _mean_divisor(reduction, avg_factor, valid.sum(dtype=torch.float64))
        is_background = (y == c).long().unsqueeze(1)  # column 0 = object, 1 = background
        log_obj = torch.log_softmax(x[:, c:], dim=1)
        onehot_obj = torch.zeros_like(log_obj).scatter_(1, is_background, 1.0)
        row_obj = torch.where(valid, -log_obj.gather(1, is_background).squeeze(1) * w, 0.0)
        g_obj = torch.where(valid.unsqueeze(1), (log_obj.exp() - onehot_obj) * w.unsqueeze(1), 0.0)
        grad = torch.cat([_scaled(g_cls, _inverse(div_cls)), _scaled(g_obj, _inverse(div_obj))], 1)
    else:
        div_cls = _mean_divisor(reduction, avg_factor, valid.sum(dtype=torch.float64))
        row_obj = None
        grad = _scaled(g_cls, _inverse(div_cls)).contiguous()

    if reduction == "none":
        return row_cls, row_obj if row_obj is not None else torch.zeros_like(row_cls), grad
    loss_cls = _reduce(row_cls, reduction, div_cls)
    if row_obj is None:
        return loss_cls, torch.zeros((), dtype=dtype, device=device), grad
    # mmdetection returns 0 for the class term of a batch without positives.
    loss_cls = torch.where(fg.any(), loss_cls, 0.0)
    return loss_cls, _reduce(row_obj, reduction, div_obj), grad


@torch.no_grad()
def group_softmax_loss(
    input: Tensor, targets: Tensor, weights: Tensor, offsets: list[int], *, reduction: str
) -> tuple[Tensor, Tensor]:
    """Group softmax (``src/losses/group_softmax_tch.rs``; BAGS, Li et al. CVPR 2020, official
    ``GroupSoftmax``): the columns of ``input`` (N, K) are cut at ``offsets`` into G separate
    softmaxes and ``ℓ_i = Σ_g w_ig · CE(z_i[group g], t_ig)`` with ``(N, G)`` target positions
    and weights (a zero weight skips the group). ``"mean"`` is the sum: the weights hold any
    divisor. Returns ``(loss, grad)``."""
    bounds = list(itertools.pairwise(offsets))
    sizes = [end - start for start, end in bounds]
    groups = len(bounds)
    bad = torch.stack([(targets[:, g] < 0) | (targets[:, g] >= sizes[g]) for g in range(groups)], 1)
    _check_labels(
        bad,
        lambda i: (
            f"targets should lie in [0, {sizes[i % groups]}) for group {i % groups}, "
            f"but got {int(targets.reshape(-1)[i])} at row {i // groups}"
        ),
    )
    keep = weights != 0
    # Every logit of a row that enters the loss is checked, also those of skipped groups.
    _check_nan_rows(input, keep.any(1))
    row_loss = torch.zeros(input.shape[0], dtype=input.dtype, device=input.device)
    grads = []
    for g, (start, end) in enumerate(bounds):
        w, kept = weights[:, g], keep[:, g]
        position = targets[:, g].clamp(0, sizes[g] - 1).unsqueeze(1)
        z = torch.where(kept.unsqueeze(1), input[:, start:end], 0.0)  # skipped: finite, dropped
        logp = torch.log_softmax(z, dim=1)
        row_loss = row_loss + torch.where(kept, -logp.gather(1, position).squeeze(1) * w, 0.0)
        onehot = torch.zeros_like(logp).scatter_(1, position, 1.0)
        grads.append(torch.where(kept.unsqueeze(1), (logp.exp() - onehot) * w.unsqueeze(1), 0.0))
    grad = torch.cat(grads, 1)
    if reduction == "none":
        return row_loss, grad
    return _reduce(row_loss, "sum", None), grad
