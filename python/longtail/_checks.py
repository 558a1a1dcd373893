"""Integer and seed checks shared by the samplers (torch's message form: "x should be ...,
but got x=...").

An integer argument is a Python ``int``, a NumPy integer or a 0-d integer tensor; ``bool``
(Python, NumPy or tensor) is rejected where an integer is meant, and so are floats, even
integral ones. Ranges are those of the Rust type the value goes to.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
import torch

__all__ = ["I64_MAX", "U64_MAX", "check_bool", "check_int", "check_seed"]

U64_MAX = (1 << 64) - 1
I64_MAX = (1 << 63) - 1


def _integer_or_none(value: Any) -> int | None:
    """``value`` as an int if it is an integer (not a bool) in one of the accepted forms."""
    if isinstance(value, (bool, np.bool_)):
        return None
    if isinstance(value, torch.Tensor):
        if value.dim() != 0 or value.is_complex() or value.is_floating_point():
            return None
        if value.dtype == torch.bool or value.device.type == "meta":
            return None
        return int(value.item())
    if isinstance(value, numbers.Integral):
        return int(value)
    return None


def check_int(name: str, value: Any, *, low: int | None = None, high: int | None = None) -> int:
    """``value`` as an int in ``[low, high]``: ``TypeError`` for a non-integer, ``ValueError``
    out of range."""
    as_int = _integer_or_none(value)
    if as_int is None:
        raise TypeError(f"{name} should be an integer, but got {name}={value!r}")
    if low is not None and as_int < low:
        what = "a positive integer" if low == 1 else f"an integer >= {low}"
        raise ValueError(f"{name} should be {what}, but got {name}={as_int}")
    if high is not None and as_int > high:
        bound = {I64_MAX: "2**63 - 1", U64_MAX: "2**64 - 1"}.get(high, str(high))
        raise ValueError(f"{name} should be an integer <= {bound}, but got {name}={as_int}")
    return as_int


def check_seed(name: str, value: Any) -> int:
    """A seed for the core's 64-bit generator: an integer in ``[0, 2**64)``. Nothing is
    folded, so two different seeds never give the same stream."""
    as_int = _integer_or_none(value)
    if as_int is None:
        raise TypeError(f"{name} should be an integer, but got {name}={value!r}")
    if not 0 <= as_int <= U64_MAX:
        raise ValueError(f"{name} should be an integer in [0, 2**64 - 1], but got {name}={as_int}")
    return as_int


def check_bool(name: str, value: Any) -> bool:
    """A Python or NumPy boolean, as ``bool``."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} should be a boolean value, but got {name}={value!r}")
    return bool(value)
