"""The Rust kernels run on a rayon pool; after ``fork()`` (DataLoader workers on Linux) the
child inherits a pool whose threads do not exist. The extension switches to serial work in
such children: a loss computed in a forked child must finish and be right."""

import multiprocessing as mp
import sys

import longtail.functional as LF
import pytest
import torch
import torch.nn.functional as F


def _child(queue) -> None:
    # As DataLoader workers do: torch's own OpenMP pool is not fork-safe either.
    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(512, 300, generator=gen, dtype=torch.float64)
    y = torch.randint(0, 300, (512,), generator=gen)
    ours = LF.focal_loss(x, y, gamma=0.0)
    queue.put(float((ours - F.cross_entropy(x, y)).abs()))


@pytest.mark.skipif(sys.platform != "linux", reason="fork start method")
# Python >= 3.12 warns that forking a multi-threaded process may deadlock: the point here.
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_kernel_runs_in_a_forked_child_after_the_parent_used_the_pool():
    # Large enough to go parallel in the parent first.
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2048, 500, generator=gen)
    y = torch.randint(0, 500, (2048,), generator=gen)
    LF.focal_loss(x, y, gamma=0.0)
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(queue,))
    proc.start()
    proc.join(timeout=180)
    alive = proc.is_alive()
    if alive:
        proc.kill()
    assert not alive, "the forked child hung"
    assert proc.exitcode == 0
    assert queue.get(timeout=5) < 1e-12
