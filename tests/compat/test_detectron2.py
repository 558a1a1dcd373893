"""longtail.compat.detectron2 against detectron2's RepeatFactorTrainingSampler: its
tests/data/test_sampler.py cases, and its stream (detectron2/data/samplers/
distributed_sampler.py) written out, compared index for index."""

from __future__ import annotations

import itertools
import math
from collections import defaultdict

import numpy as np
import pytest
import torch
from longtail.compat import detectron2 as d2
from longtail.compat.detectron2 import RepeatFactorTrainingSampler


def detectron2_factors(dataset_dicts, repeat_thresh, sqrt=True):
    category_freq = defaultdict(int)
    for dataset_dict in dataset_dicts:
        for cat_id in {ann["category_id"] for ann in dataset_dict["annotations"]}:
            category_freq[cat_id] += 1
    num_images = len(dataset_dicts)
    for k, v in category_freq.items():
        category_freq[k] = v / num_images
    category_rep = {
        cat_id: max(1.0, math.sqrt(repeat_thresh / f) if sqrt else repeat_thresh / f)
        for cat_id, f in category_freq.items()
    }
    rep_factors = []
    for dataset_dict in dataset_dicts:
        cat_ids = {ann["category_id"] for ann in dataset_dict["annotations"]}
        rep_factors.append(max({category_rep[c] for c in cat_ids}, default=1.0))
    return torch.tensor(rep_factors, dtype=torch.float32)


def detectron2_stream(repeat_factors, seed, shuffle=True, rank=0, world_size=1):
    int_part = torch.trunc(repeat_factors)
    frac_part = repeat_factors - int_part

    def infinite():
        g = torch.Generator()
        g.manual_seed(seed)
        while True:
            rands = torch.rand(len(frac_part), generator=g)
            rep = int_part + (rands < frac_part).float()
            indices = []
            for dataset_index, rep_factor in enumerate(rep):
                indices.extend([dataset_index] * int(rep_factor.item()))
            indices = torch.tensor(indices, dtype=torch.int64)
            if shuffle:
                yield from indices[torch.randperm(len(indices), generator=g)].tolist()
            else:
                yield from indices.tolist()

    return itertools.islice(infinite(), rank, None, world_size)


def _lvis_like(num_images=40, seed=0):
    rng = np.random.default_rng(seed)
    dicts = []
    for _ in range(num_images):
        k = int(rng.integers(0, 4))
        cats = rng.zipf(1.6, size=k) % 25
        dicts.append({"annotations": [{"category_id": int(c), "bbox": [0, 0, 1, 1]} for c in cats]})
    return dicts


# detectron2 tests/data/test_sampler.py::TestRepeatFactorTrainingSampler
# ::test_repeat_factors_from_category_frequency
def test_repeat_factors_from_category_frequency():
    repeat_thresh = 0.5
    dataset_dicts = [
        {"annotations": [{"category_id": 0}, {"category_id": 1}]},
        {"annotations": [{"category_id": 0}]},
        {"annotations": []},
    ]
    rep_factors = RepeatFactorTrainingSampler.repeat_factors_from_category_frequency(
        dataset_dicts, repeat_thresh
    )
    assert rep_factors.dtype == torch.float32
    assert torch.allclose(rep_factors, torch.tensor([math.sqrt(3 / 2), 1.0, 1.0]))
    rep_factors = RepeatFactorTrainingSampler.repeat_factors_from_category_frequency(
        dataset_dicts, repeat_thresh, sqrt=False
    )
    assert torch.allclose(rep_factors, torch.tensor([3 / 2, 1.0, 1.0]))


@pytest.mark.parametrize("sqrt", [True, False])
def test_factors_equal_detectron2_with_any_hashable_ids(sqrt):
    dicts = _lvis_like()
    for d in dicts[::3]:  # category ids are any hashable in dataset dicts
        for ann in d["annotations"]:
            ann["category_id"] = f"cat-{ann['category_id']}"
    got = RepeatFactorTrainingSampler.repeat_factors_from_category_frequency(dicts, 0.3, sqrt)
    torch.testing.assert_close(got, detectron2_factors(dicts, 0.3, sqrt), rtol=0, atol=0)


