"""Pieces shared by the loss families (:mod:`longtail.losses.softmax`, ``.sigmoid``, ``.seesaw``,
``.group_softmax``): compute-dtype, label and argument checks, the sigmoid kernel runner (the
sigmoid family and the class-balanced sigmoid types), the class-frequency checks of EQL and
softmax EQL, the state policy of the stateful Modules and the pickling of a Module's
``torch.Generator``."""

from __future__ import annotations

import weakref
from collections.abc import Callable, Hashable

import numpy as np
import torch
import torch.distributed as dist
from torch import Tensor, nn

from longtail._kernels import _like
from longtail._validation import (
    Counts,
    _check_on_device,
    as_class_counts,
    as_real_vector,
    check_avg_factor,
    check_int,
    check_logits_target,
    check_sample_weight,
)
from longtail.losses._ops import sigmoid_loss

_LOW_PRECISION = (torch.float16, torch.bfloat16)


# The largest |adjusted logit| term a float32 kernel can hold: a margin or offset times the scale
# past it overflows to inf.
_F32_MAX = torch.finfo(torch.float32).max


def _compute_dtype(input: Tensor) -> Tensor:
    return input.float() if input.dtype in _LOW_PRECISION else input


# ---------------------------------------------------------------------------------------------
# Per-class tensors, derived once per argument. On small batches checking a per-class argument
# and deriving the kernel's tensor from it (``log n``, the LDAM margins, a cast) costs as much as
# the kernel, so for a tensor argument (a Module's buffer, or the same tensor passed to a
# functional form on every step) the result is kept while that tensor lives, and used again
# while the tensor is unchanged and the input has the same compute dtype, device and C.
# ---------------------------------------------------------------------------------------------

_DERIVED: dict[tuple, tuple] = {}


def _forget(slot: tuple, ref: weakref.ref) -> None:
    entry = _DERIVED.get(slot)
    if entry is not None and entry[0] is ref:
        del _DERIVED[slot]


def kernel_per_class(
    name: str,
    source: object,
    input: Tensor,
    # Called with no argument; `...` lets a lambda bind its loop variables as defaults.
    derive: Callable[..., Tensor | None],
    key: Hashable = (),
    *,
    optional: bool = True,
) -> Tensor | None:
    """The per-class tensor the softmax kernel takes for ``source``: ``derive()`` (which checks
    ``source``) of shape ``(C,)``, contiguous, in ``input``'s compute dtype and device; None for
    a None ``source`` that is ``optional``. ``key`` holds the (checked) scalars the derivation
    depends on."""
    if source is None and optional:
        return None
    dtype = torch.float32 if input.dtype in _LOW_PRECISION else input.dtype
    c = input.shape[1]
    state = None
    if isinstance(source, Tensor) and not torch.compiler.is_compiling():
        try:
            # Its values: the version counter (bumped by every in-place op) and the storage
            # (``t.data = ...`` swaps it without bumping the counter).
            state = (source._version, source.data_ptr(), dtype, input.device, c)
        except (RuntimeError, NotImplementedError):  # inference-mode tensors have no counter
            pass
    if state is None:
        return _like(name, derive(), input, (c,), "class", dtype)
    slot = (name, key, id(source))
    hit = _DERIVED.get(slot)
    if hit is not None and hit[1] == state and hit[0]() is source:
        return source if hit[2] is None else hit[2]
    value = _like(name, derive(), input, (c,), "class", dtype)
    # Never keep ``source`` itself or a view (of it): that would keep it alive, and the entry
    # with it.
    kept = None if value is source else value.clone() if value._is_view() else value
    _DERIVED[slot] = (weakref.ref(source, lambda ref: _forget(slot, ref)), state, kept)
    return value


# ---------------------------------------------------------------------------------------------
# Sigmoid and detection losses: sigmoid focal, class-balanced sigmoid/focal, EQL,
# EQLv2, Seesaw, softmax EQL and BAGS group softmax. Detection labels run over [0, C] with C the
# background (mmdetection >= 2). "mean" follows mmdetection's weight_reduce_loss: the mean, or
# sum / (avg_factor + eps) when an avg_factor is given (eps the float32 epsilon).
# ---------------------------------------------------------------------------------------------


_check_avg_factor = check_avg_factor


def _check_labels_2d(
    input: Tensor,
    target: Tensor,
    columns: int | None = None,
    what: str | Callable[[], str] = "",
) -> None:
    """``input`` (N, K) float logits and ``target`` (N,) integer labels; K == columns if given.
    ``what`` explains the expected K (a callable: the message is built only on failure)."""
    check_logits_target(input, target)
    if input.dim() != 2:
        raise ValueError(
            f"input should have shape (N, C), but got input of shape {tuple(input.shape)}"
        )
    if columns is not None and input.shape[1] != columns:
        explained = what() if callable(what) else what
        raise ValueError(
            f"input should have {columns} columns{explained}, but got input of shape "
            f"{tuple(input.shape)}"
        )


