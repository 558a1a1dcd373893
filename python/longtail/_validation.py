"""Argument checks shared by the Python layer, with torch-style messages."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

REDUCTIONS = ("none", "mean", "sum")


def check_reduction(reduction: str) -> str:
    if reduction not in REDUCTIONS:
        raise ValueError(
            f"reduction should be one of 'none', 'mean', 'sum', but got reduction={reduction!r}"
        )
    return reduction


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


def check_real(
    name: str,
    value: float,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
) -> float:
    """A finite float, optionally inside [low, high] (or (low, high] with low_open)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} should be a real number, but got {name}={value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} should be finite, but got {name}={value}")
    if low is not None and (value <= low if low_open else value < low):
        bound = f"> {low}" if low_open else f">= {low}"
        raise ValueError(f"{name} should be {bound}, but got {name}={value}")
    if high is not None and value > high:
        raise ValueError(f"{name} should be <= {high}, but got {name}={value}")
    return value


def as_class_counts(
    class_counts: Sequence[float] | np.ndarray | Tensor,
    num_classes: int | None = None,
    name: str = "class_counts",
) -> Tensor:
    """Per-class training counts as a float64 CPU tensor, checked: 1-D, finite, >= 0, not all 0."""
    if class_counts is None:
        raise TypeError(f"{name} should be a sequence of per-class counts, but got {name}=None")
    if isinstance(class_counts, Tensor):
        counts = class_counts.detach().to("cpu", torch.float64)
    else:
        try:
            counts = torch.as_tensor(np.asarray(class_counts, dtype=np.float64))
        except (TypeError, ValueError) as err:
            raise TypeError(
                f"{name} should be a sequence of non-negative numbers, but got "
                f"{name}={class_counts!r}"
            ) from err
    if counts.dim() != 1 or counts.numel() == 0:
        raise ValueError(
            f"{name} should be a non-empty 1-D sequence of per-class counts, but got {name} of "
            f"shape {tuple(counts.shape)}"
        )
    if num_classes is not None and counts.numel() != num_classes:
        raise ValueError(
            f"{name} should have one entry per class ({num_classes}), but got {name} of length "
            f"{counts.numel()}"
        )
    if not torch.isfinite(counts).all():
        raise ValueError(f"{name} should be finite, but got {name}={counts.tolist()[:20]}")
    if (counts < 0).any():
        bad = int(torch.nonzero(counts < 0)[0, 0])
        raise ValueError(
            f"{name} should be non-negative, but got {name}[{bad}]={counts[bad].item()}"
        )
    if counts.sum() <= 0:
        raise ValueError(f"{name} should have a positive total, but all {counts.numel()} are 0")
    return counts


def as_per_class(
    name: str, value: Tensor | Sequence[float] | float | None, num_classes: int, like: Tensor
) -> Tensor | None:
    """A per-class parameter (or a scalar broadcast to every class) as a tensor like ``like``."""
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        t = torch.full((num_classes,), float(value), dtype=like.dtype, device=like.device)
    else:
        t = torch.as_tensor(value, dtype=like.dtype, device=like.device)
    if t.shape != (num_classes,):
        raise ValueError(
            f"{name} should have shape ({num_classes},), one entry per class, but got {name} of "
            f"shape {tuple(t.shape)}"
        )
    # A data-dependent check cannot be traced; compiled graphs skip it.
    if not torch.compiler.is_compiling() and not torch.isfinite(t).all():
        raise ValueError(f"{name} should be finite, but got {name} with non-finite entries")
    return t
