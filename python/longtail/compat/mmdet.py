"""mmdetection 3.x's classification losses on longtail's kernels: a config changes its ``type``.

``SeesawLoss``, ``EQLV2Loss`` and ``FocalLoss`` take mmdetection's constructor arguments
(``use_sigmoid``, ``loss_weight``, ``reduction``, ...), its ``forward(cls_score, labels,
label_weights=None, avg_factor=None, reduction_override=None)``, and the custom-head hooks its
``BBoxHead`` reads (``custom_cls_channels`` / ``custom_activation`` / ``custom_accuracy`` with
``get_cls_channels`` / ``get_activation`` / ``get_accuracy``). They give mmdetection's values,
gradients and state step for step (``mmdet/models/losses/{seesaw_loss,eqlv2_loss,focal_loss}.py``).

Where these follow mmdetection rather than longtail's own conventions:

* the state (Seesaw's ``cum_samples``, EQLv2's ``pos_grad`` / ``neg_grad`` / ``pos_neg``, with
  mmdetection's buffer names, so its checkpoints load) is updated on **every** forward, as
  mmdetection does, not only in training mode with autograd on;
* ``"mean"`` with an ``avg_factor`` divides by ``avg_factor + eps`` (``eps`` the float32
  epsilon), so ``avg_factor=0`` with all-zero weights gives 0;
* a bad ``reduction_override`` or a wrong number of logits raises
  :class:`~longtail.compat.PeerAssertionError`, both an ``AssertionError`` (what mmdetection
  raises) and a ``ValueError`` (longtail's rule).

One deliberate difference: when ``torch.distributed`` is initialised, each step's count or
gradient-statistics increment is summed across ranks (mmdetection's port keeps per-rank state),
so every rank holds the state of the global batch.

Example (an mmdetection config)::

    import longtail.compat
    longtail.compat.register()      # adds longtail.SeesawLoss etc. to mmdet's MODELS
    loss_cls=dict(type="longtail.SeesawLoss", p=0.8, q=2.0, num_classes=1203, loss_weight=1.0)
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from longtail import functional as F
from longtail import losses as _losses
from longtail.compat._common import (
    PeerAssertionError,
    avg_factor_value,
    check_reduction,
    check_reduction_override,
    check_tensor,
    float32_eps,
    openmmlab_accuracy,
    weight_reduce,
)

__all__ = ["EQLV2Loss", "FocalLoss", "SeesawLoss", "register"]


def _check_columns(cls_score: Tensor, columns: int, what: str) -> None:
    check_tensor("cls_score", cls_score)
    if cls_score.dim() != 2 or cls_score.size(-1) != columns:
        raise PeerAssertionError(
            f"cls_score should have shape (N, {columns}) ({what}), but got cls_score of shape "
            f"{tuple(cls_score.shape)}"
        )


class SeesawLoss(_losses.SeesawLoss):
    r"""mmdetection's ``SeesawLoss`` (Wang et al. CVPR 2021) over C+2 logits: C class logits,
    then 2 objectness logits (0 = object, 1 = background).

    ``loss_cls_classes`` is the Seesaw cross-entropy over the foreground rows (labels < C),
    ``loss_cls_objectness`` a 2-way cross-entropy over every row, each ``loss_weight`` times,
    with ``label_weights`` per row and ``"mean"`` = mean over the term's rows, or
    ``sum / (avg_factor + eps)``. A batch without foreground rows gives a class term of 0.
    The counts ``cum_samples`` (C+1 entries, float32, background last) are updated with this
    batch's labels before its loss, on every forward.

    Args:
        use_sigmoid: must be False (mmdetection asserts it).
        p, q, eps: mitigation exponent, compensation exponent, clamp of the self-score.
        num_classes: C (1203 for LVIS v1).
        reduction: ``"mean"``, ``"sum"`` or ``"none"`` (``"none"``: the class term has one
            entry per foreground row, as in mmdetection, the objectness term one per row).
        loss_weight: multiplies both terms.
        return_dict: return ``{"loss_cls_objectness", "loss_cls_classes"}`` (the default) or
            their sum.

    Example::

        >>> loss = SeesawLoss(num_classes=3)
        >>> out = loss(torch.randn(4, 5, requires_grad=True), torch.tensor([0, 3, 1, 2]))
        >>> sorted(out)
        ['loss_cls_classes', 'loss_cls_objectness']
    """

    custom_cls_channels = True
    custom_activation = True
    custom_accuracy = True
    cum_samples: Tensor  # a buffer (nn.Module.__getattr__ types it Tensor | Module)

    def __init__(
        self,
        use_sigmoid: bool = False,
        p: float = 0.8,
        q: float = 2.0,
        num_classes: int = 1203,
        eps: float = 1e-2,
        reduction: str = "mean",
        loss_weight: float = 1.0,
        return_dict: bool = True,
    ) -> None:
        if use_sigmoid:
            raise PeerAssertionError(
                f"use_sigmoid should be False (Seesaw is a softmax loss), but got "
                f"use_sigmoid={use_sigmoid!r}"
            )
        super().__init__(
            num_classes,
            p=p,
            q=q,
            eps=eps,
            mode="objectness",
            reduction=check_reduction("reduction", reduction),
            return_dict=bool(return_dict),
            distributed=True,
        )
        self.use_sigmoid = False
        self.loss_weight = float(loss_weight)

    def get_cls_channels(self, num_classes: int) -> int:
        if num_classes != self.num_classes:
            raise PeerAssertionError(
                f"num_classes should be the loss's num_classes={self.num_classes}, but got "
                f"num_classes={num_classes!r}"
            )
        return num_classes + 2

    def _split_cls_score(self, cls_score: Tensor) -> tuple[Tensor, Tensor]:
        check_tensor("cls_score", cls_score)
        if cls_score.size(-1) != self.num_classes + 2:
            raise PeerAssertionError(
                f"cls_score should have num_classes + 2 = {self.num_classes + 2} columns, but "
                f"got cls_score of shape {tuple(cls_score.shape)}"
            )
        return cls_score[..., :-2], cls_score[..., -2:]

    def get_activation(self, cls_score: Tensor) -> Tensor:
        """Detection scores: ``softmax(classes) · P(object)``, then ``P(background)``."""
        classes, objectness = self._split_cls_score(cls_score)
        score_classes = torch.softmax(classes, dim=-1)
        score_objectness = torch.softmax(objectness, dim=-1)
        return torch.cat(
            [score_classes * score_objectness[..., [0]], score_objectness[..., [1]]], dim=-1
        )

    def get_accuracy(self, cls_score: Tensor, labels: Tensor) -> dict[str, Tensor]:
        pos = labels < self.num_classes
        obj_labels = (labels == self.num_classes).long()
        classes, objectness = self._split_cls_score(cls_score)
        return {
            "acc_objectness": openmmlab_accuracy(objectness, obj_labels),
            "acc_classes": openmmlab_accuracy(classes[pos], labels[pos]),
        }

    def forward(  # type: ignore[override]
        self,
        cls_score: Tensor,
        labels: Tensor,
        label_weights: Tensor | None = None,
        avg_factor: float | Tensor | None = None,
        reduction_override: str | None = None,
    ) -> Tensor | dict[str, Tensor]:
        check_reduction_override(reduction_override)
        reduction = reduction_override if reduction_override else self.reduction
        c = self.num_classes
        _check_columns(cls_score, c + 2, f"num_classes={c} class logits and 2 objectness logits")
        divisor = avg_factor_value(avg_factor, reduction)
        if divisor is not None:
            divisor += float32_eps()
        F._check_seesaw_input(cls_score, labels, c, "objectness")
        weight = F._check_sample_weight(label_weights, cls_score, cls_score.shape[0])
        increment = F._label_counts(labels, c + 1, self.cum_samples.dtype)
        counts = self.cum_samples + self._sum_across_ranks(increment)
        out = F._seesaw(
            cls_score,
            labels,
            counts,
            num_classes=c,
            mode="objectness",
            p=self.p,
            q=self.q,
            eps=self.eps,
            factors=None,
            weight=weight,
            reduction=reduction,
            avg_factor=divisor,
            ignore_index=-100,
            return_dict=True,
        )
        assert isinstance(out, dict)  # return_dict=True
        # Committed only once the kernel accepted the batch (mmdetection counts first, then
        # computes; a rejected batch here changes no state).
        self.cum_samples.copy_(counts)
        classes, objectness = out["loss_cls_classes"], out["loss_cls_objectness"]
        pos = labels < c
        if reduction == "none" and self.return_dict:
            classes = classes[pos]  # mmdetection's class term covers the foreground rows only
        elif reduction == "mean" and divisor is None:
            # mmdetection: `cls_score_classes[pos_inds].sum()` (0) when no row is foreground.
            classes = torch.where(pos.any(), classes, classes.new_zeros(()))
        classes = self.loss_weight * classes
        objectness = self.loss_weight * objectness
        if self.return_dict:
            return {"loss_cls_objectness": objectness, "loss_cls_classes": classes}
        return classes + objectness

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, loss_weight={self.loss_weight}"


class EQLV2Loss(_losses.EQLv2Loss):
    r"""mmdetection's ``EQLV2Loss`` (Tan et al. CVPR 2021): BCE over C+1 logits (the last is
    the objectness/background logit) with gradient-guided weights, ``loss_weight ·
    Σ w·BCE / N``.

    Exactly as mmdetection's ``forward``, the loss is always ``Σ / N``: the ``weight``,
    ``avg_factor`` and ``reduction_override`` arguments a ``BBoxHead`` passes are accepted and
    not used (``reduction_override`` is still checked), and ``reduction`` / ``class_weight`` /
    ``vis_grad`` are stored only. The state is updated on every forward.

    Args:
        use_sigmoid: kept for configs (EQLv2 is always sigmoid).
        num_classes: C (1203 for LVIS v1, 1230 for v0.5).
        mu, alpha, gamma: the weight mapping ``1/(1+e^{−γ(x−μ)})`` and ``pos_w = 1 + α(1−neg_w)``.
        test_with_obj: ``get_activation`` multiplies the class scores by ``1 − σ(z_bg)``.

    Example::

        >>> loss = EQLV2Loss(num_classes=3)
        >>> loss(torch.randn(4, 4, requires_grad=True), torch.tensor([0, 3, 1, 2])).backward()
    """

    custom_cls_channels = True
    custom_activation = True
    custom_accuracy = True

    def __init__(
        self,
        use_sigmoid: bool = True,
        reduction: str = "mean",
        class_weight: Tensor | None = None,
        loss_weight: float = 1.0,
        num_classes: int = 1203,
        mu: float = 0.8,
        alpha: float = 4.0,
        gamma: float = 12,
        vis_grad: bool = False,
        test_with_obj: bool = True,
    ) -> None:
        super().__init__(
            num_classes, gamma=gamma, mu=mu, alpha=alpha, reduction="mean", distributed=True
        )
        self.use_sigmoid = True
        self.reduction = check_reduction("reduction", reduction)
        self.class_weight = class_weight
        self.loss_weight = float(loss_weight)
        self.vis_grad = bool(vis_grad)
        self.test_with_obj = bool(test_with_obj)

    def get_cls_channels(self, num_classes: int) -> int:
        return num_classes + 1

    get_channel_num = get_cls_channels  # mmdetection's own name for it

    def get_activation(self, pred: Tensor) -> Tensor:
        """``σ(z)``; with ``test_with_obj`` the class scores times ``1 − σ(z_bg)``."""
        scores = torch.sigmoid(pred)
        if not self.test_with_obj:
            return scores
        background = scores[:, -1:]
        return torch.cat([scores[:, :-1] * (1 - background), background], dim=1)

    def get_accuracy(self, cls_score: Tensor, labels: Tensor) -> dict[str, Tensor]:
        """What mmdetection's ``BBoxHead`` logs for a loss without custom accuracy."""
        return {"acc": openmmlab_accuracy(cls_score, labels)}

    def forward(  # type: ignore[override]
        self,
        cls_score: Tensor,
        label: Tensor,
        weight: Tensor | None = None,
        avg_factor: float | Tensor | None = None,
        reduction_override: str | None = None,
    ) -> Tensor:
        check_reduction_override(reduction_override)
        c = self.num_classes
        _check_columns(cls_score, c + 1, f"num_classes={c} class logits and 1 objectness logit")
        # mmdetection divides by N whatever the weight, avg_factor or reduction.
        loss = super().forward(cls_score, label, avg_factor=None, update_state=True)
        return self.loss_weight * loss

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, loss_weight={self.loss_weight}"


