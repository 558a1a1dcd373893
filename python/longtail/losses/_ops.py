"""``torch.autograd.Function``s and ``torch.library`` custom ops over the Rust kernels.

The kernels return the loss together with its gradient (one fused pass), so backward only
scales the saved gradient by the incoming one. Eager calls go through the autograd Functions
(lowest overhead); under ``torch.compile`` the same kernels run as custom ops with fake
implementations, so graphs trace with ``fullgraph=True``.
"""

# No `from __future__ import annotations`: torch 2.4's custom-op schema inference reads the
# annotations as objects, and only knows `typing.Optional` (not `X | None`).

import inspect
import typing
from typing import Any, List, Optional, Tuple

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from longtail import _kernels


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
    if owned and grad_loss.is_cpu and grad_loss.item() == 1.0:
        return grad
    return grad * grad_loss


def _schema_type(hint):
    """``X | None`` as ``typing.Optional[X]`` and ``list[X]`` as ``typing.List[X]``: torch
    2.4's schema inference reads only those."""
    if typing.get_origin(hint) is list:
        (inner,) = typing.get_args(hint)
        return List[_schema_type(inner)]
    args = typing.get_args(hint)
    if type(None) in args:
        (inner,) = (a for a in args if a is not type(None))
        return Optional[inner]
    return hint


def _custom_op_signature(call: Any, returns: Any = Tuple[Tensor, Tensor]) -> inspect.Signature:
    """``(input, *fields of call) -> returns``: a kernel's custom-op schema, from its one
    declaration."""
    hints = typing.get_type_hints(call)
    kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
    params = [inspect.Parameter("input", kind, annotation=Tensor)]
    params += [
        inspect.Parameter(name, kind, annotation=_schema_type(hints[name])) for name in call._fields
    ]
    return inspect.Signature(params, return_annotation=returns)


def _kernel_op(name: str, call: Any, run: Any, returns: Any) -> Any:
    """The custom op ``longtail::<name>``: ``run(input, call(*fields))``, its schema generated
    from the declaration of ``call`` (one of the ``_kernels.*Call`` NamedTuples)."""

    def impl(input: Tensor, *fields):
        return run(input, call(*fields))

    impl.__signature__ = _custom_op_signature(call, returns)  # type: ignore[attr-defined]
    return torch.library.custom_op(f"longtail::{name}", mutates_args=())(impl)


def _without_double_backward(backward):
    """``once_differentiable`` only where it is needed: with ``create_graph=True`` (grad mode on
    in backward) a second derivative through the saved gradient would be silently wrong, so it
    raises; the plain ``loss.backward()`` skips the wrapper's cost."""
    guarded = once_differentiable(backward)

    def dispatch(ctx, *grads):
        return guarded(ctx, *grads) if torch.is_grad_enabled() else backward(ctx, *grads)

    return dispatch


def _softmax_backward(ctx, grad_loss: Tensor | None):
    grad, owned = _take_grad(ctx)
    return _scale_saved_grad(grad, grad_loss, ctx.reduction, owned=owned), None, None


