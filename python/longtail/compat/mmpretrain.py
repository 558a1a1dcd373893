"""mmpretrain's classification ``SeesawLoss`` and ``FocalLoss`` on longtail's kernels.

Same constructor arguments, ``forward(cls_score, labels, weight=None, avg_factor=None,
reduction_override=None)`` and values as ``mmpretrain/models/losses/{seesaw_loss,focal_loss}.py``.
Where these follow mmpretrain rather than longtail:

* Seesaw's ``cum_samples`` (C entries, float32, mmpretrain's buffer name) is updated with each
  batch's labels before its loss on **every** forward;
* ``"mean"`` with an ``avg_factor`` is ``sum / avg_factor`` (mmpretrain's ``weight_reduce_loss``
  has no eps, unlike mmdetection's);
* bad arguments where mmpretrain asserts raise :class:`~longtail.compat.PeerAssertionError`
  (an ``AssertionError`` and a ``ValueError``).

Unlike mmpretrain, Seesaw's count increments are summed across ranks when ``torch.distributed``
is initialised.

Example (an mmpretrain config)::

    longtail.compat.mmpretrain.register()
    loss=dict(type="longtail.SeesawLoss", num_classes=1000, loss_weight=1.0)
"""

from __future__ import annotations

from torch import Tensor, nn

from longtail import functional as F
from longtail import losses as _losses
from longtail.compat._common import (
    PeerAssertionError,
    avg_factor_value,
    check_reduction,
    check_reduction_override,
    check_tensor,
)

__all__ = ["FocalLoss", "SeesawLoss", "register"]


def _divide(loss: Tensor, avg_factor: float | None, reduction: str) -> Tensor:
    """mmpretrain's ``"mean"`` with an avg_factor: the kernel's sum over ``avg_factor``."""
    return loss / avg_factor if avg_factor is not None and reduction == "mean" else loss


def _kernel_reduction(avg_factor: float | None, reduction: str) -> str:
    return "sum" if avg_factor is not None and reduction == "mean" else reduction


class SeesawLoss(_losses.SeesawLoss):
    r"""mmpretrain's Seesaw loss (Wang et al. CVPR 2021) over C class logits:
    ``loss_weight · CE(z + log S ⊙ (1 − onehot), y)`` with mitigation ``(N_j/N_y)^p`` and
    compensation ``(σ_j/σ_y)^q`` factors from the cumulative counts ``cum_samples``.

    Args:
        use_sigmoid: must be False (mmpretrain asserts it).
        p, q, eps: mitigation exponent (0.8), compensation exponent (2.0), clamp (1e-2).
        num_classes: C (1000, ImageNet).
        reduction: ``"mean"`` (over rows, or ``sum / avg_factor``), ``"sum"`` or ``"none"``.
        loss_weight: multiplies the loss.

    Example::

        >>> loss = SeesawLoss(num_classes=3)
        >>> loss(torch.randn(4, 3, requires_grad=True), torch.tensor([0, 0, 1, 2])).backward()
    """

    cum_samples: Tensor  # a buffer (nn.Module.__getattr__ types it Tensor | Module)

    def __init__(
        self,
        use_sigmoid: bool = False,
        p: float = 0.8,
        q: float = 2.0,
        num_classes: int = 1000,
        eps: float = 1e-2,
        reduction: str = "mean",
        loss_weight: float = 1.0,
    ) -> None:
        if use_sigmoid:
            raise PeerAssertionError(
                f"use_sigmoid should be False (`use_sigmoid` is not supported), but got "
                f"use_sigmoid={use_sigmoid!r}"
            )
        super().__init__(
            num_classes,
            p=p,
            q=q,
            eps=eps,
            mode="classification",
            reduction=check_reduction("reduction", reduction),
            distributed=True,
        )
        self.use_sigmoid = False
        self.loss_weight = float(loss_weight)

    def forward(  # type: ignore[override]
        self,
        cls_score: Tensor,
        labels: Tensor,
        weight: Tensor | None = None,
        avg_factor: float | Tensor | None = None,
        reduction_override: str | None = None,
    ) -> Tensor:
        check_reduction_override(reduction_override)
        check_tensor("cls_score", cls_score)
        check_tensor("labels", labels)
        if cls_score.dim() == 0 or cls_score.size(0) != labels.reshape(-1).size(0):
            raise PeerAssertionError(
                f"labels should have shape [{cls_score.size(0) if cls_score.dim() else 0}], but "
                f"got labels of shape {list(labels.size())}"
            )
        reduction = reduction_override if reduction_override else self.reduction
        if cls_score.dim() != 2 or cls_score.size(-1) != self.num_classes:
            raise PeerAssertionError(
                f"cls_score should have num_classes={self.num_classes} columns (the channel "
                f"number of output does not match), but got cls_score of shape "
                f"{tuple(cls_score.shape)}"
            )
        labels = labels.reshape(-1)
        avg = avg_factor_value(avg_factor, reduction)
        F._check_seesaw_input(cls_score, labels, self.num_classes, "classification")
        weight = F._check_sample_weight(weight, cls_score, cls_score.shape[0])
        increment = F._label_counts(labels, self.num_classes, self.cum_samples.dtype)
        counts = self.cum_samples + self._sum_across_ranks(increment)
        loss = F._seesaw(
            cls_score,
            labels,
            counts,
            num_classes=self.num_classes,
            mode="classification",
            p=self.p,
            q=self.q,
            eps=self.eps,
            factors=None,
            weight=weight,
            reduction=_kernel_reduction(avg, reduction),
            avg_factor=None,
            ignore_index=-100,
            return_dict=False,
        )
        assert isinstance(loss, Tensor)  # return_dict=False
        self.cum_samples.copy_(counts)  # only once the kernel accepted the batch
        return self.loss_weight * _divide(loss, avg, reduction)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, loss_weight={self.loss_weight}"


