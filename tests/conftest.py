"""Shared pytest configuration: the device × dtype matrix and seeded generators.

The same suite runs on a CPU box and on a GPU box (kornia's convention)::

    pytest tests --device cpu --dtype float64,float32
    LONGTAIL_TEST_DEVICE=cuda pytest tests      # skipped cleanly when there is no GPU
    pytest tests --device all                  # cpu, plus cuda when available

``--dtype`` (or ``LONGTAIL_TEST_DTYPE``) lists the logits dtypes of the dtype-matrix tests; the
float64 oracle tests always run in float64.
"""

from __future__ import annotations

import os

import pytest
import torch

# `reference`, `_testing` and the other helpers next to this file are importable from every
# test directory through `pythonpath = ["tests"]` (pyproject.toml), which pytest puts on
# sys.path before it imports this file; spawned child processes inherit that sys.path.
from _testing import requires_cuda

_DTYPES = {
    "float64": torch.float64,
    "float32": torch.float32,
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
}
_DEFAULT_DTYPES = "float64,float32,bfloat16,float16"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("longtail")
    group.addoption(
        "--device",
        default=os.environ.get("LONGTAIL_TEST_DEVICE", "cpu"),
        help="device(s) to test on: cpu, cuda, cuda:1, a comma-separated list, or 'all' "
        "(env LONGTAIL_TEST_DEVICE, default cpu)",
    )
    group.addoption(
        "--dtype",
        default=os.environ.get("LONGTAIL_TEST_DTYPE", _DEFAULT_DTYPES),
        help=f"logits dtypes of the dtype matrix, comma-separated, or 'all' "
        f"(env LONGTAIL_TEST_DTYPE, default {_DEFAULT_DTYPES})",
    )


def _devices(config: pytest.Config) -> list[str]:
    raw = config.getoption("--device").strip().lower()
    if raw == "all":
        return ["cpu", "cuda"]
    names = [d.strip() for d in raw.split(",") if d.strip()]
    for name in names:
        torch.device(name)  # fails early with torch's message on a typo
    return names


def _dtypes(config: pytest.Config) -> list[str]:
    raw = config.getoption("--dtype").strip().lower()
    names = list(_DTYPES) if raw == "all" else [d.strip() for d in raw.split(",") if d.strip()]
    unknown = [n for n in names if n not in _DTYPES]
    if unknown:
        raise pytest.UsageError(f"--dtype should name some of {list(_DTYPES)}, got {unknown}")
    return names


def _explicitly_parametrized(metafunc: pytest.Metafunc, name: str) -> bool:
    """A test that parametrizes ``name`` itself keeps its own values."""
    return any(name in mark.args[0] for mark in metafunc.definition.iter_markers("parametrize"))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "device" in metafunc.fixturenames and not _explicitly_parametrized(metafunc, "device"):
        params = [
            pytest.param(
                torch.device(name),
                id=name,
                marks=[requires_cuda] if name.startswith("cuda") else [],
            )
            for name in _devices(metafunc.config)
        ]
        metafunc.parametrize("device", params)
    if "dtype" in metafunc.fixturenames and not _explicitly_parametrized(metafunc, "dtype"):
        metafunc.parametrize(
            "dtype", [pytest.param(_DTYPES[n], id=n) for n in _dtypes(metafunc.config)]
        )


@pytest.fixture
def gen() -> torch.Generator:
    """A CPU generator with a fixed seed (never the global RNG); tensors are drawn on the CPU
    and then moved, so every device sees the same numbers."""
    return torch.Generator().manual_seed(20240229)


@pytest.fixture
def restore_denormals():
    """For tests that compile with inductor: torch < 2.5 builds its kernels with -ffast-math,
    and loading such a library sets flush-to-zero/denormals-are-zero for the whole process
    (GCC's crtfastmath). Undo it afterwards, so later tests keep IEEE subnormals."""
    yield
    torch.set_flush_denormal(False)
