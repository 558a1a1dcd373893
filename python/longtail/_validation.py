"""The one validation layer: every argument check of the losses, weights, metrics, statistics and
recipes lives here, and every message has torch's form "x should be ..., but got x=...".

The rules:

* integers: a Python ``int``, a NumPy integer or a 0-d integer tensor, in range (int64 unless a
  caller says otherwise); ``bool`` is rejected where an integer is meant;
* reals: a Python or NumPy real or a 0-d real tensor, finite unless a caller allows ``inf``
  (``nan`` never passes);
* per-class vectors: a real dtype (numeric strings, object arrays, complex and booleans are
  rejected), 1-D with one entry per class, not on the meta device, finite, and non-negative
  where counts or weights are meant;
* labels: any integer dtype (upcast to int64).

Each rejection is a ``TypeError`` (wrong kind of value), ``ValueError`` (right kind, bad value)
or ``IndexError`` (a label out of range), so a PyTorch user's ``except`` clauses keep working.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

#: Anything the package accepts as a 1-D vector: a sequence, a NumPy array or a tensor.
ArrayLike = Sequence[float] | np.ndarray | Tensor
#: Per-class counts (or frequencies): the same kinds as :data:`ArrayLike`.
Counts = ArrayLike

REDUCTIONS = ("none", "mean", "sum")

INT64_MIN = -(1 << 63)
INT64_MAX = (1 << 63) - 1

_LOW_PRECISION = (torch.float16, torch.bfloat16)


def _shown(value: Any) -> str:
    """A short ``repr`` for a message: long sequences and arrays are cut."""
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


def compute_dtype(input: Tensor) -> torch.dtype:
    """The dtype a kernel computes in for ``input``: float32 for float16/bfloat16 logits."""
    return torch.float32 if input.dtype in _LOW_PRECISION else input.dtype


# --------------------------------------------------------------------------------------------
# Scalars.


def check_reduction(reduction: str) -> str:
    if not isinstance(reduction, str) or reduction not in REDUCTIONS:
        raise ValueError(
            f"reduction should be one of 'none', 'mean', 'sum', but got reduction={reduction!r}"
        )
    return reduction


def check_bool(name: str, value: Any) -> bool:
    """A ``bool`` (or NumPy bool); integers are not taken for truth values."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} should be a boolean value, but got {name}={_shown(value)}")
    return bool(value)


def check_int(
    name: str,
    value: Any,
    *,
    low: int | None = None,
    high: int | None = None,
) -> int:
    """An integer in ``[low, high]`` (default: the int64 range), as a Python ``int``.

    Accepts a Python ``int``, a NumPy integer or a 0-d integer tensor; rejects ``bool``,
    floats (even integral ones, as torch does for ``ignore_index``) and strings."""
    if isinstance(value, Tensor):
        if (
            value.dim() != 0
            or value.is_floating_point()
            or value.is_complex()
            or value.dtype == torch.bool
        ):
            raise TypeError(
                f"{name} should be an integer or a 0-d integer tensor, but got {name} of "
                f"dtype={value.dtype} and shape {tuple(value.shape)}"
            )
        if value.is_meta:
            raise ValueError(f"{name} should hold a value, but got {name} on the meta device")
        value = int(value.item())
    elif isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} should be an integer, but got {name}={_shown(value)}")
    value = int(value)
    lo = INT64_MIN if low is None else low
    hi = INT64_MAX if high is None else high
    if value < lo or value > hi:
        if low is None and high is None:
            what = f"an integer in the int64 range [{INT64_MIN}, {INT64_MAX}]"
        else:
            what = (
                "an integer"
                if low is None
                else {1: "a positive integer", 0: "a non-negative integer"}.get(
                    lo, f"an integer >= {lo}"
                )
            )
            what += f" <= {hi}" if high is not None or value > hi else ""
        raise ValueError(f"{name} should be {what}, but got {name}={value}")
    return value


def check_ignore_index(ignore_index: Any) -> int:
    """``ignore_index``: an int64 label value, as torch's losses take it."""
    return check_int("ignore_index", ignore_index)


def check_real(
    name: str,
    value: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    allow_inf: bool = False,
) -> float:
    """A real number, optionally inside ``[low, high]`` (``(low, high]`` with ``low_open``),
    finite unless ``allow_inf``; ``nan`` is always rejected. Accepts Python and NumPy reals and
    0-d real tensors; rejects ``bool``, complex numbers and strings."""
    if isinstance(value, Tensor):
        if value.dim() != 0 or value.is_complex() or value.dtype == torch.bool:
            raise TypeError(
                f"{name} should be a real number or a 0-d real tensor, but got {name} of "
                f"dtype={value.dtype} and shape {tuple(value.shape)}"
            )
        if value.is_meta:
            raise ValueError(f"{name} should hold a value, but got {name} on the meta device")
        value = value.item()
    elif isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} should be a real number, but got {name}={_shown(value)}")
    try:
        value = float(value)
    except OverflowError:  # an int beyond float64
        raise ValueError(f"{name} should be finite, but got {name}={value}") from None
    if math.isnan(value) or (math.isinf(value) and not allow_inf):
        raise ValueError(f"{name} should be finite, but got {name}={value}")
    if low is not None and (value <= low if low_open else value < low):
        bound = f"> {low}" if low_open else f">= {low}"
        raise ValueError(f"{name} should be {bound}, but got {name}={value}")
    if high is not None and value > high:
        raise ValueError(f"{name} should be <= {high}, but got {name}={value}")
    return value


