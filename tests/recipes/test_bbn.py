"""BBN (Zhou et al. CVPR 2020, arXiv:1912.02413): cumulative α, mixing, loss and the bilateral data
path."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from longtail import bbn
from longtail.samplers import ReversedSampler
from torch.utils.data import DataLoader, TensorDataset


def _official_divisor(total_epochs: int) -> int:
    # Combiner.initilize_all_parameters, written out.
    return {90: 100, 180: 200}.get(total_epochs, total_epochs)


@pytest.mark.parametrize(("total", "div"), [(90, 100), (180, 200), (200, 200), (100, 100)])
def test_cumulative_alpha_every_epoch(total, div):
    assert _official_divisor(total) == div
    for epoch in range(1, total + 1):
        expected = 1.0 - ((epoch - 1) / div) ** 2
        assert bbn.cumulative_alpha(epoch, total) == pytest.approx(expected, abs=1e-15)


def test_cumulative_alpha_landmarks():
    assert bbn.cumulative_alpha(1, 200) == 1.0
    assert bbn.cumulative_alpha(101, 200) == 0.75
    assert bbn.cumulative_alpha(200, 200) == pytest.approx(1 - (199 / 200) ** 2)
    # The divisor quirk: 90- and 180-epoch runs never get close to 0.
    assert bbn.cumulative_alpha(90, 90) == pytest.approx(1 - 0.89**2)
    assert bbn.cumulative_alpha(180, 180) == pytest.approx(1 - 0.895**2)


def _features(seed: int, n: int = 6, d: int = 4):
    rng = np.random.default_rng(seed)
    return (
        torch.from_numpy(rng.standard_normal((n, d))),
        torch.from_numpy(rng.standard_normal((n, d))),
    )


@pytest.mark.parametrize("alpha", [1.0, 0.8, 0.5, 0.123, 0.0])
def test_bbn_classifier_mixes_with_factor_two(alpha):
    f_c, f_r = _features(0)
    torch.manual_seed(0)
    clf = bbn.BBNClassifier(8, 3).double()
    w, b = clf.fc.weight.detach().numpy(), clf.fc.bias.detach().numpy()
    mixed = np.concatenate([2 * alpha * f_c.numpy(), 2 * (1 - alpha) * f_r.numpy()], axis=1)
    np.testing.assert_allclose(
        clf(f_c, f_r, alpha).detach().numpy(), mixed @ w.T + b, rtol=1e-13, atol=1e-14
    )


def test_bbn_inference_is_alpha_one_half():
    f_c, f_r = _features(1)
    torch.manual_seed(0)
    clf = bbn.BBNClassifier(8, 3).double()
    torch.testing.assert_close(clf(f_c, f_r), clf.fc(torch.cat([f_c, f_r], dim=1)))


def _ce(logits: np.ndarray, y: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    return -(z[np.arange(len(y)), y] - np.log(np.exp(z).sum(axis=1)))


@pytest.mark.parametrize("alpha", [0.9, 0.3])
def test_bbn_loss_matches_reference(alpha):
    rng = np.random.default_rng(2)
    z = rng.standard_normal((7, 4)) * 2
    y_c, y_r = rng.integers(0, 4, 7), rng.integers(0, 4, 7)
    w = rng.uniform(0.2, 3.0, 4)
    t = torch.from_numpy
    # 'mean' without weights, torch's weighted mean with them, and 'none'.
    expected = alpha * _ce(z, y_c).mean() + (1 - alpha) * _ce(z, y_r).mean()
    assert bbn.bbn_loss(t(z), t(y_c), t(y_r), alpha).item() == pytest.approx(expected, rel=1e-13)
    wmean = lambda y: (w[y] * _ce(z, y)).sum() / w[y].sum()  # noqa: E731
    expected_w = alpha * wmean(y_c) + (1 - alpha) * wmean(y_r)
    out = bbn.bbn_loss(t(z), t(y_c), t(y_r), alpha, weight=t(w))
    assert out.item() == pytest.approx(expected_w, rel=1e-13)
    none = bbn.bbn_loss(t(z), t(y_c), t(y_r), alpha, reduction="none")
    np.testing.assert_allclose(
        none.numpy(), alpha * _ce(z, y_c) + (1 - alpha) * _ce(z, y_r), rtol=1e-13
    )


def test_bbn_loss_gradient_reaches_both_branches():
    f_c, f_r = (t.requires_grad_() for t in _features(3))
    torch.manual_seed(0)
    clf = bbn.BBNClassifier(8, 3).double()
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    bbn.bbn_loss(clf(f_c, f_r, 0.7), y, y.flip(0), 0.7).backward()
    assert f_c.grad.abs().sum() > 0 and f_r.grad.abs().sum() > 0


LABELS = np.array([0] * 30 + [1] * 12 + [2] * 5 + [3] * 1)


def test_bilateral_sampler_pairs_a_permutation_with_reversed_partners():
    sampler = bbn.BilateralSampler(LABELS, seed=7)
    assert len(sampler) == len(LABELS)
    for epoch in (0, 3):
        sampler.set_epoch(epoch)
        pairs = np.array(list(sampler))
        assert pairs.shape == (len(LABELS), 2)
        assert sorted(pairs[:, 0].tolist()) == list(range(len(LABELS)))
        partners = ReversedSampler(LABELS, seed=7).epoch_indices(epoch)
        np.testing.assert_array_equal(pairs[:, 1], partners)
    np.testing.assert_allclose(
        sampler.class_probabilities(),
        (30 / np.array([30, 12, 5, 1])) / (30 / np.array([30, 12, 5, 1])).sum(),
        rtol=1e-15,
    )
    first = sampler.epoch_indices(0)
    assert not np.array_equal(first, sampler.epoch_indices(1))
    np.testing.assert_array_equal(first, bbn.BilateralSampler(LABELS, seed=7).epoch_indices(0))


def test_bilateral_sampler_shards_like_distributed_sampler():
    full = bbn.BilateralSampler(LABELS, seed=1).epoch_indices(0)
    shards = [
        np.array(list(bbn.BilateralSampler(LABELS, seed=1, num_replicas=3, rank=r)))
        for r in range(3)
    ]
    assert [len(s) for s in shards] == [16, 16, 16]
    for r, shard in enumerate(shards):
        np.testing.assert_array_equal(shard, full[r::3])


def test_bilateral_dataset_batches_carry_both_branches():
    x = torch.arange(len(LABELS), dtype=torch.float32).unsqueeze(1)
    y = torch.from_numpy(LABELS)
    data = bbn.BilateralDataset(TensorDataset(x, y))
    sampler = bbn.BilateralSampler(LABELS, seed=0)
    loader = DataLoader(data, batch_size=8, sampler=sampler)
    seen = []
    for (x_c, y_c), (x_r, y_r) in loader:
        assert x_c.shape == x_r.shape and y_c.shape == y_r.shape
        torch.testing.assert_close(y[x_c.squeeze(1).long()], y_c)
        torch.testing.assert_close(y[x_r.squeeze(1).long()], y_r)
        seen.append(torch.stack([x_c.squeeze(1), x_r.squeeze(1)], 1).long())
    np.testing.assert_array_equal(torch.cat(seen).numpy(), sampler.epoch_indices(0))


# -- bad input: built-in exceptions with torch-style messages ----------------------------------


def test_bad_bbn_input():
    with pytest.raises(ValueError, match="epoch should be a positive integer"):
        bbn.cumulative_alpha(0, 200)  # BBN counts epochs from 1
    with pytest.raises(ValueError, match=r"epoch should be in \[1, total_epochs=200\]"):
        bbn.cumulative_alpha(201, 200)
    with pytest.raises(ValueError, match="alpha should be in"):
        bbn.bbn_loss(torch.zeros(2, 3), torch.zeros(2).long(), torch.zeros(2).long(), 1.5)
    with pytest.raises(ValueError, match="reversed_target should have shape"):
        bbn.bbn_loss(torch.zeros(2, 3), torch.zeros(2).long(), torch.zeros(3).long(), 0.5)
    with pytest.raises(ValueError, match="same shape"):
        bbn.BBNClassifier(4, 3)(torch.zeros(2, 2), torch.zeros(3, 2))
    with pytest.raises(ValueError, match="in_features should be even"):
        bbn.BBNClassifier(5, 3)
    with pytest.raises(TypeError, match="index should be a pair"):
        bbn.BilateralDataset([1, 2, 3])[0]
