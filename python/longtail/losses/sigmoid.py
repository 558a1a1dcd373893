"""Sigmoid-family losses: sigmoid focal loss, equalization loss (EQL) and EQLv2, their
functional forms and ``nn.Module``s. Detection labels run over ``[0, C]`` with ``C`` the
background (mmdetection >= 2)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from longtail._validation import (
    Counts,
    as_class_counts,
    as_real_vector,
    check_ignore_index,
    check_real,
    check_reduction,
)
from longtail.losses._common import (
    _F32_MAX,
    _check_avg_factor,
    _check_frequencies,
    _check_labels_2d,
    _check_num_classes,
    _check_sample_weight,
    _compute_dtype,
    _frequency_dtype,
    _sigmoid_run,
    _StatefulLoss,
)


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
        lambda: f" (num_classes={num_classes} class logits and one background logit)",
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
    # The statistics are state, never part of the graph (traced, the op's outputs all are).
    return loss, (stats[:, :-1].detach() if collect_stats else stats)


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
        return sigmoid_focal_loss(
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

    # The buffers, typed (nn.Module.__getattr__ would type them Tensor | Module).
    class_frequencies: Tensor

    def __init__(
        self, class_frequencies: Counts, lambda_: float = 0.00177, reduction: str = "mean"
    ) -> None:
        super().__init__()
        self.lambda_ = check_real("lambda_", lambda_, low=0.0)
        self.reduction = check_reduction(reduction)
        # Kept in the frequencies' own dtype: the threshold is compared in it.
        frequencies = as_class_counts(class_frequencies, name="class_frequencies")
        self.register_buffer(
            "class_frequencies", frequencies.to(_frequency_dtype(class_frequencies))
        )

    def forward(
        self, input: Tensor, target: Tensor, avg_factor: float | Tensor | None = None
    ) -> Tensor:
        return equalization_loss(
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

    pos_grad: Tensor
    neg_grad: Tensor
    pos_neg: Tensor

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
        self.alpha = _check_eqlv2_alpha(alpha)
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
        _check_eqlv2_input(input, target, self.num_classes)
        avg_factor = _check_avg_factor(avg_factor, self.reduction)
        update = self._updating(update_state)
        loss, stats = _eqlv2(
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
