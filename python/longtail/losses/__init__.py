"""``nn.Module`` losses for long-tailed recognition. Each Module keeps its per-class
quantities (class counts and what is derived from them) as buffers, so they follow
``.to(device)`` and ``state_dict()``, and its ``forward`` is one call into
:mod:`longtail.functional`, where the math is documented.

The code is organised by family: :mod:`longtail.losses.softmax` (weighted CE, focal,
class-balanced, LDAM, logit adjustment, Balanced Softmax, softmax EQL),
:mod:`longtail.losses.sigmoid` (sigmoid focal, EQL, EQLv2), :mod:`longtail.losses.seesaw` and
:mod:`longtail.losses.group_softmax` (BAGS); each holds its functional forms and Modules
together. This module and :mod:`longtail.functional` are the public faces."""

from longtail.losses.group_softmax import GroupSoftmaxLoss
from longtail.losses.seesaw import SeesawLoss
from longtail.losses.sigmoid import EQLv2Loss, EqualizationLoss, SigmoidFocalLoss
from longtail.losses.softmax import (
    BalancedSoftmaxLoss,
    ClassBalancedLoss,
    FocalLoss,
    LDAMLoss,
    LogitAdjustedLoss,
    SoftmaxEqualizationLoss,
    WeightedCrossEntropyLoss,
)

__all__ = [
    "BalancedSoftmaxLoss",
    "ClassBalancedLoss",
    "EQLv2Loss",
    "EqualizationLoss",
    "FocalLoss",
    "GroupSoftmaxLoss",
    "LDAMLoss",
    "LogitAdjustedLoss",
    "SeesawLoss",
    "SigmoidFocalLoss",
    "SoftmaxEqualizationLoss",
    "WeightedCrossEntropyLoss",
]