def check_float_dtype(name: str, dtype: Any) -> torch.dtype:
    """A floating-point ``torch.dtype`` (weights are never truncated to integers)."""
    if not isinstance(dtype, torch.dtype):
        raise TypeError(f"{name} should be a torch.dtype, but got {name}={_shown(dtype)}")
    if not dtype.is_floating_point:
        raise TypeError(f"{name} should be a floating-point torch.dtype, but got {name}={dtype}")
    return dtype


def check_choice(name: str, value: Any, choices: Sequence[str]) -> str:
    if not isinstance(value, str) or value not in choices:
        raise ValueError(
            f"{name} should be one of {', '.join(map(repr, choices))}, but got {name}={value!r}"
        )
    return value


def check_shot_thresholds(many: Any, few: Any) -> tuple[float, float]:
    """The many/few-shot thresholds: finite reals ``>= 0`` with ``few <= many + 1`` (few-shot
    ``n < few``, many-shot ``n > many``, so the groups cannot overlap)."""
    many, few = check_real("many", many), check_real("few", few)
    for name, value in (("many", many), ("few", few)):
        if value < 0:
            raise ValueError(f"{name} should be a non-negative number, but got {name}={value}")
    if few > many + 1:
        raise ValueError(
            f"few should be <= many + 1 (few-shot n < few, many-shot n > many), but got "
            f"many={many} and few={few}"
        )
    return many, few


# --------------------------------------------------------------------------------------------
# Vectors.


def _reject_meta(name: str) -> None:
    raise ValueError(
        f"{name} should hold values, but got {name} on the meta device (it has no data; "
        "materialise it first)"
    )


def _check_on_device(vector: Tensor, nonnegative: bool, positive_total: bool = False) -> None:
    """Value checks of a tensor on an accelerator: a device-side assert, as torch's CUDA losses
    check their targets, instead of a host read that would sync with the device on every call
    (a Module's buffers are checked again each forward). A no-op on the meta device."""
    ok = torch.isfinite(vector).all()
    if nonnegative:
        ok = ok & (vector >= 0).all()
    if positive_total:
        ok = ok & (vector.sum() > 0)
    torch._assert_async(ok)


def as_real_array(name: str, value: Any, *, allow_meta: bool = False) -> np.ndarray | Tensor:
    """``value`` as an array or tensor of a real dtype, else a ``TypeError`` naming it. A meta
    tensor (no data) is a ``ValueError`` unless ``allow_meta`` (its values are not read)."""
    if value is None or isinstance(value, (str, bytes, dict, set, frozenset)):
        raise TypeError(
            f"{name} should be a sequence, array or tensor of real numbers, but got "
            f"{name}={_shown(value)}"
        )
    if isinstance(value, Tensor):
        if value.is_complex() or value.dtype == torch.bool:
            raise TypeError(
                f"{name} should have a real dtype, but got {name} of dtype={value.dtype}"
            )
        if value.is_meta and not allow_meta:
            _reject_meta(name)
        return value.detach()
    try:
        array = np.asarray(value)
    except (TypeError, ValueError, RuntimeError, NotImplementedError) as err:
        raise TypeError(
            f"{name} should be a sequence, array or tensor of real numbers, but got "
            f"{name}={_shown(value)}"
        ) from err
    if array.dtype.kind not in "iuf":
        what = {
            "b": "booleans",
            "c": "complex numbers",
            "U": "strings",
            "S": "bytes",
            "O": "Python objects",
        }.get(array.dtype.kind, f"dtype={array.dtype}")
        raise TypeError(
            f"{name} should hold real numbers, but got {name}={_shown(value)} holding {what}"
        )
    return array


