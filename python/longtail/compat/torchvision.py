"""torchvision's ``torchvision.ops.sigmoid_focal_loss`` on longtail's sigmoid kernel.

Same signature, defaults and behaviour as torchvision (``torchvision/ops/focal_loss.py``):
``inputs`` and ``targets`` (a float target of ``inputs``' shape) are positional or keyword,
``alpha=0.25`` (a negative alpha disables the weighting), ``gamma=2``, and the default
``reduction="none"`` returns the element losses, where longtail's own
:func:`longtail.functional.sigmoid_focal_loss` defaults to ``"mean"`` and takes keywords only.
A bad ``reduction`` is a ``ValueError`` whose message starts with ``Invalid``, as torchvision's.

It is scriptable with ``torch.jit.script``, as torchvision's own test does: a scripted
function cannot call an autograd ``Function``, so the scripted body calls the kernel through
its registered custom op ``torch.ops.longtail.sigmoid_loss`` (the same kernel, with its
registered autograd formula); eager calls go through :mod:`longtail.functional` and its
argument checks. Float16/bfloat16 inputs are computed in float32 in both.

Example::

    >>> from longtail.compat.torchvision import sigmoid_focal_loss
    >>> inputs, targets = torch.randn(4, 3), torch.rand(4, 3).round()
    >>> sigmoid_focal_loss(inputs, targets).shape
    torch.Size([4, 3])
"""

from __future__ import annotations

import torch
from torch import Tensor

import longtail.losses._ops  # noqa: F401  (registers torch.ops.longtail.sigmoid_loss)

__all__ = ["sigmoid_focal_loss"]


def _eager(inputs: Tensor, targets: Tensor, alpha: float, gamma: float, reduction: str) -> Tensor:
    from longtail import functional as F

    if isinstance(targets, Tensor) and isinstance(inputs, Tensor) and inputs.is_floating_point():
        # torchvision's binary_cross_entropy_with_logits takes the target in the input's dtype.
        targets = targets.to(inputs.dtype)
    return F.sigmoid_focal_loss(
        inputs,
        targets,
        gamma=gamma,
        alpha=alpha if alpha >= 0 else None,
        reduction=reduction,
    )


def sigmoid_focal_loss(
    inputs: Tensor,
    targets: Tensor,
    alpha: float = 0.25,
    gamma: float = 2,
    reduction: str = "none",
) -> Tensor:
    r"""Focal loss (Lin et al. 2017, RetinaNet) for dense detection, torchvision's form:
    :math:`\alpha_t (1 - p_t)^\gamma \mathrm{BCE}(x, t)` with :math:`p = \sigma(x)`.

    Args:
        inputs: a float tensor of arbitrary shape, the logits of each example.
        targets: a float tensor of the same shape, the binary label of each element
            (0 negative, 1 positive).
        alpha: weight in ``(0, 1)`` balancing positives and negatives; negative: no weighting.
        gamma: exponent of the modulating factor ``(1 − p_t)``.
        reduction: ``"none"`` (element losses), ``"mean"`` or ``"sum"``.

    Returns:
        The loss, ``inputs``' shape for ``"none"``, else a scalar.
    """
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(
            f"Invalid Value for arg 'reduction': '{reduction} \n Supported reduction modes: "
            "'none', 'mean', 'sum'"
        )
    if not torch.jit.is_scripting():
        return _eager(inputs, targets, float(alpha), float(gamma), reduction)
    low_precision = inputs.dtype == torch.float16 or inputs.dtype == torch.bfloat16
    x = inputs.float() if low_precision else inputs
    alpha_or_none: float | None = None
    if alpha >= 0:
        alpha_or_none = float(alpha)
    # The op's arguments are the fields of longtail._kernels.SigmoidLossCall, all required.
    outputs = torch.ops.longtail.sigmoid_loss(
        x,
        targets.to(x.dtype),
        weight=None,
        label_weight=None,
        pos_weight=None,
        neg_weight=None,
        num_labels=None,
        gamma=float(gamma),
        alpha=alpha_or_none,
        neg_weight_fg_only=False,
        ignore_index=-100,
        reduction=reduction,
        normalization="elements",
        avg_factor=None,
        collect_stats=False,
        backend="auto",
    )
    loss = outputs[0]
    return loss.to(inputs.dtype) if low_precision else loss
