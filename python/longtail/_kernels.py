"""Runs each fused loss on the path that fits its tensors, with one set of checks for all paths.

- ``"kernel"``: CPU tensors go to the Rust kernels of ``longtail._core``, which read and write
  the tensors' own memory through NumPy views (``Tensor.numpy()`` shares it; no copy for
  contiguous float32/float64 inputs). The outputs are allocated here by torch, so autograd can
  adopt the gradient as ``.grad`` without a copy.
- ``"tch"``: the CUDA accelerator (``longtail_tch``, libtorch ops), where it is installed and
  built for the installed torch (see ``longtail._accelerator``).
- ``"torch"``: the same formulas as torch ops (``longtail._fallback``), on any device.

``backend="auto"`` picks the kernel for CPU tensors, else the accelerator if loaded, else the
torch ops. Every function returns what its kernel computes: the loss and its gradient with
respect to ``input`` (of each loss element for ``reduction="none"``). Arguments above the
kernel contract (per-class counts, hyper-parameter domains) are checked by the callers.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from types import ModuleType
from typing import NamedTuple

import torch
from torch import Tensor

from longtail import _accelerator, _core, _fallback
from longtail.exceptions import DTypeError, InvalidArgumentError, ShapeError

_FLOATS = (torch.float32, torch.float64)
_LABELS = (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8)
_REDUCTIONS = ("none", "mean", "sum")
_SEESAW_MODES = ("classification", "background", "objectness")


def _path(backend: str, input: Tensor) -> str:
    """``"kernel"``, ``"tch"`` or ``"torch"`` for this call."""
    cpu = input.device.type == "cpu"
    if backend == "auto":
        if cpu:
            return "kernel"
        return "tch" if input.device.type == "cuda" and _accelerator.module() else "torch"
    if backend == "kernel" and cpu:
        return "kernel"
    if backend == "torch":
        return "torch"
    if backend == "tch":
        if _accelerator.module() is None:
            raise InvalidArgumentError(
                f"backend='tch' needs the CUDA accelerator, which is {_accelerator.status()[1]}"
            )
        return "tch"
    raise InvalidArgumentError(
        "backend should be 'auto', 'tch', 'torch' or (for CPU tensors) 'kernel', but got "
        f"backend={backend!r}"
    )


def _tch() -> ModuleType:
    """The accelerator's native module, for a call whose path :func:`_path` made ``"tch"``."""
    module = _accelerator.module()
    assert module is not None, "the tch path is only taken where the accelerator is loaded"
    return module


def _check_input(input: Tensor) -> None:
    if input.dtype is not torch.float32 and input.dtype is not torch.float64:
        raise DTypeError(
            f"input should be a float32 or float64 tensor, but got input of dtype {input.dtype}"
        )


def _check_labels(name: str, target: Tensor, input: Tensor) -> Tensor:
    """Integer labels on input's device, as int64 (any integer dtype is accepted)."""
    if target.dtype not in _LABELS:
        raise DTypeError(
            f"{name} should be a tensor of integer class indices, but got {name} of dtype "
            f"{target.dtype}"
        )
    if target.device != input.device:
        raise ValueError(
            f"{name} should be on input's device {input.device}, but got {name} on {target.device}"
        )
    return target if target.dtype == torch.int64 else target.long()


def _check_choice(name: str, value: str, choices: Sequence[str]) -> None:
    if value not in choices:
        raise InvalidArgumentError(
            f"{name} should be one of {', '.join(map(repr, choices))}, but got {name}={value!r}"
        )


def _like(
    name: str,
    t: Tensor | None,
    input: Tensor,
    shape: tuple[int, ...],
    what: str,
    dtype: torch.dtype | None = None,
):
    """An optional parameter as a contiguous tensor of input's device and dtype (or ``dtype``),
    of ``shape``."""
    if t is None:
        return None
    if tuple(t.shape) != shape:
        dims = ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "")
        raise ShapeError(
            f"{name} should have shape ({dims}), one entry per {what}, but got {name} of shape "
            f"{tuple(t.shape)}"
        )
    dtype = input.dtype if dtype is None else dtype
    if t.dtype != dtype or t.device != input.device:
        t = t.to(device=input.device, dtype=dtype)
    return t.contiguous()


def _device_check_labels(valid: Tensor) -> None:
    """Labels out of range on a device: a device-side assert, as ``F.cross_entropy`` does on
    CUDA, instead of a host read (which would sync with the device on every call)."""
    torch._assert_async(valid.all())


