"""``longtail.show_config()``: what this installation runs on, as ``numpy.show_config()`` and
``torch.__config__.show()`` report theirs."""

from __future__ import annotations

import platform
import sys
from typing import Any

import numpy as np
import torch

from longtail import _accelerator, _core


def _config() -> dict[str, Any]:
    build = _core.build_info()
    accelerator, why = _accelerator.status()
    return {
        "longtail": build["version"],
        "python": f"{platform.python_version()} ({platform.python_implementation()})",
        "torch": torch.__version__,
        "cuda_available": torch.cuda.is_available(),
        "numpy": np.__version__,
        "cpu_kernels": {
            "instruction_set": build["simd"],
            "rayon_threads": build["threads"],
            "parallel": build["parallel"],
        },
        "cuda_accelerator": {"loaded": accelerator is not None, "status": why},
        "cuda_path": (
            "tch accelerator" if accelerator is not None else "torch ops (longtail._fallback)"
        ),
    }


def show_config(mode: str = "stdout") -> dict[str, Any] | None:
    """Prints the longtail, torch, NumPy and Python versions, the CPU kernels' instruction set
    (AVX2+FMA or the portable baseline) and rayon thread count, and whether the CUDA
    accelerator (``longtail_tch``) is loaded, and if not, why. Checking it loads the
    accelerator where it matches the installed torch, as the first CUDA tensor would.

    Args:
        mode: ``"stdout"`` prints the report; ``"dicts"`` returns it as a dict instead.

    Example:
        >>> import longtail
        >>> longtail.show_config()  # doctest: +SKIP
        longtail 0.1.0
          python: 3.11.7 (CPython)
          ...
    """
    if mode not in ("stdout", "dicts"):
        raise ValueError(f"mode should be 'stdout' or 'dicts', but got mode={mode!r}")
    config = _config()
    if mode == "dicts":
        return config
    kernels, accel = config["cpu_kernels"], config["cuda_accelerator"]
    lines = [
        f"longtail {config['longtail']}",
        f"  python: {config['python']}",
        f"  torch: {config['torch']} (CUDA available: {config['cuda_available']})",
        f"  numpy: {config['numpy']}",
        f"  CPU kernels: {kernels['instruction_set']}, {kernels['rayon_threads']} rayon "
        f"threads{'' if kernels['parallel'] else ' (parallelism off in this forked child)'}",
        f"  CUDA accelerator (longtail_tch): {accel['status']}",
        f"  CUDA tensors run on: {config['cuda_path']}",
    ]
    print("\n".join(lines), file=sys.stdout)
    return None
