"""The official LDAM-DRW losses (Cao et al. NeurIPS 2019, ``kaidic/LDAM-DRW`` ``losses.py``) on
longtail's softmax kernel.

``LDAMLoss(cls_num_list, max_m=0.5, weight=None, s=30)`` and ``FocalLoss(weight=None,
gamma=0.)`` take the official arguments and defaults (note the focal default ``gamma=0``, plain
cross-entropy, where :class:`longtail.FocalLoss` defaults to 2) and give its values:

* ``LDAMLoss``: ``F.cross_entropy(s · (x − m_y·onehot), target, weight=weight)``, margins
  ``m_c ∝ n_c^{−1/4}`` with ``max m = max_m``; with ``weight`` (DRW) torch's weighted mean.
* ``FocalLoss``: ``mean((1 − e^{−ℓ})^γ · ℓ)`` with ``ℓ = F.cross_entropy(input, target,
  weight=weight, reduction="none")``: the class weight sits inside the exponent, and the mean
  is over samples (not torch's weighted mean).

``weight`` stays a plain attribute, as in the official code, so the DRW schedule can set it
between epochs (the training script rebuilds the loss; assigning ``loss.weight`` works too).
One difference: a class with zero samples gets margin ``max_m`` rather than the official
``inf``.

Example (the official ``cifar_train.py``)::

    criterion = LDAMLoss(cls_num_list=cls_num_list, max_m=0.5, s=30, weight=per_cls_weights)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from torch import Tensor, nn

from longtail import functional as F
from longtail.compat._common import PeerAssertionError

__all__ = ["FocalLoss", "LDAMLoss"]


class LDAMLoss(nn.Module):
    """The official ``LDAMLoss``: label-distribution-aware margins, scaled by ``s``.

    Args:
        cls_num_list: the training count of each class.
        max_m: the largest margin (that of the rarest class).
        weight: per-class weights of the cross-entropy (DRW), or None.
        s: the logit scale, ``> 0``.
    """

    def __init__(
        self,
        cls_num_list: Sequence[int] | np.ndarray | Tensor,
        max_m: float = 0.5,
        weight: Tensor | None = None,
        s: float = 30,
    ) -> None:
        super().__init__()
        if isinstance(s, bool) or not isinstance(s, (int, float)) or not s > 0:
            raise PeerAssertionError(f"s should be > 0, but got s={s!r}")
        self.m_list = F.ldam_margins(cls_num_list, max_m).float()
        self.cls_num_list = cls_num_list
        self.max_m = float(max_m)
        self.s = s
        self.weight = weight

    def forward(self, x: Tensor, target: Tensor) -> Tensor:
        return F.ldam_loss(
            x,
            target,
            self.cls_num_list,
            max_margin=self.max_m,
            scale=float(self.s),
            weight=self.weight,
        )


class FocalLoss(nn.Module):
    """The official LDAM-DRW ``FocalLoss``: ``mean((1 − e^{−ℓ})^γ ℓ)`` over the weighted
    per-sample cross-entropy ``ℓ``.

    Args:
        weight: per-class weights inside the cross-entropy, or None.
        gamma: the focusing exponent, ``>= 0`` (0: cross-entropy).
    """

    def __init__(self, weight: Tensor | None = None, gamma: float = 0.0) -> None:
        super().__init__()
        if isinstance(gamma, bool) or not isinstance(gamma, (int, float)) or not gamma >= 0:
            raise PeerAssertionError(f"gamma should be >= 0, but got gamma={gamma!r}")
        self.gamma = gamma
        self.weight = weight

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.focal_loss(input, target, gamma=float(self.gamma), weight=self.weight)
