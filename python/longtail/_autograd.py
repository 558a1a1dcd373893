"""``torch.autograd.Function``s and ``torch.library`` custom ops over the Rust kernels.

The kernels return the loss together with its gradient (one fused pass), so backward only
scales the saved gradient by the incoming one. Eager calls go through the autograd Functions
(lowest overhead); under ``torch.compile`` the same kernels run as custom ops with fake
implementations, so graphs trace with ``fullgraph=True``.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from longtail import _core


def _scale_saved_grad(
    grad: Tensor, grad_loss: Tensor | None, reduction: str, owned: bool = False
) -> Tensor | None:
    """The chain rule for a loss whose gradient was computed in forward. With ``owned`` (eager
    only: the caller gives up ``grad``), ``loss.backward()`` returns ``grad`` itself: no pass."""
    if grad_loss is None:  # the loss itself received no gradient
        return None
    if reduction == "none":
        # grad_loss has the target's shape (N, d...); the class axis is dim 1 of grad.
        return grad * grad_loss.unsqueeze(1)
    if owned and grad_loss.device.type == "cpu" and grad_loss.item() == 1.0:
        return grad
    return grad * grad_loss


class SoftmaxLossFn(torch.autograd.Function):
    """Softmax-family loss (see ``longtail.functional``); differentiable in ``input`` only.

    ``forward`` takes ``ctx`` (the classic form): the ``setup_context`` form makes every
    ``apply`` bind its arguments through ``inspect.signature``, which costs more than the
    kernel on small batches."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx,
        input: Tensor,
        target: Tensor,
        offsets: Tensor | None,
        margins: Tensor | None,
        weight: Tensor | None,
        alpha: Tensor | None,
        scale: float,
        gamma: float,
        label_smoothing: float,
        ignore_index: int,
        reduction: str,
        normalization: str,
        avg_factor: float | None,
        backend: str,
    ) -> tuple[Tensor, Tensor]:
        loss, grad = _core.softmax_loss(
            input,
            target,
            offsets=offsets,
            margins=margins,
            scale=scale,
            weight=weight,
            alpha=alpha,
            gamma=gamma,
            label_smoothing=label_smoothing,
            ignore_index=ignore_index,
            reduction=reduction,
            normalization=normalization,
            avg_factor=avg_factor,
            backend=backend,
        )
        ctx.mark_non_differentiable(grad)
        # The second output never gets a gradient; without this autograd would allocate an
        # (N, C) buffer of zeros for it in every backward.
        ctx.set_materialize_grads(False)
        # The gradient is handed over (not copied) by the first backward; the inputs are kept
        # so that a second backward (retain_graph=True) can recompute it.
        ctx.save_for_backward(input, target, offsets, margins, weight, alpha)
        ctx.grad = grad
        ctx.options = (
            scale,
            gamma,
            label_smoothing,
            ignore_index,
            reduction,
            normalization,
            avg_factor,
            backend,
        )
        return loss, grad

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_loss: Tensor, _unused: Tensor | None):  # type: ignore[override]
        grad, ctx.grad = ctx.grad, None
        options = ctx.options
        if grad is None:
            input, target, offsets, margins, weight, alpha = ctx.saved_tensors
            _, grad = _core.softmax_loss(
                input,
                target,
                offsets=offsets,
                margins=margins,
                scale=options[0],
                weight=weight,
                alpha=alpha,
                gamma=options[1],
                label_smoothing=options[2],
                ignore_index=options[3],
                reduction=options[4],
                normalization=options[5],
                avg_factor=options[6],
                backend=options[7],
            )
        return (_scale_saved_grad(grad, grad_loss, options[4], owned=True),) + (None,) * 13


@torch.library.custom_op("longtail::softmax_loss", mutates_args=())
def softmax_loss_op(
    input: Tensor,
    target: Tensor,
    offsets: Tensor | None,
    margins: Tensor | None,
    weight: Tensor | None,
    alpha: Tensor | None,
    scale: float,
    gamma: float,
    label_smoothing: float,
    ignore_index: int,
    reduction: str,
    normalization: str,
    avg_factor: float | None,
) -> tuple[Tensor, Tensor]:
    return _core.softmax_loss(
        input,
        target,
        offsets=offsets,
        margins=margins,
        scale=scale,
        weight=weight,
        alpha=alpha,
        gamma=gamma,
        label_smoothing=label_smoothing,
        ignore_index=ignore_index,
        reduction=reduction,
        normalization=normalization,
        avg_factor=avg_factor,
    )


@softmax_loss_op.register_fake
def _(
    input,
    target,
    offsets,
    margins,
    weight,
    alpha,
    scale,
    gamma,
    label_smoothing,
    ignore_index,
    reduction,
    normalization,
    avg_factor,
):
    loss_shape = target.shape if reduction == "none" else ()
    return input.new_empty(loss_shape), input.new_empty(input.shape)


def _softmax_op_setup(ctx, inputs, output) -> None:
    ctx.save_for_backward(output[1])
    ctx.reduction = inputs[10]


def _softmax_op_backward(ctx, grad_loss, _grad_grad):
    (grad,) = ctx.saved_tensors
    return (_scale_saved_grad(grad, grad_loss, ctx.reduction),) + (None,) * 12


softmax_loss_op.register_autograd(_softmax_op_backward, setup_context=_softmax_op_setup)


def softmax_loss(
    input: Tensor,
    target: Tensor,
    *,
    offsets: Tensor | None = None,
    margins: Tensor | None = None,
    weight: Tensor | None = None,
    alpha: Tensor | None = None,
    scale: float = 1.0,
    gamma: float = 0.0,
    label_smoothing: float = 0.0,
    ignore_index: int = -100,
    reduction: str = "mean",
    normalization: str = "weight",
    avg_factor: float | None = None,
    backend: str = "auto",
) -> Tensor:
    """Runs the fused softmax-family kernel (arguments already validated)."""
    args = (
        input,
        target,
        offsets,
        margins,
        weight,
        alpha,
        float(scale),
        float(gamma),
        float(label_smoothing),
        int(ignore_index),
        reduction,
        normalization,
        avg_factor,
    )
    if torch.compiler.is_compiling():
        loss, _ = softmax_loss_op(*args)
    else:
        loss, _ = SoftmaxLossFn.apply(*args, backend)
    return loss