class FocalLoss(nn.Module):
    r"""mmpretrain's sigmoid ``FocalLoss``: ``loss_weight · α_t (1 − p_t)^γ BCE(z, t)``.

    ``target`` is labels ``(N,)`` or ``(N, 1)`` in ``[0, C)`` (made one-hot over the C
    columns) or a target of ``pred``'s shape (multi-label or soft). ``weight`` is per row
    ``(N,)``. ``"mean"`` averages over all elements, or divides the sum by ``avg_factor``.

    Example::

        >>> loss = FocalLoss(gamma=2.0, alpha=0.25)
        >>> loss(torch.randn(4, 3), torch.tensor([0, 2, 1, 2]))
        tensor(...)
    """

    def __init__(
        self,
        gamma: float = 2.0,
        alpha: float = 0.25,
        reduction: str = "mean",
        loss_weight: float = 1.0,
    ) -> None:
        super().__init__()
        self.gamma = float(gamma)
        self.alpha = float(alpha)
        self.reduction = check_reduction("reduction", reduction)
        self.loss_weight = float(loss_weight)

    def forward(
        self,
        pred: Tensor,
        target: Tensor,
        weight: Tensor | None = None,
        avg_factor: float | Tensor | None = None,
        reduction_override: str | None = None,
    ) -> Tensor:
        check_reduction_override(reduction_override)
        reduction = reduction_override if reduction_override else self.reduction
        check_tensor("pred", pred)
        check_tensor("target", target)
        if target.dim() == 1 or (target.dim() == 2 and target.shape[1] == 1):
            labels = target.reshape(-1)
            if labels.is_floating_point():
                labels = labels.long()
            if pred.dim() != 2 or (labels.numel() and (labels >= pred.shape[-1]).any()):
                raise PeerAssertionError(
                    f"target should hold labels in [0, {pred.shape[-1]}) for pred of shape "
                    f"{tuple(pred.shape)}, but got target={labels.tolist()[:20]}"
                )
            target = labels  # integer labels in [0, C): the kernel's one-hot rows
        elif target.shape != pred.shape:
            raise PeerAssertionError(
                f"target should have pred's shape {tuple(pred.shape)}, but got target of shape "
                f"{tuple(target.shape)}"
            )
        if weight is not None and (not isinstance(weight, Tensor) or weight.dim() != 1):
            raise PeerAssertionError(
                f"weight should be a 1-D tensor, one entry per sample, but got weight={weight!r}"
            )
        avg = avg_factor_value(avg_factor, reduction)
        loss = F.sigmoid_focal_loss(
            pred,
            target,
            gamma=self.gamma,
            alpha=self.alpha,
            weight=weight,
            reduction=_kernel_reduction(avg, reduction),
        )
        return self.loss_weight * _divide(loss, avg, reduction)

    def extra_repr(self) -> str:
        return (
            f"gamma={self.gamma}, alpha={self.alpha}, reduction={self.reduction!r}, "
            f"loss_weight={self.loss_weight}"
        )


_LOSSES = {"SeesawLoss": SeesawLoss, "FocalLoss": FocalLoss}


def register(registry=None) -> None:
    """Adds ``longtail.SeesawLoss`` and ``longtail.FocalLoss`` (these classification forms) to
    ``registry``, or to mmpretrain's ``MODELS`` when None."""
    from longtail.compat import _registry

    if registry is None:
        try:
            from mmpretrain.registry import MODELS
        except ImportError as err:
            raise ImportError(
                "register() without a registry needs mmpretrain installed; pass an mmengine "
                "Registry explicitly otherwise"
            ) from err
        registry = MODELS
    _registry.add(registry, _LOSSES)