_check_sample_weight = check_sample_weight


def _sigmoid_run(input: Tensor, target: Tensor, *, reduction: str, **kw) -> tuple[Tensor, Tensor]:
    """Runs the sigmoid kernel on float32/float64 logits; returns ``(loss, stats)``."""
    x = _compute_dtype(input)
    for name in ("weight", "label_weight", "pos_weight", "neg_weight"):
        if kw.get(name) is not None:
            kw[name] = kw[name].to(device=x.device, dtype=x.dtype)
    if target.is_floating_point():
        target = target.to(x.dtype)
    loss, stats = sigmoid_loss(x, target, reduction=reduction, **kw)
    return (loss.to(input.dtype) if x is not input else loss), stats


def _check_frequencies(class_frequencies: Counts, input: Tensor | None = None) -> Tensor:
    """Per-class frequencies, checked like counts (1-D, finite, >= 0, not all 0). A tensor on an
    accelerator (a Module's buffer, checked again each forward) stays there and is checked by a
    device-side assert, not read back to the host."""
    if isinstance(class_frequencies, Tensor) and torch.compiler.is_compiling():
        # Traced (a Module's buffer, checked when it was built): a graph holds no host checks.
        if class_frequencies.dim() != 1 or class_frequencies.numel() == 0:
            raise ValueError(
                "class_frequencies should be a non-empty 1-D tensor, but got shape "
                f"{tuple(class_frequencies.shape)}"
            )
        return class_frequencies
    if isinstance(class_frequencies, Tensor) and class_frequencies.device.type not in ("cpu",):
        meta = isinstance(input, Tensor) and input.is_meta
        freq = as_real_vector(
            "class_frequencies", class_frequencies, nonnegative=True, allow_meta=meta
        )
        if not torch.compiler.is_compiling():
            _check_on_device(freq, nonnegative=True, positive_total=True)
        return freq
    return as_class_counts(class_frequencies, name="class_frequencies")


def _frequency_dtype(class_frequencies: Counts) -> torch.dtype:
    """The dtype the frequencies arrived in: a floating tensor's or array's own, else torch's
    default (what ``torch.tensor(list)`` gives; the official code builds a ``FloatTensor``)."""
    if isinstance(class_frequencies, Tensor) and class_frequencies.is_floating_point():
        return class_frequencies.dtype
    if isinstance(class_frequencies, np.ndarray) and class_frequencies.dtype.kind == "f":
        return torch.from_numpy(np.zeros(0, dtype=class_frequencies.dtype)).dtype
    return torch.get_default_dtype()


# ---------------------------------------------------------------------------------------------
# Sigmoid and detection losses. Stateful losses (EQLv2, Seesaw) keep their state in
# buffers, update it once per training step with plain torch ops after the kernel accepted the
# batch, and sum each step's increment across ranks when torch.distributed is initialised.
# ---------------------------------------------------------------------------------------------


class _StatefulLoss(nn.Module):
    """State policy shared by Seesaw and EQLv2.

    The state is updated when ``update_state`` is True, or, when it is None (the default), in
    training mode with autograd enabled — never in ``eval()`` or under ``torch.no_grad()``.
    With ``distributed=True`` and ``torch.distributed`` initialised, each step's increment is
    ``all_reduce``d (summed), so every rank holds the state of the global batch.
    """

    def __init__(self, distributed: bool) -> None:
        super().__init__()
        self.distributed = bool(distributed)

    def _updating(self, update_state: bool | None) -> bool:
        if update_state is None:
            return self.training and torch.is_grad_enabled()
        return bool(update_state)

    def _sum_across_ranks(self, increment: Tensor) -> Tensor:
        if self.distributed and dist.is_available() and dist.is_initialized():
            # all_reduce works in place on dense memory: never hand it a strided view.
            increment = increment.contiguous()
            dist.all_reduce(increment, op=dist.ReduceOp.SUM)
        return increment


def _check_num_classes(num_classes: int) -> int:
    # Buffers are sized by it: bound it so that a typo cannot ask for petabytes.
    return check_int("num_classes", num_classes, low=1, high=1 << 31)


def _getstate_with_generator(self):
    # A torch.Generator does not pickle; its state does.
    state = self.__dict__.copy()
    gen = state.pop("generator")
    state["_generator_state"] = None if gen is None else (str(gen.device), gen.get_state())
    return state


def _setstate_with_generator(self, state):
    saved = state.pop("_generator_state")
    self.__dict__.update(state)
    self.generator = None
    if saved is not None:
        self.generator = torch.Generator(device=saved[0])
        self.generator.set_state(saved[1])
