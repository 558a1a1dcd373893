"""Robustness of the Meta Sampler to bad inputs: ``step`` and ``load_state_dict`` check everything
before they change anything, so a rejected call followed by a good one equals the good one alone."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from longtail.samplers import MetaSampler
from torch import nn

COUNTS = [30, 12, 5, 2, 1]
LABELS = np.random.default_rng(0).permutation(np.repeat(np.arange(5), COUNTS))
FEATURES = torch.from_numpy(np.random.default_rng(1).standard_normal((len(LABELS), 3)))
META_IDX = np.concatenate([np.flatnonzero(LABELS == c)[:1] for c in range(5)])
MX, MY = FEATURES[META_IDX], torch.from_numpy(LABELS[META_IDX])


def classifier() -> nn.Module:
    fc = nn.Linear(3, 5).double()
    with torch.no_grad():
        fc.weight.copy_(torch.linspace(-1, 1, 15, dtype=torch.float64).reshape(5, 3))
        fc.bias.zero_()
    return fc


def snapshot(sampler: MetaSampler):
    return (
        sampler.logits.detach().clone(),
        copy.deepcopy(sampler.optimizer.state_dict()),
        len(sampler._pending),
        sampler.epoch,
        sampler.seed,
    )


def assert_same_snapshot(a, b) -> None:
    torch.testing.assert_close(a[0], b[0], rtol=0, atol=0)
    assert a[2:] == b[2:]
    sa, sb = a[1]["state"], b[1]["state"]
    assert sa.keys() == sb.keys()
    for k in sa:
        for name in sa[k]:
            torch.testing.assert_close(sa[k][name], sb[k][name], rtol=0, atol=0)


def bad_calls(x, y):
    fc = classifier()
    wide = nn.Linear(3, 7).double()
    return [
        (lambda: (wide, x, y, MX, MY), ValueError, "classifier should map input"),
        (lambda: (fc, x[:, :2], y, MX, MY), ValueError, "input should be accepted"),
        (lambda: (fc, x[:-1], y, MX, MY), ValueError, "input should have one row per sample"),
        (lambda: (fc, x, y, MX[:, :2], MY), ValueError, "meta_input should be accepted"),
        (lambda: (fc, x, y, MX, MY + 5), IndexError, r"meta_target should hold class indices"),
        (lambda: (fc, x, y, MX, MY.double()), TypeError, "meta_target should hold integer"),
        (lambda: (fc, x, y, MX[:0], MY[:0]), ValueError, "at least one sample"),
        (lambda: (fc, x, y, MX, MY[:-1]), ValueError, "same length"),
        (lambda: (fc, x, y, MX * float("nan"), MY), ValueError, "meta gradient should be finite"),
        (lambda: (nn.Identity(), x, y, MX, MY), ValueError, "requires_grad=True"),
    ]


@pytest.mark.parametrize("case", range(10))
def test_a_rejected_step_changes_nothing(case):
    sampler = MetaSampler(LABELS, batch_size=6, seed=3, init_pow=0.5)
    replay = MetaSampler(LABELS, batch_size=6, seed=3, init_pow=0.5)
    batches, replay_batches = iter(sampler), iter(replay)
    # One good step first, so Adam has state to protect.
    for s, it in ((sampler, batches), (replay, replay_batches)):
        idx = next(it)
        s.step(classifier(), FEATURES[idx], torch.from_numpy(LABELS[idx]), MX, MY, lr=0.5)
    idx = next(batches)
    assert next(replay_batches) == idx
    x, y = FEATURES[idx], torch.from_numpy(LABELS[idx])
    make_args, exc, match = bad_calls(x, y)[case]
    before = snapshot(sampler)
    with pytest.raises(exc, match=match):
        sampler.step(*make_args(), lr=0.5)
    assert_same_snapshot(snapshot(sampler), before)
    # The good step that follows equals a replay that never saw the rejected call.
    got = sampler.step(classifier(), x, y, MX, MY, lr=0.5)
    want = replay.step(classifier(), x, y, MX, MY, lr=0.5)
    torch.testing.assert_close(got, want, rtol=0, atol=0)
    assert_same_snapshot(snapshot(sampler), snapshot(replay))


@pytest.mark.parametrize(
    ("edit", "exc", "match"),
    [
        (lambda s: s.pop("seed"), ValueError, "missing"),
        (lambda s: s.update(extra=1), ValueError, "extra keys"),
        (lambda s: s.update(optimizer={}), ValueError, r"state_dict\['optimizer'\]"),
        (lambda s: s.update(epoch=-1), ValueError, r"state_dict\['epoch'\]"),
        (lambda s: s.update(epoch=2**70), ValueError, r"state_dict\['epoch'\]"),
        (lambda s: s.update(seed="x"), TypeError, r"state_dict\['seed'\]"),
        (lambda s: s.update(seed=2**64), ValueError, r"state_dict\['seed'\]"),
        (lambda s: s.update(logits=torch.zeros(4)), ValueError, "shape"),
        (lambda s: s.update(logits=[0.0] * 5), TypeError, "floating-point tensor"),
        (lambda s: s.update(logits=torch.full((5,), float("nan"))), ValueError, "finite"),
    ],
)
def test_a_rejected_load_state_dict_changes_nothing(edit, exc, match):
    source = MetaSampler(LABELS, batch_size=6, seed=8)
    idx = next(iter(source))
    source.step(classifier(), FEATURES[idx], torch.from_numpy(LABELS[idx]), MX, MY, lr=0.5)
    good = source.state_dict()
    bad = source.state_dict()
    edit(bad)
    target = MetaSampler(LABELS, batch_size=6, seed=1)
    next(iter(target))
    before = snapshot(target)
    with pytest.raises(exc, match=match):
        target.load_state_dict(bad)
    assert_same_snapshot(snapshot(target), before)
    target.load_state_dict(good)
    alone = MetaSampler(LABELS, batch_size=6, seed=1)
    alone.load_state_dict(good)
    assert_same_snapshot(snapshot(target), snapshot(alone))
    assert list(target) == list(alone)


def test_constructor_and_epoch_ranges():
    with pytest.raises(ValueError, match=r"seed should be an integer in \[0, 2\*\*64 - 1\]"):
        MetaSampler(LABELS, batch_size=4, seed=2**64)
    with pytest.raises(TypeError, match="batch_size should be an integer"):
        MetaSampler(LABELS, batch_size=True)
    s = MetaSampler(LABELS, batch_size=4, num_batches=2**32)
    with pytest.raises(ValueError, match="epoch should be an integer <= "):
        s.set_epoch(2**32)
    s.set_epoch(2**32 - 1)
