"""Test helpers shared by the loss tests: inputs, tolerances, value-and-gradient comparisons."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

requires_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA is not available")

#: Tolerances of the comparison with the float64 oracle, by logits dtype. float64 is "1e-10
#: relative-ish"; the low-precision ones cover the final rounding of an f32 computation.
TOL: dict[torch.dtype, dict[str, float]] = {
    torch.float64: {"rtol": 1e-10, "atol": 1e-12},
    torch.float32: {"rtol": 2e-5, "atol": 2e-6},
    torch.float16: {"rtol": 2e-3, "atol": 2e-5},
    torch.bfloat16: {"rtol": 1.6e-2, "atol": 1e-4},
}

#: (N, C, d...) input shapes of the oracle matrix: a single class, a 2000-class row, trailing
#: dimensions, and more than 32 rows (the kernel's parallel block size).
SHAPES = [
    pytest.param((8, 5), id="8x5"),
    pytest.param((6, 1), id="6x1"),
    pytest.param((1, 2), id="1x2"),
    pytest.param((3, 2000), id="3x2000"),
    pytest.param((4, 3, 2, 3), id="4x3x2x3"),
    pytest.param((70, 7), id="70x7"),
]
REDUCTIONS = ["none", "mean", "sum"]

#: Common option sets: plain, ignored targets, label smoothing, class weights, and all at once
#: (where the ignored label is a valid class index).
OPTIONS = [
    pytest.param({}, id="plain"),
    pytest.param({"ignore_index": -100}, id="ignore"),
    pytest.param({"label_smoothing": 0.15}, id="smooth"),
    pytest.param({"weight": True}, id="weight"),
    pytest.param({"weight": True, "ignore_index": 1, "label_smoothing": 0.3}, id="all"),
]


def make_logits(
    shape: tuple[int, ...],
    gen: torch.Generator,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str = "cpu",
    scale: float = 3.0,
) -> Tensor:
    """Logits ~ N(0, scale²), drawn in float64 on the CPU, then cast and moved."""
    x = torch.randn(shape, generator=gen, dtype=torch.float64) * scale
    return x.to(device=device, dtype=dtype)


def make_target(
    shape: tuple[int, ...],
    gen: torch.Generator,
    *,
    ignore_index: int | None = None,
    ignore_frac: float = 0.3,
    device: torch.device | str = "cpu",
) -> Tensor:
    """Class indices for logits of ``shape``; with ``ignore_index``, about ``ignore_frac`` of
    them (at least one when there are two or more) are set to it."""
    n, c, *rest = shape
    t = torch.randint(0, c, (n, *rest), generator=gen)
    if ignore_index is not None and t.numel() > 0:
        mask = torch.rand(t.shape, generator=gen) < ignore_frac
        if t.numel() > 1:
            mask.view(-1)[0] = True
            mask.view(-1)[-1] = False
        t = torch.where(mask, torch.full_like(t, ignore_index), t)
    return t.to(device)


def make_counts(c: int, gen: torch.Generator, *, head: int = 500, ratio: float = 100.0) -> Tensor:
    """A long-tailed per-class count profile (exponential, CIFAR-LT-like), shuffled, as float64.
    Every count is >= 1."""
    if c == 1:
        return torch.tensor([float(head)], dtype=torch.float64)
    n = [max(1, int(head * (1.0 / ratio) ** (i / (c - 1.0)))) for i in range(c)]
    perm = torch.randperm(c, generator=gen)
    return torch.tensor(n, dtype=torch.float64)[perm]


def make_weight(c: int, gen: torch.Generator) -> Tensor:
    """Positive float64 class weights in [0.2, 2.2)."""
    return torch.rand(c, generator=gen, dtype=torch.float64) * 2.0 + 0.2


def resolve_options(
    options: dict, shape: tuple[int, ...], gen: torch.Generator
) -> tuple[dict, int | None]:
    """Turns an OPTIONS entry into keyword arguments; returns (kwargs, ignore_index or None)."""
    kw = dict(options)
    if kw.pop("weight", False):
        kw["weight"] = make_weight(shape[1], gen)
    return kw, kw.get("ignore_index")


def cotangent(shape: torch.Size | tuple[int, ...], seed: int = 7) -> Tensor:
    """A fixed float64 cotangent for the backward pass of a ``reduction="none"`` loss."""
    g = torch.Generator().manual_seed(seed)
    return torch.rand(tuple(shape), generator=g, dtype=torch.float64) + 0.5


def value_and_grad(
    fn: Callable[[Tensor], Tensor], x: Tensor, grad_output: Tensor | float | None = None
) -> tuple[Tensor, Tensor]:
    """``fn(x)`` and the vector-Jacobian product with ``grad_output`` (1 for a scalar, the fixed
    :func:`cotangent` for a tensor), through ``torch.autograd.grad``."""
    x = x.detach().requires_grad_(True)
    out = fn(x)
    if grad_output is None:
        ct = torch.ones_like(out) if out.dim() == 0 else cotangent(out.shape).to(out)
    elif isinstance(grad_output, Tensor):
        ct = grad_output.to(out)
    else:
        ct = torch.full_like(out, float(grad_output))
    (g,) = torch.autograd.grad(out, x, grad_outputs=ct, allow_unused=False)
    return out.detach(), g


def assert_close(actual: Tensor, expected: Tensor, dtype: torch.dtype, **kw) -> None:
    """``torch.testing.assert_close`` in float64 with the tolerance of ``dtype``."""
    tol = dict(TOL[dtype], equal_nan=True)
    tol.update(kw)
    torch.testing.assert_close(
        actual.detach().double().cpu(), expected.detach().double().cpu(), **tol
    )


def check_against_reference(
    pkg: Callable[[Tensor], Tensor],
    ref: Callable[[Tensor], Tensor],
    x: Tensor,
    *,
    grad_output: float | None = None,
    **tol,
) -> tuple[Tensor, Tensor]:
    """Value and gradient of ``pkg`` on ``x`` equal those of the float64 oracle ``ref`` on the
    same numbers (``x`` upcast to float64), within the tolerance of ``x.dtype``; the loss keeps
    the input's dtype and the reduction's shape. Returns ``pkg``'s value and gradient."""
    out, g = value_and_grad(pkg, x, grad_output)
    ref_out, ref_g = value_and_grad(ref, x.double(), grad_output)
    assert out.dtype == x.dtype, f"loss dtype {out.dtype} != input dtype {x.dtype}"
    assert out.shape == ref_out.shape, f"loss shape {tuple(out.shape)} != {tuple(ref_out.shape)}"
    assert g.shape == x.shape and g.dtype == x.dtype
    assert_close(out, ref_out, x.dtype, **tol)
    # Gradients are compared on the scale of the largest entry (their typical size is 1/N).
    scale = max(ref_g.abs().max().item(), 1e-300) if ref_g.numel() else 1.0
    gtol = dict(TOL[x.dtype], equal_nan=True)
    gtol.update(tol)
    if math.isfinite(scale):
        gtol["atol"] = max(gtol["atol"], gtol["rtol"] * scale * 0.1)
    torch.testing.assert_close(g.double().cpu(), ref_g.double().cpu(), **gtol)
    return out, g