def _check_label_range(path: str, labels: Tensor, high: int, ignore_index: int | None):
    """Labels of the tch path on a device: the tch code checks host tensors itself (as the
    kernel and the fallback do), and skips the check on CUDA, where it would sync."""
    if path == "tch" and labels.device.type != "cpu" and labels.numel():
        ok = (labels >= 0) & (labels < high)
        if ignore_index is not None:
            ok |= labels == ignore_index
        _device_check_labels(ok)


def _np(t: Tensor | None):
    return None if t is None else t.numpy()


def _loss_buffer(input: Tensor, shape: Sequence[int]) -> Tensor:
    return torch.empty(tuple(shape), dtype=input.dtype)


# -- softmax family ---------------------------------------------------------------------------


class SoftmaxLossCall(NamedTuple):
    """Every argument of the softmax-family kernel but ``input``, declared once: the autograd
    Function carries it whole, and the custom op takes its fields in this order."""

    target: Tensor
    offsets: Tensor | None = None
    margins: Tensor | None = None
    weight: Tensor | None = None
    alpha: Tensor | None = None
    scale: float = 1.0
    gamma: float = 0.0
    label_smoothing: float = 0.0
    ignore_index: int = -100
    reduction: str = "mean"
    normalization: str = "weight"
    avg_factor: float | None = None
    backend: str = "auto"


def softmax_loss(input: Tensor, target: Tensor, **arguments) -> tuple[Tensor, Tensor]:
    """Cross-entropy over ``scale·(input − m_y·onehot) + offsets`` with class weights, α and a
    focal factor, for ``(N, C, d1, ...)`` logits: ``(loss, grad)``. The keyword arguments are
    the fields of :class:`SoftmaxLossCall`."""
    return run_softmax_loss(input, SoftmaxLossCall(target, **arguments))


def run_softmax_loss(
    input: Tensor, call: SoftmaxLossCall, checked: bool = False
) -> tuple[Tensor, Tensor]:
    """:func:`softmax_loss` for an assembled call. ``checked``: the caller (a loss of
    :mod:`longtail.losses.softmax`) has checked ``input`` and ``target`` and gives every
    per-class tensor contiguous, of shape ``(C,)``, in input's dtype and device, and every
    option valid; this layer then only picks the path (on small batches the checks cost about
    as much as the kernel, and they are done once, by the caller)."""
    if not checked:
        call = _checked_softmax_call(input, call)
    target = call.target
    if target.dtype is not torch.int64:
        target = _check_labels("target", target, input)
    if input.dtype is not torch.float32 and input.dtype is not torch.float64:
        _check_input(input)
    if input.shape[1] == 0:
        raise ShapeError("input should have at least one class, but got C = 0")
    if call.backend == "auto" and input.is_cpu:
        path = "kernel"
    else:
        path = _path(call.backend, input)
    if path == "kernel":
        x = input.detach()
        if not x.is_contiguous():
            x = x.contiguous()
        if not target.is_contiguous():
            target = target.contiguous()
        loss = x.new_empty(target.shape) if call.reduction == "none" else x.new_empty(())
        grad = torch.empty_like(x)
        _core.softmax_loss(
            x.numpy(),
            target.numpy(),
            loss.numpy(),
            grad.numpy(),
            offsets=None if call.offsets is None else call.offsets.numpy(),
            margins=None if call.margins is None else call.margins.numpy(),
            scale=call.scale,
            weight=None if call.weight is None else call.weight.numpy(),
            alpha=None if call.alpha is None else call.alpha.numpy(),
            gamma=call.gamma,
            label_smoothing=call.label_smoothing,
            ignore_index=call.ignore_index,
            reduction=call.reduction,
            normalization=call.normalization,
            avg_factor=call.avg_factor,
        )
        return loss, grad
    _check_label_range(path, target, input.shape[1], call.ignore_index)
    module = _accelerator.module() if path == "tch" else None
    run = _fallback.softmax_loss if module is None else module.softmax_loss
    options = call._asdict()
    del options["target"], options["backend"]
    return run(input.detach(), target, **options)


