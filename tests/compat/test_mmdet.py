"""longtail.compat.mmdet against mmdetection 3.x: its own test cases, its formulas written out
(mmdet/models/losses/{seesaw_loss,eqlv2_loss,focal_loss,utils,accuracy}.py) in float64, and
configs built through mmengine's real Registry."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as TF
from longtail.compat import PeerAssertionError, mmdet

EPS32 = torch.finfo(torch.float32).eps


# ---- mmdetection's formulas, written out -------------------------------------------------------


def weight_reduce_loss(loss, weight=None, reduction="mean", avg_factor=None):
    if weight is not None:
        loss = loss * weight
    if avg_factor is None:
        return {"none": loss, "mean": loss.mean(), "sum": loss.sum()}[reduction]
    if reduction == "mean":
        return loss.sum() / (avg_factor + EPS32)
    if reduction != "none":
        raise ValueError('avg_factor can not be used with reduction="sum"')
    return loss


def seesaw_ce_loss(
    cls_score, labels, label_weights, cum_samples, num_classes, p, q, eps, reduction, avg_factor
):
    onehot = TF.one_hot(labels, num_classes)
    seesaw_weights = cls_score.new_ones(onehot.size())
    if p > 0:
        ratio = cum_samples[None, :].clamp(min=1) / cum_samples[:, None].clamp(min=1)
        index = (ratio < 1.0).to(cls_score.dtype)
        sample_weights = ratio.pow(p) * index + (1 - index)
        seesaw_weights = seesaw_weights * sample_weights[labels.long(), :]
    if q > 0:
        scores = TF.softmax(cls_score.detach(), dim=1)
        self_scores = scores[torch.arange(len(scores)), labels.long()]
        score_matrix = scores / self_scores[:, None].clamp(min=eps)
        index = (score_matrix > 1.0).to(cls_score.dtype)
        seesaw_weights = seesaw_weights * (score_matrix.pow(q) * index + (1 - index))
    cls_score = cls_score + (seesaw_weights.log() * (1 - onehot))
    loss = TF.cross_entropy(cls_score, labels, reduction="none")
    return weight_reduce_loss(loss, label_weights, reduction, avg_factor)


class MMDetSeesaw:
    def __init__(self, num_classes, p=0.8, q=2.0, eps=1e-2, loss_weight=1.0):
        self.c, self.p, self.q, self.eps, self.w = num_classes, p, q, eps, loss_weight
        self.cum_samples = torch.zeros(num_classes + 1, dtype=torch.float64)

    def __call__(self, cls_score, labels, label_weights=None, avg_factor=None, reduction="mean"):
        c = self.c
        pos = labels < c
        obj_labels = (labels == c).long()
        for u in labels.unique():
            self.cum_samples[u] += (labels == u.item()).sum()
        if label_weights is None:
            label_weights = labels.new_ones(labels.size(), dtype=torch.float64)
        classes, objectness = cls_score[..., :-2], cls_score[..., -2:]
        if pos.sum() > 0:
            loss_classes = self.w * seesaw_ce_loss(
                classes[pos],
                labels[pos],
                label_weights[pos],
                self.cum_samples[:c],
                c,
                self.p,
                self.q,
                self.eps,
                reduction,
                avg_factor,
            )
        else:
            loss_classes = classes[pos].sum()
        loss_obj = self.w * weight_reduce_loss(
            TF.cross_entropy(objectness, obj_labels, reduction="none"),
            label_weights,
            reduction,
            avg_factor,
        )
        return {"loss_cls_objectness": loss_obj, "loss_cls_classes": loss_classes}


class MMDetEQLv2:
    def __init__(self, num_classes, mu=0.8, alpha=4.0, gamma=12, loss_weight=1.0):
        self.c, self.mu, self.alpha, self.gamma, self.w = num_classes, mu, alpha, gamma, loss_weight
        self.pos_grad = torch.zeros(num_classes, dtype=torch.float64)
        self.neg_grad = torch.zeros(num_classes, dtype=torch.float64)
        self.pos_neg = torch.ones(num_classes, dtype=torch.float64) * 100

    def __call__(self, pred, label):
        n_i, n_c = pred.size()
        target = pred.new_zeros(n_i, n_c)
        target[torch.arange(n_i), label] = 1
        neg_w = torch.cat(
            [1 / (1 + torch.exp(-self.gamma * (self.pos_neg - self.mu))), pred.new_ones(1)]
        )
        pos_w = 1 + self.alpha * (1 - neg_w)
        weight = pos_w.view(1, -1).expand(n_i, n_c) * target + neg_w.view(1, -1).expand(
            n_i, n_c
        ) * (1 - target)
        cls_loss = TF.binary_cross_entropy_with_logits(pred, target, reduction="none")
        cls_loss = torch.sum(cls_loss * weight) / n_i
        prob = torch.sigmoid(pred.detach())
        grad = torch.abs(target * (prob - 1) + (1 - target) * prob)
        self.pos_grad += torch.sum(grad * target * weight.detach(), dim=0)[:-1]
        self.neg_grad += torch.sum(grad * (1 - target) * weight.detach(), dim=0)[:-1]
        self.pos_neg = self.pos_grad / (self.neg_grad + 1e-10)
        return self.w * cls_loss


def py_sigmoid_focal_loss(
    pred, target, weight=None, gamma=2.0, alpha=0.25, reduction="mean", avg_factor=None
):
    pred_sigmoid = pred.sigmoid()
    target = target.type_as(pred)
    pt = (1 - pred_sigmoid) * target + pred_sigmoid * (1 - target)
    focal_weight = (alpha * target + (1 - alpha) * (1 - target)) * pt.pow(gamma)
    loss = TF.binary_cross_entropy_with_logits(pred, target, reduction="none") * focal_weight
    if weight is not None:
        if weight.shape != loss.shape:
            if weight.size(0) == loss.size(0):
                weight = weight.view(-1, 1)
            else:
                weight = weight.view(loss.size(0), -1)
    return weight_reduce_loss(loss, weight, reduction, avg_factor)


def mmdet_focal(pred, target, weight=None, avg_factor=None, reduction="mean", loss_weight=1.0):
    if pred.dim() != target.dim():
        num_classes = pred.size(1)
        target = TF.one_hot(target, num_classes=num_classes + 1)[:, :num_classes]
    return loss_weight * py_sigmoid_focal_loss(
        pred, target, weight, reduction=reduction, avg_factor=avg_factor
    )


def _det_batch(seed, n=12, c=4, columns=None):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, columns or c + 2, generator=g, dtype=torch.float64) * 3
    y = torch.randint(0, c + 1, (n,), generator=g)
    w = torch.rand(n, generator=g, dtype=torch.float64)
    return x, y, w


def _grad(fn, x):
    x = x.detach().clone().requires_grad_()
    out = fn(x)
    total = sum(v.sum() for v in out.values()) if isinstance(out, dict) else out.sum()
    total.backward()
    return out, x.grad


# ---- Seesaw ------------------------------------------------------------------------------------


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("avg_factor", [None, 7.0])
def test_seesaw_matches_mmdet_over_steps(reduction, avg_factor):
    if reduction == "sum" and avg_factor is not None:
        pytest.skip("mmdetection refuses avg_factor with sum")
    ours = mmdet.SeesawLoss(num_classes=4, loss_weight=1.5).double()
    theirs = MMDetSeesaw(4, loss_weight=1.5)
    for step in range(5):
        x, y, w = _det_batch(seed=step)
        got, g_got = _grad(
            lambda z, w=w, y=y: ours(z, y, w, avg_factor=avg_factor, reduction_override=reduction),
            x,
        )
        want, g_want = _grad(
            lambda z, w=w, y=y: theirs(z, y, w, avg_factor=avg_factor, reduction=reduction), x
        )
        for key in want:
            torch.testing.assert_close(got[key], want[key], rtol=1e-10, atol=1e-12)
        torch.testing.assert_close(g_got, g_want, rtol=1e-10, atol=1e-12)
        torch.testing.assert_close(ours.cum_samples, theirs.cum_samples)


def test_seesaw_defaults_and_hooks():
    loss = mmdet.SeesawLoss()
    assert (loss.num_classes, loss.p, loss.q, loss.eps, loss.loss_weight) == (
        1203,
        0.8,
        2.0,
        1e-2,
        1.0,
    )
    assert loss.return_dict and loss.use_sigmoid is False
    assert loss.cum_samples.shape == (1204,) and loss.cum_samples.dtype == torch.float32
    assert loss.custom_cls_channels and loss.custom_activation and loss.custom_accuracy
    assert loss.get_cls_channels(1203) == 1205
    with pytest.raises(AssertionError):
        loss.get_cls_channels(80)


def test_seesaw_state_updates_on_every_forward_and_no_foreground_gives_zero():
    loss = mmdet.SeesawLoss(num_classes=3).eval()
    x = torch.randn(4, 5, requires_grad=True)
    with torch.no_grad():
        out = loss(x, torch.tensor([3, 3, 3, 3]))
    assert loss.cum_samples.tolist() == [0, 0, 0, 4]
    assert out["loss_cls_classes"].item() == 0.0
    out = loss(x, torch.tensor([3, 3, 3, 3]))
    sum(out.values()).backward()
    assert torch.isfinite(x.grad).all()


def test_seesaw_rejected_batch_changes_no_state():
    loss = mmdet.SeesawLoss(num_classes=3)
    with pytest.raises(IndexError, match="target should contain labels"):
        loss(torch.randn(4, 5), torch.tensor([0, 1, 7, 2]))
    assert loss.cum_samples.sum() == 0


def test_avg_factor_zero_with_zero_weights_is_zero():
    x, y, _ = _det_batch(seed=3)
    out = mmdet.SeesawLoss(num_classes=4)(x.float(), y, torch.zeros(12), avg_factor=0)
    assert out["loss_cls_classes"].item() == 0.0 and out["loss_cls_objectness"].item() == 0.0
    focal = mmdet.FocalLoss()(
        torch.randn(6, 4), torch.tensor([0, 4, 1, 2, 4, 3]), torch.zeros(6), avg_factor=0
    )
    assert focal.item() == 0.0


# mmdetection's tests/test_models/test_losses/test_loss.py::test_seesaw_loss, re-expressed.
def test_mmdet_seesaw_cases():
    with pytest.raises(AssertionError):
        mmdet.SeesawLoss(use_sigmoid=True, loss_weight=1.0)
    loss_cls = mmdet.SeesawLoss(p=0.0, q=0.0, loss_weight=1.0, num_classes=2)
    for bad in ([[-100, 100]], [[-100, 100, -100]]):
        with pytest.raises(AssertionError):
            loss_cls(torch.Tensor(bad), torch.Tensor([1]).long())
    fake_pred = torch.Tensor([[-100, 100, -100, 100]])
    loss = loss_cls(fake_pred, torch.Tensor([1]).long())
    assert torch.allclose(loss["loss_cls_objectness"], torch.tensor(200.0))
    assert torch.allclose(loss["loss_cls_classes"], torch.tensor(0.0))

    loss_cls = mmdet.SeesawLoss(p=1.0, q=0.0, loss_weight=1.0, num_classes=2)
    loss_cls.cum_samples[0] = torch.exp(torch.Tensor([20]))
    loss = loss_cls(fake_pred, torch.Tensor([0]).long())
    assert torch.allclose(loss["loss_cls_objectness"], torch.tensor(200.0))
    assert torch.allclose(loss["loss_cls_classes"], torch.tensor(180.0))

    loss_cls = mmdet.SeesawLoss(p=0.0, q=1.0, loss_weight=1.0, num_classes=2)
    loss = loss_cls(fake_pred, torch.Tensor([0]).long())
    assert torch.allclose(loss["loss_cls_objectness"], torch.tensor(200.0))
    assert torch.allclose(loss["loss_cls_classes"], torch.tensor(200.0) + torch.tensor(100.0).log())

    loss_cls = mmdet.SeesawLoss(p=0.0, q=1.0, loss_weight=1.0, num_classes=2, return_dict=False)
    fake_pred = torch.Tensor([[100, -100, 100, -100]])
    fake_label = torch.Tensor([0]).long()
    loss = loss_cls(fake_pred, fake_label)
    acc = loss_cls.get_accuracy(fake_pred, fake_label)
    act = loss_cls.get_activation(fake_pred)
    assert torch.allclose(loss, torch.tensor(0.0))
    assert torch.allclose(acc["acc_objectness"], torch.tensor(100.0))
    assert torch.allclose(acc["acc_classes"], torch.tensor(100.0))
    assert torch.allclose(act, torch.tensor([1.0, 0.0, 0.0]))


# test_loss.py::test_loss_with_reduction_override
@pytest.mark.parametrize("loss_class", [mmdet.FocalLoss, mmdet.SeesawLoss, mmdet.EQLV2Loss])
def test_reduction_override_is_checked_first(loss_class):
    pred = torch.rand((10, 4))
    target = (torch.rand((10, 4)),)
    with pytest.raises(AssertionError):
        loss_class()(pred, target, None, reduction_override=True)
    with pytest.raises(ValueError, match="reduction_override should be one of"):
        loss_class()(pred, target, None, reduction_override="xyz")
    assert issubclass(PeerAssertionError, ValueError)


# ---- EQLv2 -------------------------------------------------------------------------------------


def test_eqlv2_matches_mmdet_over_steps_and_ignores_weight_and_avg_factor():
    ours = mmdet.EQLV2Loss(num_classes=4, loss_weight=2.0).double()
    theirs = MMDetEQLv2(4, loss_weight=2.0)
    for step in range(5):
        x, y, w = _det_batch(seed=20 + step, columns=5)
        got, g_got = _grad(lambda z, w=w, y=y: ours(z, y, w, avg_factor=3.0), x)
        want, g_want = _grad(lambda z, y=y: theirs(z, y), x)
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)
        torch.testing.assert_close(g_got, g_want, rtol=1e-10, atol=1e-12)
        for name in ("pos_grad", "neg_grad", "pos_neg"):
            torch.testing.assert_close(
                getattr(ours, name), getattr(theirs, name), rtol=1e-10, atol=1e-12
            )
    assert set(ours.state_dict()) == {"pos_grad", "neg_grad", "pos_neg"}


# test_loss.py::test_eqlv2_loss
def test_mmdet_eqlv2_case():
    cls_score = torch.randn((1204, 1204), generator=torch.Generator().manual_seed(0))
    label = torch.randint(0, 2, (1204,), generator=torch.Generator().manual_seed(1))
    loss = mmdet.EQLV2Loss()(cls_score, label, None)
    assert isinstance(loss, torch.Tensor) and torch.isfinite(loss)


def test_eqlv2_hooks():
    loss = mmdet.EQLV2Loss(num_classes=3)
    assert loss.get_cls_channels(3) == loss.get_channel_num(3) == 4
    pred = torch.randn(5, 4)
    p = torch.sigmoid(pred)
    want = p.clone()
    want[:, :-1] *= 1 - p[:, -1:]
    torch.testing.assert_close(loss.get_activation(pred), want)
    torch.testing.assert_close(
        mmdet.EQLV2Loss(num_classes=3, test_with_obj=False).get_activation(pred), p
    )


# ---- Focal -------------------------------------------------------------------------------------


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weight_kind", [None, "row", "element", "flat"])
@pytest.mark.parametrize("target_kind", ["labels", "onehot"])
def test_focal_matches_mmdet(reduction, weight_kind, target_kind):
    g = torch.Generator().manual_seed(5)
    x = torch.randn(9, 4, generator=g, dtype=torch.float64) * 2
    labels = torch.randint(0, 5, (9,), generator=g)
    target = labels if target_kind == "labels" else TF.one_hot(labels, 5)[:, :4]
    weight = {
        None: None,
        "row": torch.rand(9, generator=g, dtype=torch.float64),
        "element": torch.rand(9, 4, generator=g, dtype=torch.float64),
        "flat": torch.rand(36, generator=g, dtype=torch.float64),
    }[weight_kind]
    for avg in (None, 5.0) if reduction != "sum" else (None,):
        got, g_got = _grad(
            lambda z, avg=avg: mmdet.FocalLoss(loss_weight=0.5)(
                z, target, weight, avg_factor=avg, reduction_override=reduction
            ),
            x,
        )
        want, g_want = _grad(
            lambda z, avg=avg: mmdet_focal(
                z, target, weight, avg_factor=avg, reduction=reduction, loss_weight=0.5
            ),
            x,
        )
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)
        torch.testing.assert_close(g_got, g_want, rtol=1e-10, atol=1e-12)


# test_loss.py::test_FocalLoss_loss
@pytest.mark.parametrize("input_shape", [(10, 5), (3, 5, 40, 40)])
def test_mmdet_focal_cases(input_shape):
    g = torch.Generator().manual_seed(0)
    pred = torch.rand(input_shape, generator=g)
    target = torch.randint(0, 5, (input_shape[0],), generator=g)
    if len(input_shape) == 4:
        b, n, w, h = input_shape
        target = (
            TF.one_hot(torch.randint(0, 5, (b * w * h,), generator=g), 5)
            .reshape(b, w, h, n)
            .permute(0, 3, 1, 2)
        )
    loss_class = mmdet.FocalLoss
    loss = loss_class()(pred, target)
    assert isinstance(loss, torch.Tensor)
    torch.testing.assert_close(
        loss.double(), mmdet_focal(pred.double(), target), rtol=1e-5, atol=1e-7
    )
    assert isinstance(loss_class()(pred, target, reduction_override="mean"), torch.Tensor)
    assert isinstance(loss_class()(pred, target, avg_factor=10), torch.Tensor)
    with pytest.raises(ValueError):
        loss_class()(pred, target, avg_factor=10, reduction_override="sum")
    for reduction_override in [None, "none", "mean"]:
        out = loss_class()(pred, target, avg_factor=10, reduction_override=reduction_override)
        assert isinstance(out, torch.Tensor)


def test_focal_activated_takes_probabilities():
    g = torch.Generator().manual_seed(2)
    prob = torch.rand(6, 3, generator=g, dtype=torch.float64) * 0.98 + 0.01
    labels = torch.tensor([0, 3, 1, 2, 3, 0])
    target = TF.one_hot(labels, 4)[:, :3].double()
    pt = (1 - prob) * target + prob * (1 - target)
    fw = (0.25 * target + 0.75 * (1 - target)) * pt.pow(2)
    want = (TF.binary_cross_entropy(prob, target, reduction="none") * fw).mean()
    got = mmdet.FocalLoss(activated=True)(prob, labels)
    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)
    with pytest.raises(AssertionError):
        mmdet.FocalLoss(use_sigmoid=False)


# ---- configs through mmengine's Registry -------------------------------------------------------


def test_config_builds_through_mmengine_registry():
    registry_mod = pytest.importorskip("mmengine.registry")
    models = registry_mod.Registry("model", scope="mmdet_compat_test")
    import longtail.compat

    longtail.compat.register(models)
    longtail.compat.register(models)  # idempotent
    # The bbox head's loss_cls as an LVIS config writes it, with only `type` changed.
    seesaw = models.build(
        dict(type="longtail.SeesawLoss", p=0.8, q=2.0, num_classes=1203, loss_weight=1.0)
    )
    assert isinstance(seesaw, mmdet.SeesawLoss) and seesaw.num_classes == 1203
    eql = models.build(
        dict(
            type="longtail.EQLV2Loss",
            use_sigmoid=True,
            reduction="mean",
            class_weight=None,
            loss_weight=1.0,
            num_classes=1203,
        )
    )
    assert isinstance(eql, mmdet.EQLV2Loss)
    focal = models.build(
        dict(type="longtail.FocalLoss", use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=1.0)
    )
    assert isinstance(focal, mmdet.FocalLoss)
    x = torch.randn(8, 1205)
    y = torch.randint(0, 1204, (8,))
    out = seesaw(x, y, torch.ones(8), avg_factor=8)
    assert set(out) == {"loss_cls_objectness", "loss_cls_classes"}


def test_script_bbox_head_call():
    # mmdet's BBoxHead.loss: self.loss_cls(cls_score, labels, label_weights,
    # avg_factor=avg_factor, reduction_override=reduction_override)
    loss_cls = mmdet.SeesawLoss(use_sigmoid=False, p=0.8, q=2.0, num_classes=5, loss_weight=1.0)
    cls_score = torch.randn(16, loss_cls.get_cls_channels(5), requires_grad=True)
    labels = torch.randint(0, 6, (16,))
    label_weights = torch.ones(16)
    avg_factor = max(torch.sum(label_weights > 0).float().item(), 1.0)
    losses = loss_cls(
        cls_score, labels, label_weights, avg_factor=avg_factor, reduction_override=None
    )
    losses.update(loss_cls.get_accuracy(cls_score, labels))
    sum(v for k, v in losses.items() if k.startswith("loss")).backward()
    assert cls_score.grad is not None and loss_cls.get_activation(cls_score).shape == (16, 6)


def test_register_without_registry_needs_an_openmmlab_package():
    import importlib.util

    import longtail.compat

    if importlib.util.find_spec("mmdet") or importlib.util.find_spec("mmpretrain"):
        pytest.skip("mmdetection or mmpretrain is installed")
    with pytest.raises(ImportError, match="needs mmdetection"):
        longtail.compat.register()
    with pytest.raises(TypeError, match=r"registry should be an mmengine\.registry\.Registry"):
        longtail.compat.register(registry={})