class FocalLoss(nn.Module):
    r"""mmdetection's sigmoid ``FocalLoss`` (Lin et al. 2017):
    ``loss_weight · α_t (1 − p_t)^γ BCE(z, t)``.

    ``target`` is either labels ``(N,)`` in ``[0, C]`` (C = background, an all-negative row) or,
    when ``pred.dim() == target.dim()``, a one-hot target of ``pred``'s shape (integer or
    float, e.g. ``(B, C, H, W)``). ``weight`` is per row ``(N,)``, per element, or per element
    flattened, reshaped as mmdetection's ``py_sigmoid_focal_loss`` does. ``"mean"`` averages
    over all elements, or divides the sum by ``avg_factor + eps``.

    Args:
        use_sigmoid: must be True (mmdetection supports only the sigmoid form).
        gamma, alpha: focusing exponent and positive weight.
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.
        loss_weight: multiplies the loss.
        activated: ``pred`` holds probabilities, not logits (then the labels form only). They
            run through the kernel as ``logit(pred)``, which equals mmdetection's
            ``binary_cross_entropy`` on probabilities except at exactly 0 or 1, where
            mmdetection clamps the log at −100.

    Example::

        >>> loss = FocalLoss(loss_weight=1.0)
        >>> loss(torch.randn(4, 3), torch.tensor([0, 3, 1, 2]), avg_factor=3)
        tensor(...)
    """

    custom_cls_channels = False
    custom_activation = False
    custom_accuracy = False

    def __init__(
        self,
        use_sigmoid: bool = True,
        gamma: float = 2.0,
        alpha: float = 0.25,
        reduction: str = "mean",
        loss_weight: float = 1.0,
        activated: bool = False,
    ) -> None:
        super().__init__()
        if use_sigmoid is not True:
            raise PeerAssertionError(
                f"use_sigmoid should be True (only sigmoid focal loss is supported), but got "
                f"use_sigmoid={use_sigmoid!r}"
            )
        self.use_sigmoid = True
        self.gamma = float(gamma)
        self.alpha = float(alpha)
        self.reduction = check_reduction("reduction", reduction)
        self.loss_weight = float(loss_weight)
        self.activated = bool(activated)

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
        avg = avg_factor_value(avg_factor, reduction)
        if self.activated:
            if target.dim() == pred.dim():
                raise ValueError(
                    "target should be labels (N,) when activated=True (mmdetection's "
                    f"sigmoid_focal_loss_with_prob), but got target of shape {tuple(target.shape)}"
                )
            pred = torch.logit(pred)
        # The fused kernel takes one weight per row; other weights go on the element losses.
        if weight is None or (
            isinstance(weight, Tensor) and pred.dim() == 2 and weight.shape == (pred.shape[0],)
        ):
            loss = F.sigmoid_focal_loss(
                pred,
                target,
                gamma=self.gamma,
                alpha=self.alpha,
                weight=weight,
                reduction=reduction,
                avg_factor=avg,
            )
        else:
            elements = F.sigmoid_focal_loss(
                pred, target, gamma=self.gamma, alpha=self.alpha, reduction="none"
            )
            loss = weight_reduce(
                elements,
                _mmdet_focal_weight(weight, elements),
                reduction,
                avg,
                eps=float32_eps(),
            )
        return self.loss_weight * loss

    def extra_repr(self) -> str:
        return (
            f"gamma={self.gamma}, alpha={self.alpha}, reduction={self.reduction!r}, "
            f"loss_weight={self.loss_weight}"
        )