def _checked_softmax_call(input: Tensor, call: SoftmaxLossCall) -> SoftmaxLossCall:
    """The kernel contract of a softmax-family call, checked: the call with int64 labels, its
    per-class tensors as input's dtype and device and its numbers as Python numbers."""
    _check_input(input)
    target = _check_labels("target", call.target, input)
    shape = input.shape
    if len(shape) < 2:
        raise ShapeError(
            "input should have shape (N, C) or (N, C, d1, ...), but got input of shape "
            f"{tuple(shape)}"
        )
    c = shape[1]
    if c == 0:
        raise ShapeError("input should have at least one class, but got C = 0")
    want = (shape[0], *shape[2:])
    if target.shape != want:
        raise ShapeError(
            f"target should have shape {want} for input of shape {tuple(shape)}, but got target "
            f"of shape {tuple(target.shape)}"
        )
    _check_choice("reduction", call.reduction, _REDUCTIONS)
    _check_choice("normalization", call.normalization, ("weight", "count"))
    return call._replace(
        target=target,
        offsets=_like("offsets", call.offsets, input, (c,), "class"),
        margins=_like("margins", call.margins, input, (c,), "class"),
        weight=_like("weight", call.weight, input, (c,), "class"),
        alpha=_like("alpha", call.alpha, input, (c,), "class"),
        scale=float(call.scale),
        gamma=float(call.gamma),
        label_smoothing=float(call.label_smoothing),
        ignore_index=int(call.ignore_index),
    )


# -- sigmoid family ---------------------------------------------------------------------------


class SigmoidLossCall(NamedTuple):
    """Every argument of the sigmoid-family kernel but ``input``, declared once (see
    :class:`SoftmaxLossCall`)."""

    target: Tensor
    weight: Tensor | None = None
    label_weight: Tensor | None = None
    pos_weight: Tensor | None = None
    neg_weight: Tensor | None = None
    num_labels: int | None = None
    gamma: float = 0.0
    alpha: float | None = None
    neg_weight_fg_only: bool = False
    ignore_index: int = -100
    reduction: str = "mean"
    normalization: str = "elements"
    avg_factor: float | None = None
    collect_stats: bool = False
    backend: str = "auto"


def sigmoid_loss(input: Tensor, target: Tensor, **arguments) -> tuple[Tensor, Tensor, Tensor]:
    """Per-element sigmoid BCE with a focal factor and per-row / per-label / per-class weights,
    against ``(N,)`` labels or a float target of input's shape: ``(loss, grad, stats)``,
    ``stats`` the ``(2, C)`` per-class gradient statistics or an empty tensor. The keyword
    arguments are the fields of :class:`SigmoidLossCall`."""
    return run_sigmoid_loss(input, SigmoidLossCall(target, **arguments))


def run_sigmoid_loss(input: Tensor, call: SigmoidLossCall) -> tuple[Tensor, Tensor, Tensor]:
    """:func:`sigmoid_loss` for an assembled call."""
    _check_input(input)
    (
        target,
        weight,
        label_weight,
        pos_weight,
        neg_weight,
        num_labels,
        gamma,
        alpha,
        neg_weight_fg_only,
        ignore_index,
        reduction,
        normalization,
        avg_factor,
        collect_stats,
        backend,
    ) = call
    shape = tuple(input.shape)
    dense = target.is_floating_point()
    if dense:
        if tuple(target.shape) != shape:
            raise ShapeError(
                f"target should have the shape of input {shape} when it holds float targets, "
                f"but got target of shape {tuple(target.shape)}"
            )
        if not shape:
            raise ShapeError("input should have at least one dimension, but got a scalar")
        target = target.to(device=input.device, dtype=input.dtype)
    else:
        target = _check_labels("target", target, input)
        if len(shape) != 2 or tuple(target.shape) != (shape[0],):
            raise ShapeError(
                "input should have shape (N, C) and target shape (N,) for integer labels, but "
                f"got input of shape {shape} and target of shape {tuple(target.shape)}"
            )
    c = shape[-1]
    if c == 0:
        raise ShapeError("input should have at least one class, but got C = 0")
    rows = input.numel() // c
    labels_count = (shape[1] + 1 if num_labels is None else int(num_labels)) if not dense else 0
    _check_choice("reduction", reduction, _REDUCTIONS)
    _check_choice("normalization", normalization, ("elements", "rows"))
    weight = _like("weight", weight, input, (rows,), "sample")
    if not dense:
        label_weight = _like("label_weight", label_weight, input, (labels_count,), "label")
    elif label_weight is not None:
        label_weight = label_weight.to(input).contiguous()
    pos_weight = _like("pos_weight", pos_weight, input, (c,), "class")
    neg_weight = _like("neg_weight", neg_weight, input, (c,), "class")
    gamma = float(gamma)
    alpha = None if alpha is None else float(alpha)
    neg_weight_fg_only = bool(neg_weight_fg_only)
    ignore_index = int(ignore_index)
    collect_stats = bool(collect_stats)
    path = _path(backend, input)
    if path == "kernel":
        x = input.detach().contiguous()
        t = target.contiguous()
        loss = _loss_buffer(x, shape if reduction == "none" else ())
        grad = torch.empty_like(x)
        stats = torch.zeros(2 * c if collect_stats else 0, dtype=x.dtype)
        _core.sigmoid_loss(
            x.numpy(),
            t.numpy(),
            loss.numpy(),
            grad.numpy(),
            stats.numpy() if collect_stats else None,
            num_labels=num_labels,
            gamma=gamma,
            alpha=alpha,
            weight=_np(weight),
            label_weight=_np(label_weight),
            pos_weight=_np(pos_weight),
            neg_weight=_np(neg_weight),
            neg_weight_fg_only=neg_weight_fg_only,
            ignore_index=ignore_index,
            reduction=reduction,
            normalization=normalization,
            avg_factor=avg_factor,
        )
        return loss, grad, stats.view(2, c) if collect_stats else stats
    if not dense:
        _check_label_range(path, target, labels_count, ignore_index)
    run = _tch().sigmoid_loss if path == "tch" else _fallback.sigmoid_loss
    return run(
        input.detach(),
        target,
        num_labels=num_labels,
        gamma=gamma,
        alpha=alpha,
        weight=weight,
        label_weight=label_weight,
        pos_weight=pos_weight,
        neg_weight=neg_weight,
        neg_weight_fg_only=neg_weight_fg_only,
        ignore_index=ignore_index,
        reduction=reduction,
        normalization=normalization,
        avg_factor=avg_factor,
        collect_stats=collect_stats,
    )


