"""Benchmark: producing and iterating one epoch with longtail's samplers.

Profiles: exponential long tail n_i ∝ 100^(-i/(C-1)) (imbalance ratio 100), N = 1e5, 1e6, 1e7
labels over C = 1000 classes, and N = 1e6 over C = 10000 (``--quick``: N = 1e4, 1e5 over
C = 100, 1000). Baselines measured in the same run:

* write floor: allocating and writing the same number of int64 values (``np.arange``);
* list floor: iterating the same number of Python ints from a ready list;
* ``torch.utils.data.WeightedRandomSampler`` with the equivalent (class-balanced) per-sample
  weights, and raw ``torch.multinomial`` with them;
* a pure-Python class-aware sampler written as the decoupling code writes it
  (``RandomCycleIter`` + ``class_aware_sample_generator``). At large sizes it is timed on a
  prefix of the epoch and scaled per draw (marked ``*``).

Times are medians of ``--repeats`` runs (slow baselines at the largest size run once).
Memory is the peak resident growth while building one epoch (Linux ``VmHWM``, reset through
``/proc/self/clear_refs``), which also sees the Rust allocations tracemalloc cannot, divided by
the size of the epoch's int64 index array.

Run with a release build of the extension: ``python benches/python/bench_samplers.py``.
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator

import numpy as np
import torch
from longtail import samplers as S

PREFIX_DRAWS = 2_000_000  # pure-Python class-aware draws timed at large sizes


def long_tail_labels(n: int, c: int, seed: int = 0) -> np.ndarray:
    ratio = 100.0 ** (-np.arange(c) / (c - 1))
    counts = np.maximum(1, np.round(n * ratio / ratio.sum())).astype(np.int64)
    labels = np.repeat(np.arange(c), counts)
    return np.random.default_rng(seed).permutation(labels)


def median_time(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        gc.collect()
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def consume(it) -> None:
    for _ in it:
        pass


def _vm(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1]) * 1024
    raise RuntimeError(field)


def peak_growth_subprocess(name: str, n: int, c: int) -> float:
    """Peak RSS growth of one ``epoch_indices()`` of sampler ``name``, measured in a fresh
    process whose malloc maps every large block afresh (so freed memory is not reused)."""
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536"}
    cmd = [sys.executable, __file__, "--memory-probe", name, str(n), str(c)]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
    return float(out.strip().splitlines()[-1])


def make_samplers(labels: np.ndarray) -> dict[str, S._EpochSampler]:
    counts = np.bincount(labels)
    weights = 1.0 / counts[labels]  # class-balanced per-sample weights
    return {
        "ClassAwareSampler": S.ClassAwareSampler(labels, seed=0),
        "ClassBalancedSampler": S.ClassBalancedSampler(labels, seed=0),
        "SquareRootSampler": S.SquareRootSampler(labels, seed=0),
        "WeightedSampler": S.WeightedSampler(weights, len(labels), seed=0),
        "RandomOverSampler": S.RandomOverSampler(labels, seed=0),
    }


def memory_probe(name: str, n: int, c: int) -> None:
    sampler = make_samplers(long_tail_labels(n, c))[name]
    print(peak_growth(sampler.epoch_indices) / (8 * len(sampler)))


def peak_growth(fn: Callable[[], object]) -> float:
    """Peak resident bytes above the starting point while ``fn`` runs (its result kept)."""
    gc.collect()
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return float("nan")
    before = _vm("VmRSS")
    result = fn()
    peak = _vm("VmHWM")
    del result
    return peak - before


# -- the decoupling code's class-aware sampler, in its own style (private Random) -------------


class RandomCycleIter:
    def __init__(self, data, rng: random.Random) -> None:
        self.data_list = list(data)
        self.length = len(self.data_list)
        self.i = self.length - 1
        self.rng = rng

    def __iter__(self) -> RandomCycleIter:
        return self

    def __next__(self):
        self.i += 1
        if self.i == self.length:
            self.i = 0
            self.rng.shuffle(self.data_list)
        return self.data_list[self.i]


def class_aware_sample_generator(cls_iter, data_iter_list, n, num_samples_cls=1) -> Iterator[int]:
    i = 0
    j = 0
    while i < n:
        if j >= num_samples_cls:
            j = 0
        if j == 0:
            temp_tuple = next(
                zip(*[data_iter_list[next(cls_iter)]] * num_samples_cls, strict=False)
            )
            yield temp_tuple[j]
        else:
            yield temp_tuple[j]
        i += 1
        j += 1


def python_class_aware(labels: list[int], num_classes: int, draws: int) -> None:
    rng = random.Random(0)
    class_iter = RandomCycleIter(range(num_classes), rng)
    cls_data_list = [[] for _ in range(num_classes)]
    for i, label in enumerate(labels):
        cls_data_list[label].append(i)
    data_iter_list = [RandomCycleIter(x, rng) for x in cls_data_list]
    consume(class_aware_sample_generator(class_iter, data_iter_list, draws, 1))


# -- the run ----------------------------------------------------------------------------------


def fmt_t(t: float) -> str:
    return f"{t * 1e3:9.1f} ms" if t < 10 else f"{t:9.2f} s "


def run(n: int, c: int, repeats: int, slow_once: bool) -> list[tuple]:
    n_asked = n
    labels = long_tail_labels(n, c)
    n = len(labels)
    weights = 1.0 / np.bincount(labels)[labels]
    rows = []
    slow_repeats = 1 if slow_once else repeats

    samplers = make_samplers(labels)
    wt = torch.from_numpy(weights)
    for name, s in samplers.items():
        length = len(s)
        write = median_time(lambda length=length: np.arange(length, dtype=np.int64), repeats)
        ready = list(range(length))
        list_floor = median_time(lambda ready=ready: consume(ready), repeats)
        del ready
        arr = np.arange(length, dtype=np.int64)
        tolist_floor = median_time(lambda arr=arr: consume(arr.tolist()), repeats)
        del arr
        gen = median_time(s.epoch_indices, repeats)
        to_iter = median_time(lambda s=s: iter(s), repeats)  # generate + shard + tolist
        whole = median_time(lambda s=s: consume(s), repeats)
        mem = peak_growth_subprocess(name, n_asked, c)
        row = {
            "profile": f"N={n:.0e} C={c}",
            "sampler": name,
            "epoch": length,
            "gen": gen,
            "write": write,
            "iter": whole,
            "iter_list": list_floor,
            "iter_tolist": tolist_floor,
            "to_iter": to_iter,
            "mem": mem,
        }
        if name == "ClassAwareSampler":
            draws = length if (length <= PREFIX_DRAWS or not slow_once) else PREFIX_DRAWS
            lab = labels.tolist()
            t_py = median_time(lambda d=draws, lab=lab: python_class_aware(lab, c, d), slow_repeats)
            row["python_ca"] = t_py * length / draws
            row["python_ca_scaled"] = draws < length
        if name in ("ClassBalancedSampler", "WeightedSampler"):
            wrs = torch.utils.data.WeightedRandomSampler(
                wt, n, generator=torch.Generator().manual_seed(0)
            )
            row["wrs"] = median_time(lambda wrs=wrs: consume(wrs), slow_repeats)
            g = torch.Generator().manual_seed(0)
            row["multinomial"] = median_time(
                lambda g=g: torch.multinomial(wt, n, replacement=True, generator=g),
                slow_repeats,
            )
        rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller profiles")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--memory-probe", nargs=3, metavar=("SAMPLER", "N", "C"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.memory_probe:
        name, n, c = args.memory_probe
        memory_probe(name, int(n), int(c))
        return
    profiles = (
        [(10_000, 100), (100_000, 1000)]
        if args.quick
        else [(100_000, 1000), (1_000_000, 1000), (10_000_000, 1000), (1_000_000, 10_000)]
    )
    print(f"torch {torch.__version__}, threads={torch.get_num_threads()}, repeats={args.repeats}")
    head = (
        f"{'profile':<16} {'sampler':<21} {'epoch':>9} {'generate':>12} {'gen/write':>9} "
        f"{'iterate':>12} {'iter/list':>9} {'it/tolist':>9} {'mem/idx':>7} "
        f"{'pyCA/gen':>10} {'pyCA/iter':>9} {'WRS/iter':>9} {'mult/gen':>9}"
    )
    print(head)
    print("-" * len(head))
    for n, c in profiles:
        slow_once = n >= 10_000_000
        for r in run(n, c, args.repeats, slow_once):
            py = (
                f"{r['python_ca'] / r['gen']:9.0f}{'*' if r['python_ca_scaled'] else ' '} "
                f"{r['python_ca'] / r['iter']:9.1f}"
                if "python_ca" in r
                else f"{'':>20}"
            )
            wrs = f"{r['wrs'] / r['iter']:9.1f}" if "wrs" in r else f"{'':>9}"
            mult = f"{r['multinomial'] / r['gen']:9.1f}" if "multinomial" in r else f"{'':>9}"
            print(
                f"{r['profile']:<16} {r['sampler']:<21} {r['epoch']:>9} {fmt_t(r['gen'])} "
                f"{r['gen'] / r['write']:9.2f} {fmt_t(r['iter'])} "
                f"{r['iter'] / r['iter_list']:9.2f} {r['iter'] / r['iter_tolist']:9.2f} "
                f"{r['mem']:7.2f} {py} {wrs} {mult}"
            )
    print(
        "\ngenerate = epoch_indices() (Rust, GIL released); iterate = `for i in sampler` "
        "(generate + tolist + loop); iter/list = iterate / iterating a ready list of as many "
        "ints; it/tolist = iterate / (tolist + iterate) of a ready int64 array, the floor for "
        "any sampler that must create its Python ints; mem/idx = peak RSS growth of one "
        "generate, in a fresh process / "
        "(8 bytes x epoch); pyCA/gen, pyCA/iter = pure-Python class-aware epoch (produce and "
        "iterate) / our generate, / our iterate; * = scaled from a 2e6-draw prefix; WRS/iter = "
        "WeightedRandomSampler iteration / our iteration; mult/gen = torch.multinomial / our "
        "generate."
    )


if __name__ == "__main__":
    main()
