"""Lightning (pytorch-lightning 2.6) trains with a longtail sampler and SeesawLoss under
``Trainer(accelerator="cpu", devices=2, strategy="ddp", use_distributed_sampler=False)``:
the ranks see disjoint, complete shards, the Seesaw counts are equal on both ranks and equal to
a single-process run over the global batches, and a mid-epoch checkpoint resume restores the
loss state and the sampler position. The script runs in a subprocess (Lightning's DDP launcher
re-runs it per rank), see lightning_ddp_script.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import longtail
import numpy as np
import pytest
import torch

pytest.importorskip("pytorch_lightning")
pytest.importorskip("torchdata.stateful_dataloader")

from longtail import SeesawLoss
from longtail.samplers import ClassBalancedSampler

SCRIPT = os.path.join(os.path.dirname(__file__), "lightning_ddp_script.py")
COUNTS = [20, 8, 4, 2, 2]
LABELS = np.concatenate([np.full(n, c) for c, n in enumerate(COUNTS)])


def _run(out_dir, tag, *extra):
    env = dict(os.environ)
    # the children import the same longtail as the tests (the installed wheel in CI)
    python_dir = os.path.dirname(os.path.dirname(os.path.abspath(longtail.__file__)))
    env["PYTHONPATH"] = os.pathsep.join([python_dir, env.get("PYTHONPATH", "")])
    env.pop("LOCAL_RANK", None)
    proc = subprocess.run(
        [sys.executable, SCRIPT, str(out_dir), tag, *extra],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    runs = []
    for rank in (0, 1):
        with open(os.path.join(out_dir, f"{tag}_rank{rank}.json")) as f:
            runs.append(json.load(f))
    return runs


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("lightning_ddp")
    full = _run(out, "full")
    resumed = _run(out, "resumed", str(out / "ckpt" / "step=4.ckpt"))
    return full, resumed


@pytest.mark.slow
def test_ranks_see_disjoint_complete_shards(runs):
    full, _ = runs
    assert [r["world_size"] for r in full] == [2, 2]
    for epoch in (0, 1):
        shards = [
            [i for e in r["record"] if e["epoch"] == epoch for i in e["indices"]] for r in full
        ]
        for rank, shard in enumerate(shards):
            sampler = ClassBalancedSampler(LABELS, seed=7, num_replicas=2, rank=rank)
            sampler.set_epoch(epoch)
            assert shard == list(sampler)  # the sampler's own shard, in order
        whole = ClassBalancedSampler(LABELS, seed=7, num_replicas=1, rank=0)
        whole.set_epoch(epoch)
        assert sorted(shards[0] + shards[1]) == sorted(whole)  # together: the whole epoch
        assert len(shards[0]) == len(shards[1]) == len(LABELS) // 2


@pytest.mark.slow
def test_seesaw_counts_are_global_and_equal_a_single_process_run(runs):
    full, _ = runs
    rank0, rank1 = (r["record"] for r in full)
    single = SeesawLoss(num_classes=len(COUNTS))
    for step0, step1 in zip(rank0, rank1, strict=True):
        assert step0["step"] == step1["step"]
        assert step0["cum"] == step1["cum"]
        # The single process sees the global batch: both ranks' samples of this step.
        labels = torch.tensor(step0["labels"] + step1["labels"])
        single(torch.zeros(len(labels), len(COUNTS), requires_grad=True), labels)
        assert step0["cum"] == single.cum_samples.tolist()
    assert full[0]["final_cum"] == full[1]["final_cum"] == single.cum_samples.tolist()


@pytest.mark.slow
def test_checkpoint_resume_restores_loss_state_and_sampler_position(runs):
    full, resumed = runs
    for rank in (0, 1):
        after = [e for e in full[rank]["record"] if e["step"] >= 4]
        got = resumed[rank]["record"]
        assert [e["step"] for e in got] == [e["step"] for e in after]
        assert [e["indices"] for e in got] == [e["indices"] for e in after]  # sampler position
        assert [e["cum"] for e in got] == [e["cum"] for e in after]  # loss state
        assert resumed[rank]["final_cum"] == full[rank]["final_cum"]
