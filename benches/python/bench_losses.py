"""Forward+backward time and peak extra memory of longtail's softmax-family losses on CPU,
against ``F.cross_entropy`` and against each loss written as plain PyTorch ops the way its
official code writes it, all measured in the same run.

Method (kornia's): float32, fixed seeds, ``torch.utils.benchmark`` medians with IQR, each
measurement ``x.grad = None; loss(x, y).backward()`` on a leaf ``x``. Peak extra memory is the
peak of what the call allocates through PyTorch's allocator (profiler memory records), the
gradient of ``x`` included, in units of one (N, C) float32 buffer. The
bandwidth bound of a fused loss is one read of the logits and one write of the gradient,
``2·N·C·4 bytes`` at the measured copy bandwidth.

Run: ``python benches/python/bench_losses.py [--quick]``.
"""

from __future__ import annotations

import argparse
import math
import os

import longtail
import torch
import torch.nn.functional as F
from longtail import weights as W
from torch.profiler import ProfilerActivity, profile
from torch.utils import benchmark


def copy_bandwidth() -> float:
    """Bytes per second of a large ``copy_`` (read + write both counted)."""
    src = torch.ones(64 * 1024 * 1024 // 4 * 4)  # 256 MiB
    dst = torch.empty_like(src)
    t = benchmark.Timer("dst.copy_(src)", globals={"src": src, "dst": dst}).blocked_autorange(
        min_run_time=1.0
    )
    return 2 * src.numel() * 4 / t.median


def peak_extra_bytes(fn, x, y) -> int:
    """Peak of the bytes allocated through PyTorch's CPU allocator during one forward+backward
    (the kernel's tensors included: tch allocates through the same allocator), from the
    profiler's per-op memory records in time order. ``x.grad`` counts as allocated."""
    x.grad = None
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)  # the profiler prints start/stop lines on stderr
    try:
        with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
            fn(x, y).backward()
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
    x.grad = None
    current = peak = 0
    for event in sorted(prof.events(), key=lambda e: e.time_range.start):
        current += event.self_cpu_memory_usage
        peak = max(peak, current)
    return peak


def timed(fn, x, y) -> tuple[float, float]:
    def step():
        x.grad = None
        fn(x, y).backward()

    m = benchmark.Timer("step()", globals={"step": step}).blocked_autorange(min_run_time=1.0)
    iqr = m.iqr if len(m.times) >= 4 else 0.0
    return m.median, iqr


def official_formulations(counts: torch.Tensor, c: int):
    """Each loss as plain PyTorch ops, the way the cited official code writes it."""
    prior = counts / counts.sum()
    la_offsets = torch.log(prior + 1e-12).float()
    log_counts = counts.log().float()
    margins = counts.pow(-0.25)
    margins = (margins * (0.5 / margins.max())).float()
    cb = W.effective_number(counts, 0.9999)
    drw = W.drw(counts, 200)

    def ldam(x, y):  # kaidic/LDAM-DRW losses.py::LDAMLoss
        index = torch.zeros_like(x, dtype=torch.uint8).scatter_(1, y.view(-1, 1), 1)
        batch_m = torch.matmul(margins[None, :], index.float().t()).view(-1, 1)
        output = torch.where(index.bool(), x - batch_m, x)
        return F.cross_entropy(30.0 * output, y, weight=drw)

    def focal(x, y):  # kaidic/LDAM-DRW losses.py::FocalLoss (gamma=2 here)
        ce = F.cross_entropy(x, y, reduction="none")
        p = torch.exp(-ce)
        return ((1 - p) ** 2.0 * ce).mean()

    return {
        "weighted_ce": lambda x, y: F.cross_entropy(x, y, weight=cb),
        "focal": focal,
        "class_balanced": lambda x, y: (cb[y] * F.cross_entropy(x, y, reduction="none")).mean(),
        "ldam": ldam,
        "logit_adjusted": lambda x, y: F.cross_entropy(x + la_offsets, y),
        "balanced_softmax": lambda x, y: F.cross_entropy(x + log_counts, y),
    }


