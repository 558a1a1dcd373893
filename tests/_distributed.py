"""Real multi-process ``torch.distributed`` runs for the DDP tests: one place that starts the
gloo process group, runs a test's per-rank function, and tears the group down.

Each rank writes what it computed to ``out_dir``; the test then reads the files and checks them in
the parent, so an assertion failure shows up as a normal pytest failure.
"""

from __future__ import annotations

import faulthandler
import os
import socket
import sys
import time
import warnings
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

HANG_AFTER_S = 120


def run_gloo_ranks(worker: Callable[..., None], world_size: int, out_dir: Path, *args: Any) -> None:
    """Runs ``worker(rank, world_size, out_dir, *args)`` in ``world_size`` spawned processes
    joined by one gloo group. ``worker`` must be a module-level function (spawn pickles it)."""
    if not dist.is_available():
        import pytest

        pytest.skip("torch.distributed is not available")
    mp.spawn(
        _rank_main,
        args=(worker, world_size, str(out_dir), _free_port(), args),
        nprocs=world_size,
        join=True,
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rank_main(
    rank: int,
    worker: Callable[..., None],
    world_size: int,
    out_dir: str,
    port: int,
    args: tuple[Any, ...],
) -> None:
    warnings.simplefilter("ignore")
    torch.set_num_threads(1)
    os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")
    # A rank that hangs prints its threads' stacks and fails the test instead of stalling CI.
    faulthandler.dump_traceback_later(HANG_AFTER_S, exit=True)
    timeout = timedelta(seconds=HANG_AFTER_S)
    store = dist.TCPStore("127.0.0.1", port, world_size, is_master=rank == 0, timeout=timeout)
    dist.init_process_group("gloo", store=store, rank=rank, world_size=world_size, timeout=timeout)
    worker(rank, world_size, out_dir, *args)
    # No destroy_process_group and no interpreter finalisation: under load, gloo's teardown has
    # aborted a rank (torch 2.15, "terminate called without an active exception") and hung one
    # whose peer had gone (torch 2.4). The results are on disk; the ranks only have to leave
    # together, and rank 0, which hosts the store, leaves last.
    dist.barrier()
    store.add("left", 1)
    while rank == 0 and store.add("left", 0) < world_size:
        time.sleep(0.01)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
