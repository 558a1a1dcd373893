"""The autograd Functions and custom ops of the loss kernels, kept importable under their old
name: they live in :mod:`longtail.losses._ops` (imported here, not copied, so each custom op is
registered once and patching a Function here patches the one the losses call)."""

from longtail.losses._ops import (
    GroupSoftmaxFn,
    SeesawLossFn,
    SigmoidLossFn,
    SoftmaxLossFn,
    group_softmax_loss,
    group_softmax_loss_op,
    seesaw_loss,
    seesaw_loss_op,
    sigmoid_loss,
    sigmoid_loss_op,
    softmax_loss,
    softmax_loss_op,
)

__all__ = [
    "GroupSoftmaxFn",
    "SeesawLossFn",
    "SigmoidLossFn",
    "SoftmaxLossFn",
    "group_softmax_loss",
    "group_softmax_loss_op",
    "seesaw_loss",
    "seesaw_loss_op",
    "sigmoid_loss",
    "sigmoid_loss_op",
    "softmax_loss",
    "softmax_loss_op",
]