class SoftmaxLossFn(torch.autograd.Function):
    """Softmax-family loss (see ``longtail.functional``); differentiable in ``input`` only.

    ``apply(input, call, checked)`` with ``call`` a :class:`~longtail._kernels.SoftmaxLossCall`
    and ``checked`` as in :func:`~longtail._kernels.run_softmax_loss`: one tensor argument and
    one output (the gradient stays on ``ctx``), since each argument and output of ``apply``
    costs autograd bookkeeping on every call. ``forward`` takes ``ctx`` (the classic form): the
    ``setup_context`` form binds every ``apply`` through ``inspect.signature``, which costs more
    than the kernel on small batches."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx, input: Tensor, call: _kernels.SoftmaxLossCall, checked: bool
    ) -> Tensor:
        loss, grad = _kernels.run_softmax_loss(input, call, checked)
        _keep_grad(ctx, grad)
        ctx.reduction = call.reduction
        return loss

    backward = staticmethod(_without_double_backward(_softmax_backward))


def _softmax_op_impl(input: Tensor, *fields) -> Tuple[Tensor, Tensor]:
    return _kernels.run_softmax_loss(input, _kernels.SoftmaxLossCall(*fields))


_softmax_op_impl.__signature__ = _custom_op_signature(_kernels.SoftmaxLossCall)  # type: ignore[attr-defined]
softmax_loss_op = torch.library.custom_op("longtail::softmax_loss", mutates_args=())(
    _softmax_op_impl
)


@softmax_loss_op.register_fake
def _(input, target, *fields):
    call = _kernels.SoftmaxLossCall(target, *fields)
    loss_shape = target.shape if call.reduction == "none" else ()
    return input.new_empty(loss_shape), input.new_empty(input.shape)


def _softmax_op_setup(ctx, inputs, output) -> None:
    ctx.save_for_backward(output[1])
    ctx.reduction = _kernels.SoftmaxLossCall(*inputs[1:]).reduction


def _softmax_op_backward(ctx, grad_loss, _grad_grad):
    (grad,) = ctx.saved_tensors
    none = (None,) * len(_kernels.SoftmaxLossCall._fields)
    return (_scale_saved_grad(grad, grad_loss, ctx.reduction), *none)


softmax_loss_op.register_autograd(_softmax_op_backward, setup_context=_softmax_op_setup)


def softmax_loss(input: Tensor, target: Tensor, **arguments) -> Tensor:
    """Runs the fused softmax-family kernel; the keyword arguments are the fields of
    :class:`~longtail._kernels.SoftmaxLossCall`."""
    return run_softmax_loss(input, _kernels.SoftmaxLossCall(target, **arguments))


def run_softmax_loss(input: Tensor, call: _kernels.SoftmaxLossCall, checked: bool = False):
    """:func:`softmax_loss` for an assembled call (``checked`` as in
    :func:`longtail._kernels.run_softmax_loss`): the autograd Function in eager code, the custom
    op (which checks everything) under ``torch.compile``."""
    if torch.compiler.is_compiling():
        return softmax_loss_op(input, *call)[0]
    return SoftmaxLossFn.apply(input, call, checked)


# ---------------------------------------------------------------------------------------------
# Sigmoid and detection losses. Same pattern as above: an autograd Function for eager
# calls and a custom op (with a fake implementation) under torch.compile. The ops never mutate
# state: stateful losses (Seesaw, EQLv2) pass the per-class quantities they derive from their
# buffers as inputs, and update the buffers with plain torch ops outside the op.
# ---------------------------------------------------------------------------------------------


def _keep_grad(ctx, grad: Tensor) -> None:
    """Keeps the kernel's gradient on ``ctx`` (see :func:`_take_grad`). Also turns off the
    materialisation of zero gradients for outputs nobody differentiates: the ``(N, C)``
    gradient output would otherwise get an ``(N, C)`` zeros tensor in every backward."""
    ctx.grad = grad
    ctx.set_materialize_grads(False)


def _take_grad(ctx) -> tuple[Tensor, bool]:
    """The kernel's gradient, handed over rather than shared when the graph is not retained.

    Saved with ``save_for_backward``, the buffer would still be referenced when autograd
    accumulates it into ``input.grad``, which then copies it: one more ``(N, C)`` buffer and
    pass. Dropping our reference first lets autograd adopt it. With ``retain_graph=True`` the
    reference is kept, so a second backward still works. Returns the gradient and whether the
    caller now owns it (may hand it on without copying)."""
    grad = ctx.grad
    if grad is None:
        raise RuntimeError(
            "Trying to backward through the graph a second time; specify retain_graph=True "
            "if you need to backward through it again"
        )
    try:
        keep = torch._C._autograd._get_current_graph_task_keep_graph()
    except AttributeError:  # pragma: no cover - the private accessor moved
        keep = True
    if not keep:
        ctx.grad = None
    return grad, not keep


def _scale_elementwise_grad(
    grad: Tensor, grad_loss: Tensor, reduction: str, owned: bool = False
) -> Tensor | None:
    """The chain rule for a loss whose ``"none"`` output has one entry per element of input."""
    if reduction == "none":
        return grad * grad_loss
    return _scale_saved_grad(grad, grad_loss, reduction, owned=owned)


class SigmoidLossFn(torch.autograd.Function):
    """Sigmoid-family loss (see ``longtail.functional``); differentiable in ``input`` only.

    ``apply(input, call)`` with ``call`` a :class:`~longtail._kernels.SigmoidLossCall` (one
    tensor argument, as :class:`SoftmaxLossFn`); returns ``(loss, grad, stats)``, the last two
    non-differentiable."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx, input: Tensor, call: _kernels.SigmoidLossCall
    ) -> tuple[Tensor, Tensor, Tensor]:
        output = _kernels.run_sigmoid_loss(input, call)
        _, grad, stats = output
        ctx.mark_non_differentiable(grad, stats)
        _keep_grad(ctx, grad)
        ctx.reduction = call.reduction
        return output

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_loss: Tensor, _g: Tensor | None, _s: Tensor | None):  # type: ignore[override]
        grad, owned = _take_grad(ctx)
        if grad_loss is None:  # the loss was not differentiated (grads are not materialised)
            return None, None
        return _scale_elementwise_grad(grad, grad_loss, ctx.reduction, owned), None


