"""Each recipe, end to end on a small synthetic long-tailed problem (fixed seeds): it runs to
completion and raises the balanced test accuracy over the plain-CE baseline (0.417 on the
1000-sample balanced test set).

Everything is a function of fixed seeds, so the gains are deterministic. Each test requires a
minimum gain below the one measured with these seeds (in the comments); with other stage-1
seeds (1, 2, 3) every recipe also improved on the baseline, by 1.4 to 10 points."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from longtail import BalancedSoftmaxLoss, bbn, decoupling
from longtail.samplers import ClassAwareSampler, MetaSampler
from recipes_helpers import (
    FEAT_DIM,
    IN_DIM,
    NUM_CLASSES,
    balanced_accuracy,
    problem,
    stage1,
    train,
)
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


@pytest.fixture(scope="module")
def data():
    return problem()


@pytest.fixture(scope="module")
def baseline(data):
    model = stage1(data)
    model.eval()
    with torch.no_grad():
        acc = balanced_accuracy(model(data["test_x"]), data["test_y"])
    return model, acc


def _features(model, x):
    with torch.no_grad():
        return model.backbone(x)


def _class_aware_batches(data, seed):
    sampler = ClassAwareSampler(data["y"], samples_per_class=4, seed=seed)
    loader = DataLoader(TensorDataset(data["x"], data["y"]), batch_size=64, sampler=sampler)

    def batches(epoch):
        sampler.set_epoch(epoch)
        yield from loader

    return batches


def test_baseline_is_tail_biased(data, baseline):
    model, acc = baseline
    with torch.no_grad():
        pred = model(data["test_x"]).argmax(1)
    head = (pred[data["test_y"] < 3] == data["test_y"][data["test_y"] < 3]).float().mean()
    tail = (pred[data["test_y"] >= 7] == data["test_y"][data["test_y"] >= 7]).float().mean()
    assert head > tail + 0.2  # the problem is long-tailed enough for the recipes to matter
    assert 0.3 < acc < 0.9


def test_crt(data, baseline):
    model = copy.deepcopy(baseline[0])
    torch.manual_seed(1)
    params = decoupling.prepare_crt(model, model.fc)
    model.eval()  # no BatchNorm here; eval() is what a user would do to fix the backbone
    train(model, params, _class_aware_batches(data, seed=1), F.cross_entropy, epochs=10, lr=0.05)
    with torch.no_grad():
        acc = balanced_accuracy(model(data["test_x"]), data["test_y"])
    assert acc > baseline[1] + 0.02  # measured: +0.033


def test_tau_norm(data, baseline):
    model = baseline[0]
    result = decoupling.search_tau(_features(model, data["val_x"]), data["val_y"], weight=model.fc)
    assert result.tau > 0
    clf = decoupling.TauNormClassifier.from_linear(model.fc, tau=result.tau)
    acc = balanced_accuracy(clf(_features(model, data["test_x"])), data["test_y"])
    assert acc > baseline[1] + 0.04  # measured: +0.066


def test_lws(data, baseline):
    model = baseline[0]
    lws = decoupling.LWSClassifier.from_linear(model.fc)
    feats = _features(model, data["x"])
    batches = _class_aware_batches({"x": feats, "y": data["y"]}, seed=2)
    train(lws, lws.parameters(), batches, F.cross_entropy, epochs=5, lr=0.05)
    acc = balanced_accuracy(lws(_features(model, data["test_x"])).detach(), data["test_y"])
    assert acc > baseline[1] + 0.015  # measured: +0.025


def test_ncm(data, baseline):
    model = baseline[0]
    ncm = decoupling.NCMClassifier.fit(_features(model, data["x"]), data["y"], NUM_CLASSES)
    acc = balanced_accuracy(ncm(_features(model, data["test_x"])), data["test_y"])
    assert acc > baseline[1] + 0.06  # measured: +0.108


class TwoBranchNet(nn.Module):
    """A shared first layer and one last layer per branch (BBN shares all but the last block)."""

    def __init__(self) -> None:
        super().__init__()
        self.shared = nn.Sequential(nn.Linear(IN_DIM, 64), nn.ReLU())
        self.conventional = nn.Sequential(nn.Linear(64, FEAT_DIM), nn.ReLU())
        self.reversed = nn.Sequential(nn.Linear(64, FEAT_DIM), nn.ReLU())
        self.classifier = bbn.BBNClassifier(2 * FEAT_DIM, NUM_CLASSES)

    def features(self, x_c, x_r):
        return self.conventional(self.shared(x_c)), self.reversed(self.shared(x_r))

    def forward(self, x):  # inference: alpha = 0.5, i.e. [f_c ; f_r]
        return self.classifier(*self.features(x, x))


def test_bbn(data, baseline):
    torch.manual_seed(0)
    net = TwoBranchNet()
    sampler = bbn.BilateralSampler(data["y"], seed=0)
    dataset = bbn.BilateralDataset(TensorDataset(data["x"], data["y"]))
    loader = DataLoader(dataset, batch_size=64, sampler=sampler)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
    total = 40
    for epoch in range(1, total + 1):
        sampler.set_epoch(epoch - 1)
        alpha = bbn.cumulative_alpha(epoch, total)
        for (x_c, y_c), (x_r, y_r) in loader:
            optimizer.zero_grad()
            logits = net.classifier(*net.features(x_c, x_r), alpha)
            bbn.bbn_loss(logits, y_c, y_r, alpha).backward()
            optimizer.step()
    with torch.no_grad():
        acc = balanced_accuracy(net(data["test_x"]), data["test_y"])
    assert acc > baseline[1] + 0.06  # measured: +0.114


def test_meta_sampler(data, baseline):
    model = copy.deepcopy(baseline[0])
    feats = _features(model, data["x"])
    fc = model.fc
    sampler = MetaSampler(data["y"], batch_size=64, seed=0)
    meta = ClassAwareSampler(data["y"], seed=1)
    meta_loader = DataLoader(TensorDataset(feats, data["y"]), batch_size=64, sampler=meta)
    loader = DataLoader(TensorDataset(feats, data["y"]), batch_sampler=sampler)
    criterion = BalancedSoftmaxLoss(sampler.class_counts)
    optimizer = torch.optim.SGD(fc.parameters(), lr=0.05, momentum=0.9)
    prior = sampler.class_probabilities()
    meta_iter, meta_epoch = iter(meta_loader), 0
    for epoch in range(10):
        sampler.set_epoch(epoch)
        for f, y in loader:
            try:
                mf, my = next(meta_iter)
            except StopIteration:
                meta_epoch += 1
                meta.set_epoch(meta_epoch)
                meta_iter = iter(meta_loader)
                mf, my = next(meta_iter)
            sampler.step(fc, f, y, mf, my, lr=optimizer.param_groups[0]["lr"])
            optimizer.zero_grad()
            criterion(fc(f), y).backward()
            optimizer.step()
    with torch.no_grad():
        acc = balanced_accuracy(fc(_features(model, data["test_x"])), data["test_y"])
    assert acc > baseline[1] + 0.025  # measured: +0.043
    # The sampler learned something: its law moved away from instance-balanced.
    assert (sampler.class_probabilities() - prior).abs().max() > 1e-3
