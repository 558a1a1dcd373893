"""The optional CUDA accelerator, ``longtail_tch``: the loss formulas as libtorch ops (tch).

Its native module links the libtorch of one torch release (2.13, the one tch 0.26 binds), so it
is imported lazily, on the first tensor that needs it, and only beside that torch release.
Everywhere else CUDA tensors run the same formulas as torch ops (``longtail._fallback``).
``LONGTAIL_ACCELERATOR=0`` turns it off.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

import torch

_loaded: tuple[ModuleType | None, str] | None = None


def _torch_release(version: str) -> str:
    """``"2.13"`` of ``"2.13.0+cu130"``."""
    return ".".join(version.split("+")[0].split(".")[:2])


def _load() -> tuple[ModuleType | None, str]:
    if os.environ.get("LONGTAIL_ACCELERATOR", "1").strip().lower() in ("0", "off", "false", "no"):
        return None, "turned off by LONGTAIL_ACCELERATOR"
    try:
        package = importlib.import_module("longtail_tch")
    except ImportError:
        return None, "not installed (see README: 'The CUDA accelerator')"
    built_for = getattr(package, "BUILT_FOR_TORCH", "?")
    installed = _torch_release(torch.__version__)
    if installed != built_for:
        return None, f"built for torch {built_for}, but torch {torch.__version__} is installed"
    try:
        native = importlib.import_module("longtail_tch._tch")
    except Exception as err:  # a broken install: undefined symbols, a missing libtorch
        return None, f"failed to load ({type(err).__name__}: {err})"
    return native, f"loaded (longtail_tch {native.__version__}, built for torch {built_for})"


def status() -> tuple[ModuleType | None, str]:
    """The accelerator's native module (or ``None``) and a line saying why; loads it once."""
    global _loaded
    if _loaded is None:
        _loaded = _load()
    return _loaded


def module() -> ModuleType | None:
    """The accelerator's native module, or ``None`` where it is absent or does not match."""
    return status()[0]