sigmoid_loss_op = _kernel_op(
    "sigmoid_loss",
    _kernels.SigmoidLossCall,
    _kernels.run_sigmoid_loss,
    Tuple[Tensor, Tensor, Tensor],
)


@sigmoid_loss_op.register_fake
def _(input, *fields):
    call = _kernels.SigmoidLossCall(*fields)
    loss_shape = input.shape if call.reduction == "none" else ()
    stats_shape = (2, input.shape[-1]) if call.collect_stats else (0,)
    return input.new_empty(loss_shape), input.new_empty(input.shape), input.new_empty(stats_shape)


def _sigmoid_op_setup(ctx, inputs, output) -> None:
    ctx.save_for_backward(output[1])


def _sigmoid_op_backward(ctx, grad_loss, _grad_grad, _grad_stats):
    # Traced code: no host read of grad_loss (the eager shortcut), just the chain rule, which
    # is elementwise for "none" and a scalar broadcast otherwise.
    (grad,) = ctx.saved_tensors
    none = (None,) * len(_kernels.SigmoidLossCall._fields)
    return (grad * grad_loss, *none)


sigmoid_loss_op.register_autograd(_sigmoid_op_backward, setup_context=_sigmoid_op_setup)


def sigmoid_loss(
    input: Tensor,
    target: Tensor,
    *,
    weight: Tensor | None = None,
    label_weight: Tensor | None = None,
    pos_weight: Tensor | None = None,
    neg_weight: Tensor | None = None,
    num_labels: int | None = None,
    gamma: float = 0.0,
    alpha: float | None = None,
    neg_weight_fg_only: bool = False,
    ignore_index: int = -100,
    reduction: str = "mean",
    normalization: str = "elements",
    avg_factor: float | None = None,
    collect_stats: bool = False,
    backend: str = "auto",
) -> tuple[Tensor, Tensor]:
    """Runs the fused sigmoid-family kernel (arguments already validated); returns
    ``(loss, stats)``, ``stats`` the ``(2, C)`` gradient statistics or an empty tensor. The
    scalars are converted to the types of the op's schema."""
    call = _kernels.SigmoidLossCall(
        target,
        weight=weight,
        label_weight=label_weight,
        pos_weight=pos_weight,
        neg_weight=neg_weight,
        num_labels=num_labels,
        gamma=float(gamma),
        alpha=None if alpha is None else float(alpha),
        neg_weight_fg_only=bool(neg_weight_fg_only),
        ignore_index=int(ignore_index),
        reduction=reduction,
        normalization=normalization,
        avg_factor=avg_factor,
        collect_stats=bool(collect_stats),
        backend=backend,
    )
    if torch.compiler.is_compiling():
        loss, _, stats = sigmoid_loss_op(input, *call)
    else:
        loss, _, stats = SigmoidLossFn.apply(input, call)
    return loss, stats