def _mmdet_focal_weight(weight: Tensor, loss: Tensor) -> Tensor:
    """``py_sigmoid_focal_loss``'s weight reshaping: per row ``(N,)`` → ``(N, 1)``, a
    flattened per-element weight → the loss's ``(N, -1)``."""
    check_tensor("weight", weight)
    if weight.shape != loss.shape:
        if weight.size(0) == loss.size(0):
            weight = weight.view(-1, 1)
        else:
            if weight.numel() != loss.numel():
                raise PeerAssertionError(
                    f"weight should have one entry per row or per element of the loss of shape "
                    f"{tuple(loss.shape)}, but got weight of shape {tuple(weight.shape)}"
                )
            weight = weight.view(loss.size(0), -1)
    if weight.dim() != loss.dim():
        raise PeerAssertionError(
            f"weight should have the loss's {loss.dim()} dimensions, but got weight of shape "
            f"{tuple(weight.shape)}"
        )
    return weight.to(loss.dtype)


_LOSSES = {"SeesawLoss": SeesawLoss, "EQLV2Loss": EQLV2Loss, "FocalLoss": FocalLoss}


def register(registry=None) -> None:
    """Adds ``longtail.SeesawLoss``, ``longtail.EQLV2Loss`` and ``longtail.FocalLoss`` to an
    mmengine registry: ``registry``, or mmdetection's ``MODELS`` (with mmpretrain's classification
    forms, :func:`longtail.compat.mmpretrain.register`, into mmpretrain's ``MODELS`` where it is
    installed) when None. See :func:`longtail.compat.register`."""
    from longtail.compat import _registry

    if registry is None:
        _registry.register_defaults()
    else:
        _registry.add(registry, _LOSSES)
