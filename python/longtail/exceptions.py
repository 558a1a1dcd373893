"""The exceptions longtail raises, declared once. Every class derives from :class:`LongtailError`
and from the built-in a PyTorch user already catches: ``ShapeError`` and
``InvalidArgumentError`` are ``ValueError``s, ``OutOfRangeError`` is an ``IndexError``,
``DTypeError`` a ``TypeError``, and ``InternalError`` / ``TorchError`` are ``RuntimeError``s.

Both native modules (``longtail._core`` and the CUDA accelerator) raise these classes: each
core error names its class (``CoreError::class_name`` in the Rust core)."""

from __future__ import annotations

__all__ = [
    "DTypeError",
    "InternalError",
    "InvalidArgumentError",
    "LongtailError",
    "OutOfRangeError",
    "ShapeError",
    "TorchError",
]


class LongtailError(Exception):
    """Base class of every exception longtail raises itself."""


class ShapeError(LongtailError, ValueError):
    """An argument has the wrong shape or length."""


class InvalidArgumentError(LongtailError, ValueError):
    """An argument has a value outside its domain."""


class OutOfRangeError(LongtailError, IndexError):
    """A label or index lies outside its range."""


class DTypeError(LongtailError, TypeError):
    """An argument has an unsupported dtype."""


class TorchError(LongtailError, RuntimeError):
    """libtorch reported an error (in the CUDA accelerator)."""


class InternalError(LongtailError, RuntimeError):
    """A bug in longtail (a broken invariant in the native code); please report it."""