def as_real_vector(
    name: str,
    value: Any,
    *,
    length: int | None = None,
    nonnegative: bool = False,
    what: str = "one entry per class",
    allow_meta: bool = False,
) -> Tensor:
    """A non-empty 1-D real vector as a float64 tensor on its own device (CPU for non-tensors),
    checked finite, of ``length`` entries if given, and ``>= 0`` if ``nonnegative``."""
    data = as_real_array(name, value, allow_meta=allow_meta)
    if isinstance(data, Tensor):
        vector = data if data.dtype == torch.float64 else data.to(torch.float64)
    else:
        vector = torch.as_tensor(np.array(data, dtype=np.float64, order="C"))
    if vector.dim() != 1 or vector.numel() == 0:
        raise ValueError(
            f"{name} should be a non-empty 1-D sequence ({what}), but got {name} of shape "
            f"{tuple(vector.shape)}"
        )
    if length is not None and vector.numel() != length:
        raise ValueError(
            f"{name} should have shape ({length},), {what}, but got {name} of shape "
            f"{tuple(vector.shape)}"
        )
    # A data-dependent check cannot be traced; compiled graphs skip it.
    if torch.compiler.is_compiling():
        return vector
    if vector.device.type != "cpu":
        _check_on_device(vector, nonnegative)
        return vector
    # The common case in two NumPy reductions (a finite sum means no inf or nan entry, unless
    # finite entries overflow it); the loop below finds the first bad entry otherwise.
    values = vector.detach().numpy()
    with np.errstate(over="ignore", invalid="ignore"):
        if np.isfinite(values.sum()) and (not nonnegative or values.min() >= 0):
            return vector
    for need, bad in (
        ("finite", lambda v: ~torch.isfinite(v)),
        ("non-negative", lambda v: v < 0),
    )[: 2 if nonnegative else 1]:
        mask = bad(vector)
        if mask.any():
            i = int(torch.nonzero(mask)[0, 0])
            raise ValueError(f"{name} should be {need}, but got {name}[{i}]={vector[i].item()}")
    return vector


def as_class_counts(
    class_counts: Counts,
    num_classes: int | None = None,
    name: str = "class_counts",
) -> Tensor:
    """Per-class training counts as a float64 CPU tensor, checked: a real 1-D vector, finite,
    ``>= 0``, not all 0, with ``num_classes`` entries if given."""
    counts = as_real_vector(name, class_counts, length=num_classes, nonnegative=True)
    counts = counts.cpu()
    with np.errstate(over="ignore"):
        positive = counts.detach().numpy().sum() > 0
    if not positive:
        raise ValueError(
            f"{name} should have a positive total, but got {name} with all "
            f"{counts.numel()} entries 0"
        )
    return counts


def as_per_class(
    name: str,
    value: Tensor | Sequence[float] | float | None,
    num_classes: int,
    like: Tensor,
    *,
    nonnegative: bool = True,
) -> Tensor | None:
    """A per-class parameter (or one real broadcast to every class), checked as a real vector of
    ``num_classes`` entries, finite and (by default) non-negative, then cast to the dtype the
    kernel computes ``like`` in (float32 for float16/bfloat16 input) on ``like``'s device."""
    if value is None:
        return None
    dtype = compute_dtype(like)
    scalar_tensor = isinstance(value, Tensor) and value.dim() == 0
    if scalar_tensor or (
        isinstance(value, (numbers.Real, np.generic)) and not isinstance(value, (bool, np.bool_))
    ):
        low = 0.0 if nonnegative else None
        scalar = check_real(name, value, low=low)
        if abs(scalar) > torch.finfo(dtype).max:
            raise ValueError(
                f"{name} should be finite in the compute dtype {dtype}, but got {name}={scalar}"
            )
        return torch.full((num_classes,), scalar, dtype=dtype, device=like.device)
    vector = as_real_vector(
        name, value, length=num_classes, nonnegative=nonnegative, allow_meta=like.is_meta
    )
    out = vector.to(device=like.device, dtype=dtype)
    if out.device.type != "cpu":
        if not torch.compiler.is_compiling():
            _check_on_device(out, nonnegative)
    elif not torch.compiler.is_compiling() and not torch.isfinite(out).all():
        raise ValueError(
            f"{name} should be finite in the compute dtype {dtype}, but got {name} with "
            f"max |{name}| = {vector.abs().max().item():g}"
        )
    return out


def as_labels(labels: ArrayLike, name: str = "labels") -> np.ndarray:
    """``labels`` as a 1-D ``int64`` array of non-negative class indices (any integer dtype is
    upcast; a copy for tensors)."""
    if isinstance(labels, Tensor):
        if labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
            raise TypeError(
                f"{name} should hold integer class indices, but got {name} of dtype={labels.dtype}"
            )
        if labels.is_meta:
            raise ValueError(f"{name} should hold values, but got {name} on the meta device")
        array = labels.detach().cpu().numpy()
    else:
        try:
            array = np.asarray(labels)
        except (TypeError, ValueError, RuntimeError) as err:
            raise TypeError(
                f"{name} should be a sequence of integer class indices, but got "
                f"{name}={_shown(labels)}"
            ) from err
        if array.dtype == object or not (np.issubdtype(array.dtype, np.integer) or array.size == 0):
            raise TypeError(
                f"{name} should hold integer class indices, but got {name} of dtype={array.dtype}"
            )
    if array.ndim != 1:
        raise ValueError(f"{name} should be 1-D, but got {name} of shape {tuple(array.shape)}")
    if array.dtype == np.uint64 and array.size and array.max() > INT64_MAX:
        bad = int(np.flatnonzero(array > INT64_MAX)[0])
        raise ValueError(f"{name} should fit in int64, but got {name}[{bad}]={array[bad]}")
    array = array.astype(np.int64, copy=False)
    if array.size and array.min() < 0:
        bad = int(np.flatnonzero(array < 0)[0])
        raise ValueError(
            f"{name} should be non-negative class indices, but got {name}[{bad}]={array[bad]}"
        )
    return array