def check_empty_like_torch(
    loss: Callable[[Tensor, Tensor, str], Tensor], shape: tuple[int, ...], reduction: str
) -> None:
    """A batch with no position to classify behaves as ``F.cross_entropy`` on it: shape
    ``target.shape`` for ``"none"``, 0 for ``"sum"``, NaN (0/0) for ``"mean"``; the gradient is
    an all-zero tensor of the input's shape."""
    x = torch.zeros(shape, dtype=torch.float64)
    y = torch.zeros((shape[0], *shape[2:]), dtype=torch.long)
    out, g = value_and_grad(lambda t: loss(t, y, reduction), x)
    ref, ref_g = value_and_grad(lambda t: F.cross_entropy(t, y, reduction=reduction), x)
    assert out.shape == ref.shape
    assert out.dtype == torch.float64
    torch.testing.assert_close(out, ref, equal_nan=True)
    assert g.shape == x.shape
    torch.testing.assert_close(g, ref_g, equal_nan=True)


def check_all_ignored_like_torch(
    loss: Callable[[Tensor, Tensor, str], Tensor], x: Tensor, ignore_index: int, reduction: str
) -> None:
    """Every target ignored: as ``F.cross_entropy`` (NaN mean, 0 sum, zeros for "none") and a
    zero gradient."""
    y = torch.full((x.shape[0], *x.shape[2:]), ignore_index, dtype=torch.long)
    out, g = value_and_grad(lambda t: loss(t, y, reduction), x)
    ref = F.cross_entropy(x, y, reduction=reduction, ignore_index=ignore_index)
    assert out.shape == ref.shape
    torch.testing.assert_close(out, ref, equal_nan=True)
    torch.testing.assert_close(g, torch.zeros_like(x), rtol=0, atol=0)


def extreme_logits(shape: tuple[int, ...], gen: torch.Generator, dtype=torch.float64) -> Tensor:
    """Logits of ±100 (random signs; the first row all +100)."""
    x = torch.where(torch.rand(shape, generator=gen) < 0.5, -100.0, 100.0).to(dtype)
    x[0] = 100.0
    return x


def gradcheck(fn: Callable[[Tensor], Tensor], x: Tensor) -> bool:
    """``torch.autograd.gradcheck`` of ``fn`` at a float64 ``x`` (finite differences vs the
    analytic backward). Support for an undefined incoming gradient is a separate contract, checked
    once in ``losses/test_softmax_op.py``, so that its failure does not hide a wrong gradient."""
    assert x.dtype == torch.float64
    x = x.detach().requires_grad_(True)
    return torch.autograd.gradcheck(fn, (x,), check_undefined_grad=False)


def _cpu_backends() -> list[str]:
    from longtail import _accelerator

    return ["kernel", "torch"] + (["tch"] if _accelerator.module() is not None else [])


# The paths a CPU tensor can take through `longtail._kernels`: the Rust kernel, the torch-op
# fallback (what CUDA tensors run without the accelerator), and the tch accelerator where it is
# installed for this torch.
CPU_BACKENDS = _cpu_backends()
