"""MetaSampler under DDP: ranks draw disjoint streams, and one meta step averages the ranks'
logit gradients, so every rank ends with the logits of a single process whose meta step saw
every rank's batch. Checked against an in-process simulation, then with two gloo processes."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from _distributed import run_gloo_ranks
from longtail.samplers import MetaSampler
from torch import nn

LABELS = np.repeat(np.arange(6), [60, 30, 15, 8, 4, 2])
FEATURES = torch.randn(len(LABELS), 5, generator=torch.Generator().manual_seed(3))
META_X = torch.randn(12, 5, generator=torch.Generator().manual_seed(4))
META_Y = torch.arange(12) % 6


def _classifier() -> nn.Linear:
    fc = nn.Linear(5, 6).double()
    with torch.no_grad():
        gen = torch.Generator().manual_seed(5)
        fc.weight.copy_(torch.randn(6, 5, generator=gen, dtype=torch.float64))
        fc.bias.copy_(torch.randn(6, generator=gen, dtype=torch.float64))
    return fc


def _first_batch_step(sampler: MetaSampler) -> tuple[list[int], torch.Tensor]:
    """Draws the first batch and takes its meta step; returns the indices and the logits."""
    indices = next(iter(sampler))
    idx = torch.tensor(indices)
    sampler.step(
        _classifier(),
        FEATURES[idx].double(),
        torch.from_numpy(LABELS)[idx],
        META_X.double(),
        META_Y,
        lr=0.5,
    )
    return indices, sampler.logits.detach().clone()


def _expected_logits() -> tuple[list[list[int]], torch.Tensor]:
    """Each rank's batch and gradient computed apart (no process group), then one Adam step
    with the mean gradient."""
    batches, grads = [], []
    for rank in range(2):
        sampler = MetaSampler(LABELS, batch_size=16, seed=7, num_replicas=2, rank=rank)
        indices, _ = _first_batch_step(sampler)
        batches.append(indices)
        grads.append(sampler.logits.grad.clone())
    reference = MetaSampler(LABELS, batch_size=16, seed=7, num_replicas=2, rank=0)
    reference.logits.grad = (grads[0] + grads[1]) / 2
    reference.optimizer.step()
    return batches, reference.logits.detach().clone()


def test_ranks_draw_different_batches_and_the_default_world_is_one_process():
    (b0, b1), _ = _expected_logits()
    assert b0 != b1
    single = MetaSampler(LABELS, batch_size=16, seed=7)
    assert (single.num_replicas, single.rank) == (1, 0)
    assert len(single) == len(LABELS) // 16
    assert len(MetaSampler(LABELS, batch_size=16, seed=7, num_replicas=2, rank=1)) == (
        len(LABELS) // 32
    )


def test_rank_out_of_range_is_rejected():
    with pytest.raises(ValueError, match="rank"):
        MetaSampler(LABELS, batch_size=16, num_replicas=2, rank=2)


def _worker(rank: int, world_size: int, out_dir: str) -> None:
    sampler = MetaSampler(LABELS, batch_size=16, seed=7)  # world and rank from dist
    indices, logits = _first_batch_step(sampler)
    torch.save(
        {"rank": sampler.rank, "indices": indices, "logits": logits},
        os.path.join(out_dir, f"rank{rank}.pt"),
    )


@pytest.mark.slow
def test_two_gloo_ranks_share_one_meta_step(tmp_path):
    run_gloo_ranks(_worker, 2, tmp_path)
    batches, expected = _expected_logits()
    for rank in range(2):
        out = torch.load(tmp_path / f"rank{rank}.pt", weights_only=True)
        assert out["rank"] == rank
        assert out["indices"] == batches[rank]
        torch.testing.assert_close(out["logits"], expected, rtol=0, atol=1e-12)
    assert not torch.equal(
        expected, MetaSampler.initial_logits(torch.bincount(torch.from_numpy(LABELS)).double())
    )
