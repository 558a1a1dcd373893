"""Stateful detection losses under torch.distributed: two gloo processes, each with half of
every global batch, end with the state of one process that saw the whole global batches; and
each rank's loss uses the counts of the global batch (Seesaw counts before the loss)."""

from __future__ import annotations

import os

import pytest
import torch
from _distributed import run_gloo_ranks
from longtail import functional as F
from longtail.losses import EQLv2Loss, SeesawLoss

C = 5
WORLD = 2
STEPS = 4


def _batches():
    g = torch.Generator().manual_seed(0)
    out = []
    for _ in range(STEPS):
        n = 16
        y = torch.randint(0, C + 1, (n,), generator=g)
        x_seesaw = torch.randn(n, C + 2, generator=g, dtype=torch.float64) * 2
        x_eqlv2 = torch.randn(n, C + 1, generator=g, dtype=torch.float64) * 2
        out.append((x_seesaw, x_eqlv2, y))
    return out


def _worker(rank: int, world_size: int, out_dir: str) -> None:
    seesaw = SeesawLoss(C, mode="objectness").double()
    eqlv2 = EQLv2Loss(C).double()
    losses = []
    for xs, xe, y in _batches():
        part = slice(rank * len(y) // WORLD, (rank + 1) * len(y) // WORLD)
        xs_l = xs[part].clone().requires_grad_()
        xe_l = xe[part].clone().requires_grad_()
        ls = seesaw(xs_l, y[part], avg_factor=8.0)
        le = eqlv2(xe_l, y[part])
        (ls + le).backward()
        losses.append((ls.detach(), le.detach(), seesaw.cum_samples.clone()))
    torch.save(
        {"seesaw": seesaw.state_dict(), "eqlv2": eqlv2.state_dict(), "losses": losses},
        os.path.join(out_dir, f"rank{rank}.pt"),
    )


@pytest.mark.slow
def test_two_process_state_equals_single_process(tmp_path):
    run_gloo_ranks(_worker, WORLD, tmp_path)
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(WORLD)]
    seesaw = SeesawLoss(C, mode="objectness").double()
    eqlv2 = EQLv2Loss(C).double()
    pos_neg_before = []
    for xs, xe, y in _batches():
        pos_neg_before.append(eqlv2.pos_neg.clone())
        seesaw(xs, y, avg_factor=8.0)
        eqlv2(xe, y)
    for r, res in enumerate(ranks):
        torch.testing.assert_close(res["seesaw"]["cum_samples"], seesaw.cum_samples, rtol=0, atol=0)
        for name in ("pos_grad", "neg_grad", "pos_neg"):
            torch.testing.assert_close(
                res["eqlv2"][name], getattr(eqlv2, name), rtol=1e-12, atol=1e-12
            )
        # Each rank's local losses: Seesaw with the global counts of that step (already
        # including the step's global batch), EQLv2 with the global statistics of before it.
        for (xs, xe, y), (ls, le, counts), pn in zip(
            _batches(), res["losses"], pos_neg_before, strict=True
        ):
            part = slice(r * len(y) // WORLD, (r + 1) * len(y) // WORLD)
            torch.testing.assert_close(
                ls, F.seesaw_loss(xs[part], y[part], counts, mode="objectness", avg_factor=8.0)
            )
            torch.testing.assert_close(le, F.eqlv2_loss(xe[part], y[part], pn))