def ours(counts: torch.Tensor):
    drw = W.drw(counts, 200)
    return {
        "weighted_ce": longtail.WeightedCrossEntropyLoss(counts, weighting="effective_number"),
        "focal": longtail.FocalLoss(gamma=2.0),
        "class_balanced": longtail.ClassBalancedLoss(counts, beta=0.9999),
        "ldam": longtail.LDAMLoss(counts, max_margin=0.5, scale=30.0, weight=drw),
        "logit_adjusted": longtail.LogitAdjustedLoss(counts, tau=1.0),
        "balanced_softmax": longtail.BalancedSoftmaxLoss(counts),
    }


def functional_forms(counts: torch.Tensor):
    """The same losses through their functional forms, with the counts tensor passed on every
    call (the per-class tensors derived from it are kept between calls while it is unchanged)."""
    from longtail import functional as LF

    drw = W.drw(counts, 200)
    return {
        "weighted_ce": lambda x, y: LF.weighted_cross_entropy(
            x, y, counts, weighting="effective_number"
        ),
        "focal": lambda x, y: LF.focal_loss(x, y, gamma=2.0),
        "class_balanced": lambda x, y: LF.class_balanced_loss(x, y, counts, beta=0.9999),
        "ldam": lambda x, y: LF.ldam_loss(x, y, counts, max_margin=0.5, scale=30.0, weight=drw),
        "logit_adjusted": lambda x, y: LF.logit_adjusted_loss(x, y, counts, tau=1.0),
        "balanced_softmax": lambda x, y: LF.balanced_softmax_loss(x, y, counts),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller shapes, for a smoke run")
    args = parser.parse_args()
    shapes = [(256, 100), (1024, 1000)] if args.quick else [(256, 100), (1024, 1000), (8192, 1204)]
    bw = copy_bandwidth()
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads; "
        f"copy bandwidth {bw / 1e9:.2f} GB/s\n"
    )
    gen = torch.Generator().manual_seed(0)
    for n, c in shapes:
        counts = torch.tensor(
            [max(1, int(1000 * 0.01 ** (i / max(c - 1, 1)))) for i in range(c)], dtype=torch.float64
        )
        x = torch.randn(n, c, generator=gen).requires_grad_()
        y = torch.randint(0, c, (n,), generator=gen)
        bound = 2 * n * c * 4 / bw
        ce_t, ce_iqr = timed(F.cross_entropy, x, y)
        ce_mem = peak_extra_bytes(F.cross_entropy, x, y)
        buf = n * c * 4
        print(
            f"(N, C) = ({n}, {c}); bandwidth bound {bound * 1e3:.3f} ms; "
            f"one (N, C) float32 buffer = {buf / 2**20:.1f} MiB"
        )
        print(
            f"  {'F.cross_entropy':<18} {ce_t * 1e3:8.3f} ms (IQR {ce_iqr * 1e3:.3f})  "
            f"{ce_t / bound:6.1f}x bound  extra mem {ce_mem / buf:5.2f} buffers"
        )
        print(
            f"  {'loss':<18} {'ours ms':>10} {'vs F.ce':>8} {'plain ms':>10} {'speedup':>8} "
            f"{'x bound':>8} {'mem ours':>9} {'mem plain':>10} {'fn/Module':>16}"
        )
        plain = official_formulations(counts, c)
        functional = functional_forms(counts)
        for name, module in ours(counts).items():
            t, _ = timed(module, x, y)
            tp, _ = timed(plain[name], x, y)
            # Functional form against its Module, interleaved twice (A B A B).
            fn_ratios = []
            for _ in range(2):
                tm, _ = timed(module, x, y)
                tf, _ = timed(functional[name], x, y)
                fn_ratios.append(tf / tm)
            mem = peak_extra_bytes(module, x, y)
            memp = peak_extra_bytes(plain[name], x, y)
            with torch.no_grad():
                diff = (module(x, y) - plain[name](x, y)).abs().item()
            assert math.isfinite(diff) and diff < 1e-3, f"{name}: ours and plain differ by {diff}"
            with torch.no_grad():
                same = (module(x, y) - functional[name](x, y)).abs().item()
            assert same < 1e-5, f"{name}: Module and functional form differ by {same}"
            print(
                f"  {name:<18} {t * 1e3:10.3f} {t / ce_t:8.2f} {tp * 1e3:10.3f} {tp / t:8.2f} "
                f"{t / bound:8.1f} {mem / buf:9.2f} {memp / buf:10.2f} "
                f"{fn_ratios[0]:7.2f} {fn_ratios[1]:7.2f}x"
            )
        print()


if __name__ == "__main__":
    main()