# -- Seesaw (and softmax EQL) -----------------------------------------------------------------


class SeesawLossCall(NamedTuple):
    """Every argument of the Seesaw kernel but ``input``, declared once (see
    :class:`SoftmaxLossCall`)."""

    target: Tensor
    num_classes: int
    mode: str = "classification"
    counts: Tensor | None = None
    factors: Tensor | None = None
    weight: Tensor | None = None
    p: float = 0.8
    q: float = 2.0
    eps: float = 1e-2
    ignore_index: int = -100
    reduction: str = "mean"
    avg_factor: float | None = None
    backend: str = "auto"


def seesaw_loss(input: Tensor, target: Tensor, **arguments) -> tuple[Tensor, Tensor, Tensor]:
    """Seesaw loss of ``(N, K)`` logits, K by the head layout ``mode``:
    ``(loss_classes, loss_objectness, grad)``, ``grad`` the gradient of their sum. The keyword
    arguments are the fields of :class:`SeesawLossCall` (``num_classes`` required)."""
    return run_seesaw_loss(input, SeesawLossCall(target, **arguments))


def run_seesaw_loss(input: Tensor, call: SeesawLossCall) -> tuple[Tensor, Tensor, Tensor]:
    """:func:`seesaw_loss` for an assembled call."""
    _check_input(input)
    (
        target,
        num_classes,
        mode,
        counts,
        factors,
        weight,
        p,
        q,
        eps,
        ignore_index,
        reduction,
        avg_factor,
        backend,
    ) = call
    target = _check_labels("target", target, input)
    _check_choice("mode", mode, _SEESAW_MODES)
    _check_choice("reduction", reduction, _REDUCTIONS)
    c = int(num_classes)
    if c < 1:
        raise InvalidArgumentError(
            f"num_classes should be a positive integer, but got num_classes={num_classes}"
        )
    k = c + {"classification": 0, "background": 1, "objectness": 2}[mode]
    shape = tuple(input.shape)
    if len(shape) != 2 or shape[1] != k or tuple(target.shape) != (shape[0],):
        raise ShapeError(
            f"input should have shape (N, {k}) and target shape (N,) for num_classes={c} in "
            f"the {mode} mode, but got input of shape {shape} and target of shape "
            f"{tuple(target.shape)}"
        )
    n = shape[0]
    counts = _like("counts", counts, input, (c,), "class")
    factors = _like("factors", factors, input, (n, c), "row")
    weight = _like("weight", weight, input, (n,), "sample")
    p, q, eps, ignore_index = float(p), float(q), float(eps), int(ignore_index)
    path = _path(backend, input)
    if path == "kernel":
        x = input.detach().contiguous()
        objectness = mode == "objectness"
        if reduction == "none":
            loss = torch.zeros((n, 2) if objectness else (n,), dtype=x.dtype)
        else:
            loss = torch.zeros(2, dtype=x.dtype)
        grad = torch.empty_like(x)
        _core.seesaw_loss(
            x.numpy(),
            target.contiguous().numpy(),
            loss.numpy(),
            grad.numpy(),
            num_classes=c,
            mode=mode,
            counts=_np(counts),
            p=p,
            q=q,
            eps=eps,
            factors=_np(factors),
            weight=_np(weight),
            ignore_index=ignore_index,
            reduction=reduction,
            avg_factor=avg_factor,
        )
        if reduction == "none":
            if objectness:  # two outputs that alias neither each other (custom-op rule)
                return loss[:, 0].clone(), loss[:, 1].clone(), grad
            return loss, torch.zeros_like(loss), grad
        return loss[0].clone(), loss[1].clone(), grad
    num_labels = c if mode == "classification" else c + 1
    _check_label_range(path, target, num_labels, ignore_index)
    run = _tch().seesaw_loss if path == "tch" else _fallback.seesaw_loss
    return run(
        input.detach(),
        target,
        num_classes=c,
        mode=mode,
        counts=counts,
        p=p,
        q=q,
        eps=eps,
        factors=factors,
        weight=weight,
        ignore_index=ignore_index,
        reduction=reduction,
        avg_factor=avg_factor,
    )


