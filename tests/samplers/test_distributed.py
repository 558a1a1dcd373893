"""A real two-process torch.distributed (gloo) run: samplers pick up the world size and rank
by themselves, and the ranks' shards are disjoint and cover the epoch."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch
import torch.distributed as dist
from _distributed import run_gloo_ranks
from longtail import samplers as S

LABELS = (np.arange(203) * 7919) % 11


def _worker(rank: int, world_size: int, out_dir: str) -> None:
    result = {}
    for name, sampler in {
        "class_aware": S.ClassAwareSampler(LABELS, samples_per_class=2, seed=5),
        "over": S.RandomOverSampler(LABELS, seed=5),
        "weighted": S.WeightedSampler(np.ones(203), 101, seed=5),
    }.items():
        sampler.set_epoch(3)
        result[name] = {
            "num_replicas": sampler.num_replicas,
            "rank": sampler.rank,
            "len": len(sampler),
            "indices": list(sampler),
        }
    # Every rank must also agree on the global epoch: compare through the process group.
    mine = torch.from_numpy(S.ClassAwareSampler(LABELS, seed=5).epoch_indices(3))
    gathered = [torch.empty_like(mine) for _ in range(world_size)]
    dist.all_gather(gathered, mine)
    result["same_global_epoch"] = all(torch.equal(g, mine) for g in gathered)
    with open(os.path.join(out_dir, f"rank{rank}.json"), "w") as f:
        json.dump(result, f)


@pytest.mark.slow
def test_two_gloo_ranks_shard_the_epoch(tmp_path):
    run_gloo_ranks(_worker, 2, tmp_path)
    results = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]
    for r, res in enumerate(results):
        assert res["same_global_epoch"]
        for name in ("class_aware", "over", "weighted"):
            assert (res[name]["num_replicas"], res[name]["rank"]) == (2, r)
            assert len(res[name]["indices"]) == res[name]["len"]
    for name, make in {
        "class_aware": lambda: S.ClassAwareSampler(LABELS, samples_per_class=2, seed=5),
        "over": lambda: S.RandomOverSampler(LABELS, seed=5),
        "weighted": lambda: S.WeightedSampler(np.ones(203), 101, seed=5),
    }.items():
        full = make().epoch_indices(3).tolist()
        a, b = results[0][name]["indices"], results[1][name]["indices"]
        assert len(a) == len(b) == -(-len(full) // 2)
        # Positions 0, 2, 4, ... go to rank 0 and 1, 3, 5, ... to rank 1 (padding wraps).
        padded = full + full[: 2 * len(a) - len(full)]
        assert a == padded[0::2] and b == padded[1::2]
        # Disjoint as positions of the epoch, and together complete.
        assert sorted(a + b) == sorted(padded)
