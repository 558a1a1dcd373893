"""Functional forms of longtail's losses (``Module`` versions are in :mod:`longtail.losses`).

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

The code lives by family in :mod:`longtail.losses` (``softmax``, ``sigmoid``, ``seesaw``,
``group_softmax``); this module is the functional face of it.
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