# -- group softmax (BAGS) ---------------------------------------------------------------------


class GroupSoftmaxCall(NamedTuple):
    """Every argument of the group-softmax kernel but ``input``, declared once (see
    :class:`SoftmaxLossCall`)."""

    targets: Tensor
    weights: Tensor
    offsets: list[int]
    reduction: str = "mean"
    backend: str = "auto"


def group_softmax_loss(
    input: Tensor, targets: Tensor, weights: Tensor, offsets: Sequence[int], **arguments
) -> tuple[Tensor, Tensor]:
    """Group softmax of ``(N, K)`` logits cut into consecutive column groups at ``offsets``
    (``0 = o_0 < ... < o_G = K``), with ``(N, G)`` target positions and weights:
    ``(loss, grad)``. The keyword arguments are the fields of :class:`GroupSoftmaxCall`."""
    call = GroupSoftmaxCall(targets, weights, [int(o) for o in offsets], **arguments)
    return run_group_softmax_loss(input, call)


def run_group_softmax_loss(input: Tensor, call: GroupSoftmaxCall) -> tuple[Tensor, Tensor]:
    """:func:`group_softmax_loss` for an assembled call."""
    _check_input(input)
    targets, weights, offsets, reduction, backend = call
    targets = _check_labels("targets", targets, input)
    _check_choice("reduction", reduction, _REDUCTIONS)
    offsets = [int(o) for o in offsets]
    shape = tuple(input.shape)
    groups = len(offsets) - 1
    valid = groups >= 1 and offsets[0] == 0 and all(b > a for a, b in itertools.pairwise(offsets))
    if not valid or len(shape) != 2 or shape[1] != offsets[-1]:
        raise ShapeError(
            f"input should have shape (N, {offsets[-1] if offsets else 0}) for "
            f"offsets={offsets}, but got input of shape {shape}"
        )
    for name, t in (("targets", targets), ("weights", weights)):
        if tuple(t.shape) != (shape[0], groups):
            raise ShapeError(
                f"{name} should have shape ({shape[0]}, {groups}), but got {name} of shape "
                f"{tuple(t.shape)}"
            )
    weights = weights.to(device=input.device, dtype=input.dtype).contiguous()
    path = _path(backend, input)
    if path == "kernel":
        x = input.detach().contiguous()
        loss = _loss_buffer(x, (shape[0],) if reduction == "none" else ())
        grad = torch.empty_like(x)
        _core.group_softmax_loss(
            x.numpy(),
            targets.contiguous().numpy(),
            weights.numpy(),
            offsets,
            loss.numpy(),
            grad.numpy(),
            reduction=reduction,
        )
        return loss, grad
    if path == "tch" and targets.device.type != "cpu" and targets.numel():
        sizes = torch.tensor([b - a for a, b in itertools.pairwise(offsets)], device=input.device)
        _device_check_labels((targets >= 0) & (targets < sizes))
    run = _tch().group_softmax_loss if path == "tch" else _fallback.group_softmax_loss
    return run(input.detach(), targets, weights, offsets, reduction=reduction)
