"""Functional forms of longtail's losses (``Module`` versions are in :mod:`longtail.losses`).

The code lives by family in :mod:`longtail.losses` (``softmax``, ``sigmoid``, ``seesaw``,
``group_softmax``); this module is the functional face of it. The conventions shared with
:func:`torch.nn.functional.cross_entropy` (shapes, ``reduction``, ``ignore_index``,
``label_smoothing``, the weighted mean) are set out in :mod:`longtail.losses.softmax`.
"""

from longtail.losses._common import (
    _check_avg_factor,
    _check_sample_weight,
    _frequency_dtype,
)
from longtail.losses.group_softmax import (
    _bags_keep,
    _check_bin_split,
    _group_softmax,
    bags_layout,
    group_softmax_inference,
    group_softmax_loss,
)
from longtail.losses.seesaw import (
    _check_seesaw_input,
    _check_seesaw_mode,
    _label_counts,
    _seesaw,
    seesaw_loss,
)
from longtail.losses.sigmoid import (
    _check_eqlv2_alpha,
    _check_eqlv2_input,
    _eqlv2,
    eqlv2_loss,
    eqlv2_weights,
    equalization_loss,
    sigmoid_focal_loss,
)
from longtail.losses.softmax import (
    _check_loss_type,
    _check_normalization,
    _class_balanced_sigmoid,
    _num_classes_match,
    _run,
    _weighting,
    balanced_softmax_loss,
    check_ldam_scale,
    class_balanced_loss,
    focal_loss,
    ldam_loss,
    ldam_margins,
    logit_adjust,
    logit_adjusted_loss,
    logit_adjustments,
    softmax_equalization_loss,
    weighted_cross_entropy,
)

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