# --------------------------------------------------------------------------------------------
# Loss inputs.


def check_logits_target(input: Tensor, target: Tensor) -> None:
    """Checks ``input`` (N, C, d...) float logits against ``target`` (N, d...) class indices."""
    if not isinstance(input, Tensor):
        raise TypeError(f"input should be a torch.Tensor, but got input of type {type(input)}")
    if not isinstance(target, Tensor):
        raise TypeError(f"target should be a torch.Tensor, but got target of type {type(target)}")
    if not input.is_floating_point():
        raise TypeError(
            f"input should be a floating-point tensor of logits, but got dtype={input.dtype}"
        )
    if target.is_floating_point() or target.is_complex() or target.dtype == torch.bool:
        raise TypeError(
            "target should be an integer tensor of class indices, but got target of "
            f"dtype={target.dtype}"
        )
    if input.dim() < 2:
        raise ValueError(
            "input should have shape (N, C) or (N, C, d1, ...), but got input of shape "
            f"{tuple(input.shape)}"
        )
    expected = (input.shape[0], *input.shape[2:])
    if tuple(target.shape) != expected:
        raise ValueError(
            f"target should have shape {expected} for input of shape {tuple(input.shape)}, "
            f"but got target of shape {tuple(target.shape)}"
        )
    if target.device != input.device:
        raise ValueError(
            f"target should be on input's device {input.device}, but got target on {target.device}"
        )


def check_sample_weight(weight: Any, input: Tensor, rows: int) -> Tensor | None:
    """Per-sample weights ``(rows,)`` (mmdetection's ``label_weights``): a real tensor, finite and
    non-negative, returned in the kernel's compute dtype on ``input``'s device."""
    if weight is None:
        return None
    if not isinstance(weight, Tensor):
        raise TypeError(
            f"weight should be a tensor of per-sample weights or None, but got weight of type "
            f"{type(weight).__name__}"
        )
    if weight.is_complex() or weight.dtype == torch.bool:
        raise TypeError(f"weight should have a real dtype, but got weight of dtype={weight.dtype}")
    if weight.is_meta:
        raise ValueError("weight should hold values, but got weight on the meta device")
    if weight.shape != (rows,):
        raise ValueError(
            f"weight should have shape ({rows},), one entry per sample, but got weight of shape "
            f"{tuple(weight.shape)}"
        )
    out = weight.to(device=input.device, dtype=compute_dtype(input))
    # The values are checked where they already sit on the host; on an accelerator the check
    # would be a device-to-host synchronisation in every forward pass, so it is left out there.
    if out.device.type == "cpu" and not torch.compiler.is_compiling():
        values = out.detach().numpy()
        bad = np.flatnonzero(~np.isfinite(values) | (values < 0))
        if bad.size:
            i = int(bad[0])
            raise ValueError(
                f"weight should be finite and non-negative, but got weight[{i}]={values[i]}"
            )
    return out


def check_avg_factor(avg_factor: Any, reduction: str) -> float | None:
    """``avg_factor`` (mmdetection's ``weight_reduce_loss``): a finite number ``>= 0`` or a
    one-element tensor, read once on the host. Returns the ``"mean"`` divisor as mmdetection
    computes it, ``avg_factor + eps`` with ``eps = finfo(float32).eps``
    (mmdet/models/losses/utils.py): ``avg_factor=0`` with all-zero weights gives 0, not 0/0,
    and no factor, however small, makes ``sum / divisor`` overflow to ``inf``."""
    if avg_factor is None:
        return None
    if isinstance(avg_factor, Tensor):
        if avg_factor.numel() != 1:
            raise ValueError(
                "avg_factor should be a number or a one-element tensor, but got avg_factor of "
                f"shape {tuple(avg_factor.shape)}"
            )
        avg_factor = avg_factor.reshape(())
    value = check_real("avg_factor", avg_factor, low=0.0)
    if reduction == "sum":
        raise ValueError(
            f"avg_factor should be None when reduction='sum', but got avg_factor={value}"
        )
    return value + float(torch.finfo(torch.float32).eps)
