"""Every loss off the CPU: the path CUDA tensors take (the tch accelerator where it is loaded,
else the torch-op fallback), compared with the CPU kernel, and free of host syncs.

Two devices run it:
- ``meta``, everywhere: a meta tensor has no data, so any read back to the host (``.item()``,
  ``bool(t)``, ``nonzero``, a data-dependent shape) raises. A loss that runs forward and
  backward on meta tensors therefore never syncs a CUDA device with the host.
- ``cuda``, where a GPU is present (``pytest --device cuda`` selects it; skipped without one):
  values, gradients and state against the CPU kernel, float16/bfloat16 inputs and
  ``torch.compile``, all under ``torch.cuda.set_sync_debug_mode("error")``, which raises on a
  synchronising call.
"""

from __future__ import annotations

import contextlib

import longtail
import pytest
import torch
from _testing import requires_cuda

COUNTS = [60.0, 25.0, 9.0, 4.0, 2.0]
C = len(COUNTS)


def _softmax(name):
    return {
        "WeightedCrossEntropyLoss": lambda: longtail.WeightedCrossEntropyLoss(COUNTS),
        "FocalLoss": lambda: longtail.FocalLoss(gamma=2.0),
        "ClassBalancedLoss": lambda: longtail.ClassBalancedLoss(COUNTS, loss_type="focal"),
        "LDAMLoss": lambda: longtail.LDAMLoss(COUNTS),
        "LogitAdjustedLoss": lambda: longtail.LogitAdjustedLoss(COUNTS),
        "BalancedSoftmaxLoss": lambda: longtail.BalancedSoftmaxLoss(COUNTS),
    }[name]()


SOFTMAX = [
    "WeightedCrossEntropyLoss",
    "FocalLoss",
    "ClassBalancedLoss",
    "LDAMLoss",
    "LogitAdjustedLoss",
    "BalancedSoftmaxLoss",
]

# (factory, number of logit columns, label range): detection labels run over [0, C], C = background.
DETECTION = {
    "SigmoidFocalLoss": (lambda: longtail.SigmoidFocalLoss(), C, C + 1),
    "EqualizationLoss": (
        lambda: longtail.EqualizationLoss([0.2, 0.1, 0.001, 0.0005, 0.05]),
        C,
        C + 1,
    ),
    "EQLv2Loss": (lambda: longtail.EQLv2Loss(num_classes=C), C + 1, C + 1),
    "SeesawLoss": (lambda: longtail.SeesawLoss(num_classes=C), C, C),
    "SeesawLoss-objectness": (
        lambda: longtail.SeesawLoss(num_classes=C, mode="objectness"),
        C + 2,
        C + 1,
    ),
    "SoftmaxEqualizationLoss": (
        lambda: longtail.SoftmaxEqualizationLoss(
            [0.2, 0.1, 0.001, 0.0005, 0.05], generator=torch.Generator().manual_seed(0)
        ),
        C,
        C,
    ),
    # G = len(bin_split) + 2 = 5 groups, so C + 1 + G logit columns
    "GroupSoftmaxLoss": (
        lambda: longtail.GroupSoftmaxLoss(
            [900, 120, 40, 8, 3], generator=torch.Generator().manual_seed(0)
        ),
        C + 1 + 5,
        C + 1,
    ),
}


def _loss(name):
    if name in DETECTION:
        factory, cols, labels = DETECTION[name]
        return factory(), cols, labels
    return _softmax(name), C, C


def _batch(cols: int, labels: int, n: int = 32, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, cols, generator=g, dtype=torch.float64) * 3
    y = torch.randint(0, labels, (n,), generator=g)
    return x, y


def _devices():
    return [
        pytest.param("meta", id="meta"),
        pytest.param("cuda", id="cuda", marks=requires_cuda),
    ]


@contextlib.contextmanager
def _no_sync(device: str):
    if device != "cuda":
        yield
        return
    torch.cuda.set_sync_debug_mode("error")
    try:
        yield
    finally:
        torch.cuda.set_sync_debug_mode("default")


def _step(module, x, y, device):
    """Forward and backward of one batch on ``device``; returns (loss, grad) on ``device``."""
    xd = x.to(device).requires_grad_(True)
    yd = y.to(device)
    with _no_sync(device):
        loss = module(xd, yd)
        if isinstance(loss, dict):
            loss = sum(loss.values())
        loss.backward()
    return loss.detach(), xd.grad