def _scale_seesaw_grad(
    grad: Tensor,
    g_cls: Tensor | None,
    g_obj: Tensor | None,
    reduction: str,
    split: int | None,
    owned: bool,
) -> Tensor:
    """Chain rule for the two Seesaw terms; ``split`` is the first objectness column (or None
    outside the objectness form). A term that was not differentiated has no gradient."""
    if g_cls is None or g_obj is None:
        shape = (grad.shape[0],) if reduction == "none" else ()
        zero = grad.new_zeros(shape)
        g_cls = zero if g_cls is None else g_cls
        g_obj = zero if g_obj is None else g_obj
    if reduction == "none":
        g_cls = g_cls.unsqueeze(1)
        g_obj = g_obj.unsqueeze(1)
    elif (
        owned
        and g_cls.device.type == "cpu"
        and g_cls.item() == 1.0
        and (split is None or g_obj.item() == 1.0)
    ):
        # backward() of the loss itself (or of the sum of both terms): no extra pass.
        return grad
    if split is None:
        return grad * g_cls
    return torch.cat([grad[:, :split] * g_cls, grad[:, split:] * g_obj], dim=1)


class SeesawLossFn(torch.autograd.Function):
    """Seesaw loss (see ``longtail.functional``); differentiable in ``input`` only.

    ``apply(input, call)`` with ``call`` a :class:`~longtail._kernels.SeesawLossCall`; returns
    ``(loss_classes, loss_objectness, grad)``, the gradient non-differentiable."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx, input: Tensor, call: _kernels.SeesawLossCall
    ) -> tuple[Tensor, Tensor, Tensor]:
        output = _kernels.run_seesaw_loss(input, call)
        grad = output[2]
        ctx.mark_non_differentiable(grad)
        _keep_grad(ctx, grad)
        ctx.reduction = call.reduction
        ctx.split = call.num_classes if call.mode == "objectness" else None
        return output

    @staticmethod
    @once_differentiable
    def backward(ctx, g_cls: Tensor, g_obj: Tensor, _g: Tensor | None):  # type: ignore[override]
        grad, owned = _take_grad(ctx)
        if g_cls is None and g_obj is None:
            return None, None
        return _scale_seesaw_grad(grad, g_cls, g_obj, ctx.reduction, ctx.split, owned), None


seesaw_loss_op = _kernel_op(
    "seesaw_loss",
    _kernels.SeesawLossCall,
    _kernels.run_seesaw_loss,
    Tuple[Tensor, Tensor, Tensor],
)


@seesaw_loss_op.register_fake
def _(input, target, *fields):
    call = _kernels.SeesawLossCall(target, *fields)
    shape = target.shape if call.reduction == "none" else ()
    return input.new_empty(shape), input.new_empty(shape), input.new_empty(input.shape)


def _seesaw_op_setup(ctx, inputs, output) -> None:
    ctx.save_for_backward(output[2])
    call = _kernels.SeesawLossCall(*inputs[1:])
    ctx.reduction = call.reduction
    ctx.split = call.num_classes if call.mode == "objectness" else None


def _seesaw_op_backward(ctx, g_cls, g_obj, _g):
    (grad,) = ctx.saved_tensors
    none = (None,) * len(_kernels.SeesawLossCall._fields)
    return (_scale_seesaw_grad(grad, g_cls, g_obj, ctx.reduction, ctx.split, False), *none)


seesaw_loss_op.register_autograd(_seesaw_op_backward, setup_context=_seesaw_op_setup)


def seesaw_loss(
    input: Tensor,
    target: Tensor,
    *,
    num_classes: int,
    mode: str = "classification",
    counts: Tensor | None = None,
    factors: Tensor | None = None,
    weight: Tensor | None = None,
    p: float = 0.8,
    q: float = 2.0,
    eps: float = 1e-2,
    ignore_index: int = -100,
    reduction: str = "mean",
    avg_factor: float | None = None,
    backend: str = "auto",
) -> tuple[Tensor, Tensor]:
    """Runs the fused Seesaw kernel (arguments already validated); returns
    ``(loss_classes, loss_objectness)``. The scalars are converted to the types of the op's
    schema."""
    call = _kernels.SeesawLossCall(
        target,
        num_classes=int(num_classes),
        mode=mode,
        counts=counts,
        factors=factors,
        weight=weight,
        p=float(p),
        q=float(q),
        eps=float(eps),
        ignore_index=int(ignore_index),
        reduction=reduction,
        avg_factor=avg_factor,
        backend=backend,
    )
    if torch.compiler.is_compiling():
        cls, obj, _ = seesaw_loss_op(input, *call)
    else:
        cls, obj, _ = SeesawLossFn.apply(input, call)
    return cls, obj


class GroupSoftmaxFn(torch.autograd.Function):
    """Group softmax (BAGS) over consecutive column groups; differentiable in ``input`` only.

    ``apply(input, call)`` with ``call`` a :class:`~longtail._kernels.GroupSoftmaxCall`;
    returns ``(loss, grad)``, the gradient non-differentiable."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx, input: Tensor, call: _kernels.GroupSoftmaxCall
    ) -> tuple[Tensor, Tensor]:
        output = _kernels.run_group_softmax_loss(input, call)
        _, grad = output
        ctx.mark_non_differentiable(grad)
        _keep_grad(ctx, grad)
        ctx.reduction = call.reduction
        return output

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_loss: Tensor, _unused: Tensor | None):  # type: ignore[override]
        grad, owned = _take_grad(ctx)
        if grad_loss is None:
            return None, None
        return _scale_saved_grad(grad, grad_loss, ctx.reduction, owned=owned), None


