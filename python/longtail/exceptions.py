"""The exceptions longtail raises. Each subclasses the built-in a PyTorch user already catches:
``ShapeError`` and ``InvalidArgumentError`` are ``ValueError``s, ``OutOfRangeError`` is an
``IndexError``, ``DTypeError`` a ``TypeError``."""

from longtail._core import (
    DTypeError,
    InvalidArgumentError,
    OutOfRangeError,
    ShapeError,
    TorchError,
)

__all__ = ["DTypeError", "InvalidArgumentError", "OutOfRangeError", "ShapeError", "TorchError"]