@pytest.mark.parametrize("device", _devices())
@pytest.mark.parametrize("name", SOFTMAX + list(DETECTION))
def test_off_cpu_without_host_sync(name, device):
    module, cols, labels = _loss(name)
    module = module.to(device)
    x, y = _batch(cols, labels)
    for _ in range(3):  # stateful losses update their buffers on device
        loss, grad = _step(module, x.float(), y, device)
        assert loss.device.type == device and grad.shape == x.shape
    if device == "cuda":
        torch.cuda.synchronize()


@requires_cuda
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("name", SOFTMAX + list(DETECTION))
def test_cuda_matches_cpu_kernel(name, dtype):
    """Values, gradients and (for Seesaw / EQLv2) state over several steps on CUDA equal the
    CPU kernel's; float16/bfloat16 inputs compute in float32 on both."""
    cpu_module, cols, labels = _loss(name)
    cuda_module, _, _ = _loss(name)
    cuda_module = cuda_module.cuda()
    tol = {"rtol": 1e-6, "atol": 1e-8} if dtype == torch.float64 else {"rtol": 2e-3, "atol": 1e-4}
    if dtype in (torch.float16, torch.bfloat16):
        tol = {"rtol": 1e-2, "atol": 1e-2}
    for step in range(4):
        x, y = _batch(cols, labels, seed=step)
        x = x.to(dtype)
        want_loss, want_grad = _step(cpu_module, x, y, "cpu")
        got_loss, got_grad = _step(cuda_module, x, y, "cuda")
        torch.testing.assert_close(got_loss.cpu(), want_loss, **tol)
        torch.testing.assert_close(got_grad.cpu(), want_grad, **tol)
        for key, value in cpu_module.state_dict().items():
            torch.testing.assert_close(cuda_module.state_dict()[key].cpu(), value, **tol)


@requires_cuda
@pytest.mark.parametrize("backend", ["tch", "torch"])
def test_cuda_paths_agree(backend):
    """Both CUDA paths, the accelerator and the torch ops, give the CPU kernel's values."""
    from longtail import _accelerator, _kernels

    if backend == "tch" and _accelerator.module() is None:
        pytest.skip(f"the accelerator is {_accelerator.status()[1]}")
    x, y = _batch(C, C, n=64)
    w = torch.tensor(COUNTS, dtype=torch.float64)
    want = _kernels.softmax_loss(x, y, weight=w, gamma=1.5, reduction="none", backend="kernel")
    with _no_sync("cuda"):
        got = _kernels.softmax_loss(
            x.cuda(), y.cuda(), weight=w.cuda(), gamma=1.5, reduction="none", backend=backend
        )
    for g, k in zip(got, want, strict=True):
        torch.testing.assert_close(g.cpu(), k, rtol=1e-10, atol=1e-12)


@requires_cuda
def test_cuda_compile_matches_eager():
    module = longtail.LDAMLoss(COUNTS).cuda()
    x, y = _batch(C, C)
    x, y = x.float().cuda(), y.cuda()

    def step(z):
        z = z.detach().requires_grad_(True)
        loss = module(z, y)
        loss.backward()
        return loss.detach(), z.grad

    eager = step(x)
    compiled = torch.compile(step, fullgraph=True, backend="aot_eager")(x)
    for a, b in zip(compiled, eager, strict=True):
        torch.testing.assert_close(a, b)


@requires_cuda
def test_cuda_samplers_and_metrics():
    """The sampler and metric calls that take tensors accept CUDA tensors."""
    g = torch.Generator().manual_seed(0)
    labels = torch.multinomial(0.6 ** torch.arange(6.0), 600, replacement=True, generator=g)
    counts = longtail.class_counts(labels)
    on_cpu = longtail.samplers.ClassAwareSampler(labels, samples_per_class=2, seed=3)
    on_cuda = longtail.samplers.ClassAwareSampler(labels.cuda(), samples_per_class=2, seed=3)
    assert list(on_cpu) == list(on_cuda)
    logits = torch.randn(300, 6, generator=g)
    targets = torch.randint(0, 6, (300,), generator=g)
    want = longtail.metrics.shot_accuracy(logits, targets, counts)
    got = longtail.metrics.shot_accuracy(logits.cuda(), targets.cuda(), counts.cuda())
    for key in ("overall", "many", "medium", "few"):
        assert got[key] == pytest.approx(want[key], nan_ok=True)
    meter = longtail.metrics.ShotAccuracy(counts)
    meter.update(logits.cuda(), targets.cuda())
    assert meter.compute()["overall"] == pytest.approx(want["overall"])