group_softmax_loss_op = _kernel_op(
    "group_softmax_loss",
    _kernels.GroupSoftmaxCall,
    _kernels.run_group_softmax_loss,
    Tuple[Tensor, Tensor],
)


@group_softmax_loss_op.register_fake
def _(input, *fields):
    call = _kernels.GroupSoftmaxCall(*fields)
    shape = (input.shape[0],) if call.reduction == "none" else ()
    return input.new_empty(shape), input.new_empty(input.shape)


def _group_op_setup(ctx, inputs, output) -> None:
    ctx.save_for_backward(output[1])
    ctx.reduction = _kernels.GroupSoftmaxCall(*inputs[1:]).reduction


def _group_op_backward(ctx, grad_loss, _grad_grad):
    (grad,) = ctx.saved_tensors
    g = grad_loss.unsqueeze(1) if ctx.reduction == "none" else grad_loss
    none = (None,) * len(_kernels.GroupSoftmaxCall._fields)
    return (grad * g, *none)


group_softmax_loss_op.register_autograd(_group_op_backward, setup_context=_group_op_setup)


def group_softmax_loss(
    input: Tensor,
    targets: Tensor,
    weights: Tensor,
    offsets: list[int],
    *,
    reduction: str = "mean",
    backend: str = "auto",
) -> Tensor:
    """Runs the fused group-softmax kernel (arguments already validated)."""
    call = _kernels.GroupSoftmaxCall(
        targets, weights, [int(o) for o in offsets], reduction=reduction, backend=backend
    )
    if torch.compiler.is_compiling():
        loss, _ = group_softmax_loss_op(input, *call)
    else:
        loss, _ = GroupSoftmaxFn.apply(input, call)
    return loss
