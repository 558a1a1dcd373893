"""torchdata's real StatefulDataLoader resumes mid-epoch with every longtail sampler, with and
without workers, to the same remaining index sequence."""

from __future__ import annotations

import itertools
import os
import sys

import numpy as np
import pytest
import torch

stateful_dataloader = pytest.importorskip("torchdata.stateful_dataloader")
StatefulDataLoader = stateful_dataloader.StatefulDataLoader

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(__file__)), "samplers"))
from longtail.compat.detectron2 import RepeatFactorTrainingSampler  # noqa: E402
from sampler_helpers import FACTORIES, long_tail_labels  # noqa: E402

LABELS = long_tail_labels()

# torchdata 0.11 probes torch.set_vital, which torch 2.13 deprecates.
pytestmark = pytest.mark.filterwarnings("ignore:'set_vital' is deprecated:UserWarning")


class IndexDataset(torch.utils.data.Dataset):
    def __len__(self) -> int:
        return len(LABELS)

    def __getitem__(self, i: int) -> int:
        return i


def _make(name):
    if name == "detectron2":
        return RepeatFactorTrainingSampler(torch.linspace(0.5, 3.5, len(LABELS)), seed=3)
    return FACTORIES[name](LABELS, seed=3)


def _batches(loader, limit):
    return [b.tolist() for b in itertools.islice(loader, limit)]


@pytest.mark.parametrize("num_workers", [0, 2])
@pytest.mark.parametrize("name", [*sorted(FACTORIES), "detectron2"])
def test_resume_mid_epoch_gives_the_remaining_indices(name, num_workers):
    kw = {"batch_size": 4, "num_workers": num_workers}
    if num_workers:
        kw["multiprocessing_context"] = "spawn" if sys.platform == "darwin" else "fork"
    limit = 12 if name == "detectron2" else None  # the detectron2 stream never ends
    loader = StatefulDataLoader(IndexDataset(), sampler=_make(name), **kw)
    sampler_epoch = loader.sampler
    if hasattr(sampler_epoch, "set_epoch"):
        sampler_epoch.set_epoch(2)
    epoch_length = 10**9 if limit else len(list(_make_epoch(name)))
    it = iter(loader)
    # Stop mid-epoch: three batches in, or one for the short under-sampled epoch.
    head = [next(it).tolist() for _ in range(max(1, min(3, epoch_length // 4 - 1)))]
    state = loader.state_dict()
    rest = _batches(it, limit)
    assert rest, "the epoch should go on after the head"

    resumed = StatefulDataLoader(IndexDataset(), sampler=_make(name), **kw)
    if hasattr(resumed.sampler, "set_epoch"):
        resumed.sampler.set_epoch(2)
    resumed.load_state_dict(state)
    assert _batches(resumed, limit) == rest
    # and the whole epoch is the sampler's own sequence
    if limit is None:
        full = np.concatenate([np.asarray(b) for b in head + rest])
        np.testing.assert_array_equal(full, np.fromiter(iter(_make_epoch(name)), dtype=np.int64))


def _make_epoch(name):
    sampler = _make(name)
    if hasattr(sampler, "set_epoch"):
        sampler.set_epoch(2)
    return sampler
