"""longtail.compat.mmpretrain against mmpretrain: its tests/test_models/test_losses.py cases and
its formulas (mmpretrain/models/losses/{seesaw_loss,focal_loss,utils}.py) in float64."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as TF
from longtail.compat import mmpretrain


def weight_reduce_loss(loss, weight=None, reduction="mean", avg_factor=None):
    # mmpretrain's: no eps on avg_factor.
    if weight is not None:
        loss = loss * weight
    if avg_factor is None:
        return {"none": loss, "mean": loss.mean(), "sum": loss.sum()}[reduction]
    return loss.sum() / avg_factor if reduction == "mean" else loss


class MMPretrainSeesaw:
    def __init__(self, num_classes, p=0.8, q=2.0, eps=1e-2, loss_weight=1.0):
        self.c, self.p, self.q, self.eps, self.w = num_classes, p, q, eps, loss_weight
        self.cum_samples = torch.zeros(num_classes, dtype=torch.float64)

    def __call__(self, cls_score, labels, weight=None, avg_factor=None, reduction="mean"):
        labels = labels.view(-1)
        for u in labels.unique():
            self.cum_samples[u] += (labels == u.item()).sum()
        if weight is None:
            weight = labels.new_ones(labels.size(), dtype=torch.float64)
        onehot = TF.one_hot(labels, self.c)
        sw = cls_score.new_ones(onehot.size())
        if self.p > 0:
            ratio = self.cum_samples[None, :].clamp(min=1) / self.cum_samples[:, None].clamp(min=1)
            index = (ratio < 1.0).double()
            sw = sw * (ratio.pow(self.p) * index + (1 - index))[labels]
        if self.q > 0:
            scores = TF.softmax(cls_score.detach(), dim=1)
            self_scores = scores[torch.arange(len(scores)), labels]
            sm = scores / self_scores[:, None].clamp(min=self.eps)
            index = (sm > 1.0).double()
            sw = sw * (sm.pow(self.q) * index + (1 - index))
        z = cls_score + sw.log() * (1 - onehot)
        loss = TF.cross_entropy(z, labels, reduction="none")
        return self.w * weight_reduce_loss(loss, weight, reduction, avg_factor)


def mmpretrain_focal(
    pred, target, weight=None, gamma=2.0, alpha=0.25, reduction="mean", avg_factor=None
):
    if target.dim() == 1 or (target.dim() == 2 and target.shape[1] == 1):
        target = torch.zeros(pred.shape, dtype=pred.dtype).scatter_(1, target.view(-1, 1), 1)
    ps = pred.sigmoid()
    target = target.type_as(pred)
    pt = (1 - ps) * target + ps * (1 - target)
    fw = (alpha * target + (1 - alpha) * (1 - target)) * pt.pow(gamma)
    loss = TF.binary_cross_entropy_with_logits(pred, target, reduction="none") * fw
    if weight is not None:
        weight = weight.reshape(-1, 1)
    return weight_reduce_loss(loss, weight, reduction, avg_factor)


def _grad(fn, x):
    x = x.detach().clone().requires_grad_()
    out = fn(x)
    out.sum().backward()
    return out, x.grad


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("avg_factor", [None, 6.0])
def test_seesaw_matches_mmpretrain_over_steps(reduction, avg_factor):
    if reduction == "sum" and avg_factor is not None:
        pytest.skip("avg_factor is refused with sum")
    ours = mmpretrain.SeesawLoss(num_classes=5, loss_weight=0.7).double()
    theirs = MMPretrainSeesaw(5, loss_weight=0.7)
    for step in range(5):
        g = torch.Generator().manual_seed(step)
        x = torch.randn(10, 5, generator=g, dtype=torch.float64) * 3
        y = torch.randint(0, 5, (10,), generator=g) ** 2 % 5  # skewed labels
        w = torch.rand(10, generator=g, dtype=torch.float64)
        got, gg = _grad(
            lambda z, w=w, y=y: ours(z, y, w, avg_factor=avg_factor, reduction_override=reduction),
            x,
        )
        want, gw = _grad(
            lambda z, w=w, y=y: theirs(z, y, w, avg_factor=avg_factor, reduction=reduction), x
        )
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)
        torch.testing.assert_close(gg, gw, rtol=1e-10, atol=1e-12)
        torch.testing.assert_close(ours.cum_samples, theirs.cum_samples)


def test_seesaw_defaults():
    loss = mmpretrain.SeesawLoss()
    assert loss.num_classes == 1000 and loss.cum_samples.shape == (1000,)
    assert (loss.p, loss.q, loss.eps, loss.reduction, loss.loss_weight) == (
        0.8,
        2.0,
        1e-2,
        "mean",
        1.0,
    )


# mmpretrain tests/test_models/test_losses.py::test_seesaw_loss, re-expressed.
def test_mmpretrain_seesaw_cases():
    with pytest.raises(AssertionError):
        mmpretrain.SeesawLoss(use_sigmoid=True, loss_weight=1.0)
    loss_cls = mmpretrain.SeesawLoss(p=0.0, q=0.0, loss_weight=1.0, num_classes=2)
    for bad in ([[-100, 100, -100]], [[-100, 100, -100, 100]]):
        with pytest.raises(AssertionError):
            loss_cls(torch.Tensor(bad), torch.Tensor([1]).long())
    loss = loss_cls(torch.Tensor([[-100, 100]]), torch.Tensor([1]).long())
    assert torch.allclose(loss, torch.tensor(0.0))
    loss_cls = mmpretrain.SeesawLoss(p=1.0, q=0.0, loss_weight=1.0, num_classes=2)
    loss_cls.cum_samples[0] = torch.exp(torch.Tensor([20]))
    loss = loss_cls(torch.Tensor([[-100, 100]]), torch.Tensor([0]).long())
    assert torch.allclose(loss, torch.tensor(180.0))
    loss_cls = mmpretrain.SeesawLoss(p=0.0, q=1.0, loss_weight=1.0, num_classes=2)
    loss = loss_cls(torch.Tensor([[-100, 100]]), torch.Tensor([0]).long())
    assert torch.allclose(loss, torch.tensor(200.0) + torch.tensor(100.0).log())


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("target_kind", ["labels", "column", "multilabel"])
@pytest.mark.parametrize("weighted", [False, True])
def test_focal_matches_mmpretrain(reduction, target_kind, weighted):
    g = torch.Generator().manual_seed(9)
    x = torch.randn(8, 4, generator=g, dtype=torch.float64) * 2
    labels = torch.randint(0, 4, (8,), generator=g)
    target = {
        "labels": labels,
        "column": labels.view(-1, 1),
        "multilabel": torch.randint(0, 2, (8, 4), generator=g).double(),
    }[target_kind]
    w = torch.rand(8, generator=g, dtype=torch.float64) if weighted else None
    for avg in (None, 3.0) if reduction != "sum" else (None,):
        got, gg = _grad(
            lambda z, avg=avg: mmpretrain.FocalLoss(gamma=1.5, alpha=0.3, loss_weight=2.0)(
                z, target, w, avg_factor=avg, reduction_override=reduction
            ),
            x,
        )
        want, gw = _grad(
            lambda z, avg=avg: (
                2.0
                * mmpretrain_focal(
                    z, target, w, gamma=1.5, alpha=0.3, reduction=reduction, avg_factor=avg
                )
            ),
            x,
        )
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)
        torch.testing.assert_close(gg, gw, rtol=1e-10, atol=1e-12)


# mmpretrain test_losses.py::test_focal_loss (shape / reduction checks), re-expressed.
def test_mmpretrain_focal_cases():
    loss = mmpretrain.FocalLoss(gamma=2.0, alpha=0.25, reduction="mean", loss_weight=1.0)
    cls_score = torch.Tensor([[5, -5, 0], [5, -5, 0]])
    label = torch.Tensor([[1, 0, 1], [0, 1, 0]])
    weight = torch.tensor([0.5, 0.5])
    torch.testing.assert_close(loss(cls_score, label), mmpretrain_focal(cls_score, label))
    torch.testing.assert_close(
        loss(cls_score, label, weight=weight), mmpretrain_focal(cls_score, label, weight)
    )
    torch.testing.assert_close(
        loss(cls_score, torch.tensor([0, 1])), mmpretrain_focal(cls_score, torch.tensor([0, 1]))
    )
    # mmpretrain's expected numbers (multi-label, then single-label with float labels)
    assert torch.allclose(loss(cls_score, label), torch.tensor(0.8522))
    assert torch.allclose(loss(cls_score, label, weight=weight), torch.tensor(0.8522 / 2))
    assert torch.allclose(loss(cls_score, torch.Tensor([0, 1])), torch.tensor(0.86664125))
    assert torch.allclose(
        loss(cls_score, torch.Tensor([0, 1]), weight=weight), torch.tensor(0.86664125 / 2)
    )
    with pytest.raises(AssertionError):
        loss(cls_score, torch.ones(2, 2))
    with pytest.raises(AssertionError):
        loss(cls_score, label, reduction_override=True)


def test_config_builds_through_mmengine_registry():
    registry_mod = pytest.importorskip("mmengine.registry")
    models = registry_mod.Registry("model", scope="mmpretrain_compat_test")
    mmpretrain.register(models)
    loss = models.build(dict(type="longtail.SeesawLoss", num_classes=10, loss_weight=1.0))
    assert isinstance(loss, mmpretrain.SeesawLoss) and loss.cum_samples.shape == (10,)
    focal = models.build(dict(type="longtail.FocalLoss", gamma=2.0, alpha=0.25))
    assert isinstance(focal, mmpretrain.FocalLoss)
    # the classifier head's call: self.loss_module(cls_score, target, avg_factor=..., **kwargs)
    out = loss(torch.randn(4, 10, requires_grad=True), torch.tensor([1, 2, 2, 9]), avg_factor=4)
    out.backward()