@pytest.mark.parametrize("shuffle", [True, False])
@pytest.mark.parametrize("seed", [0, 7])
def test_stream_equals_detectron2_over_several_passes(shuffle, seed):
    factors = RepeatFactorTrainingSampler.repeat_factors_from_category_frequency(_lvis_like(), 0.3)
    n = int(3.5 * factors.sum().item())  # several passes, each re-rounded
    got = list(
        itertools.islice(RepeatFactorTrainingSampler(factors, shuffle=shuffle, seed=seed), n)
    )
    want = list(itertools.islice(detectron2_stream(factors, seed, shuffle), n))
    assert got == want


def test_rank_slices_are_detectron2_and_disjoint(monkeypatch):
    factors = torch.tensor([1.0, 2.5, 0.3, 1.7, 4.0, 1.0])
    n = 60
    full = list(itertools.islice(detectron2_stream(factors, 3), n * 3))
    slices = []
    for rank in range(3):
        monkeypatch.setattr(d2, "_rank_and_world", lambda rank=rank: (rank, 3))
        sampler = RepeatFactorTrainingSampler(factors, seed=3)
        got = list(itertools.islice(sampler, n))
        assert got == list(
            itertools.islice(detectron2_stream(factors, 3, rank=rank, world_size=3), n)
        )
        slices.append(got)
    # Interleaved, the ranks' slices are the one global stream: disjoint and complete.
    assert [slices[i % 3][i // 3] for i in range(3 * n)] == full


def test_rounding_is_redrawn_every_pass():
    factors = torch.full((50,), 1.5)
    passes = set()
    stream = iter(RepeatFactorTrainingSampler(factors, shuffle=False, seed=0))
    for _ in range(5):
        first = list(itertools.islice(stream, 50))
        passes.add(tuple(first))
    assert len(passes) > 1


# tests/data/test_sampler.py::TestTrainingSampler::test_training_sampler_seed, for this sampler.
def test_seed_none_draws_from_numpy_global_rng_at_construction():
    factors = torch.tensor([1.0, 2.5, 0.3, 1.7])
    np.random.seed(42)
    torch.manual_seed(42)
    data = list(itertools.islice(RepeatFactorTrainingSampler(factors), 65))
    np.random.seed(42)
    sampler = RepeatFactorTrainingSampler(factors)
    np.random.seed(999)  # should be ineffective
    torch.manual_seed(999)
    assert list(itertools.islice(sampler, 65)) == data
    np.random.seed(42)
    assert data == list(itertools.islice(detectron2_stream(factors, np.random.randint(2**31)), 65))


def test_state_dict_resumes_the_stream():
    factors = torch.tensor([1.0, 2.5, 0.3, 1.7, 3.2])
    sampler = RepeatFactorTrainingSampler(factors, seed=5)
    it = iter(sampler)
    head = [next(it) for _ in range(17)]
    state = sampler.state_dict()
    assert state == {"seed": 5, "yielded": 17}
    rest = [next(it) for _ in range(30)]
    resumed = RepeatFactorTrainingSampler(factors, seed=0)
    resumed.load_state_dict(state)
    assert list(itertools.islice(resumed, 30)) == rest
    assert head + rest == list(itertools.islice(detectron2_stream(factors, 5), 47))


def test_bad_arguments():
    with pytest.raises(ValueError, match="repeat_factors should be finite and non-negative"):
        RepeatFactorTrainingSampler(torch.tensor([1.0, -2.0]), seed=0)
    with pytest.raises(TypeError, match="seed should be an integer"):
        RepeatFactorTrainingSampler(torch.tensor([1.0]), seed=1.5)
    with pytest.raises(TypeError, match="shuffle should be a boolean"):
        RepeatFactorTrainingSampler(torch.tensor([1.0]), shuffle="yes", seed=0)
    with pytest.raises(ValueError, match="dataset_dicts\\[1\\] should have an 'annotations'"):
        RepeatFactorTrainingSampler.repeat_factors_from_category_frequency(
            [{"annotations": []}, {}], 0.5
        )
    with pytest.raises(TypeError):
        RepeatFactorTrainingSampler(torch.tensor([1.0]), 0)  # shuffle and seed are keyword-only


def test_script_train_loop_call():
    # detectron2's build_detection_train_loader with SAMPLER_TRAIN = RepeatFactorTrainingSampler:
    repeat_factors = RepeatFactorTrainingSampler.repeat_factors_from_category_frequency(
        _lvis_like(), 0.001
    )
    sampler = RepeatFactorTrainingSampler(repeat_factors)
    loader = torch.utils.data.DataLoader(list(range(40)), sampler=sampler, batch_size=4)
    batches = list(itertools.islice(loader, 25))  # infinite: the loop stops it
    assert all(len(b) == 4 for b in batches)
