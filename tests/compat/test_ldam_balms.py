"""longtail.compat.ldam and .balms against the official code (kaidic/LDAM-DRW ``losses.py``,
jiawei-ren/BalancedMetaSoftmax-Classification ``loss/BalancedSoftmaxLoss.py``), written out in
float64 and compared in values, gradients and over the DRW weight schedule."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from longtail.compat import PeerAssertionError
from longtail.compat.balms import balanced_softmax_loss
from longtail.compat.ldam import FocalLoss, LDAMLoss

CLS_NUM = [500, 120, 40, 9, 2]


class OfficialLDAM:
    def __init__(self, cls_num_list, max_m=0.5, weight=None, s=30):
        m_list = 1.0 / np.sqrt(np.sqrt(cls_num_list))
        m_list = m_list * (max_m / np.max(m_list))
        self.m_list = torch.tensor(m_list, dtype=torch.float64)
        self.s, self.weight = s, weight

    def __call__(self, x, target):
        index = torch.zeros_like(x, dtype=torch.uint8)
        index.scatter_(1, target.data.view(-1, 1), 1)
        batch_m = torch.matmul(self.m_list[None, :], index.double().transpose(0, 1)).view(-1, 1)
        output = torch.where(index.bool(), x - batch_m, x)
        return TF.cross_entropy(self.s * output, target, weight=self.weight)


def official_focal(input, target, weight=None, gamma=0.0):
    input_values = TF.cross_entropy(input, target, reduction="none", weight=weight)
    p = torch.exp(-input_values)
    return ((1 - p) ** gamma * input_values).mean()


def official_balanced_softmax(labels, logits, sample_per_class, reduction):
    spc = sample_per_class.type_as(logits).unsqueeze(0).expand(logits.shape[0], -1)
    return TF.cross_entropy(input=logits + spc.log(), target=labels, reduction=reduction)


def drw_weights(epoch, cls_num_list, betas=(0, 0.9999), idx_every=160):
    # cifar_train.py's DRW schedule: effective-number weights from epoch 160.
    beta = betas[epoch // idx_every]
    effective_num = 1.0 - np.power(beta, cls_num_list)
    w = (1.0 - beta) / np.array(effective_num)
    w = w / np.sum(w) * len(cls_num_list)
    return torch.tensor(w, dtype=torch.float64)


def _batch(seed, n=16, c=5):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, c, generator=g, dtype=torch.float64), torch.randint(
        0, c, (n,), generator=g
    )


def _value_grad(fn, x):
    x = x.detach().clone().requires_grad_()
    out = fn(x)
    out.backward()
    return out, x.grad


@pytest.mark.parametrize("epoch", [0, 170])
def test_ldam_matches_official_with_drw(epoch):
    w = drw_weights(epoch, CLS_NUM)
    ours, theirs = LDAMLoss(CLS_NUM, max_m=0.5, s=30, weight=w), OfficialLDAM(CLS_NUM, 0.5, w, 30)
    for step in range(3):
        x, y = _batch(step)
        got, gg = _value_grad(lambda z, y=y: ours(z, y), x)
        want, gw = _value_grad(lambda z, y=y: theirs(z, y), x)
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)
        torch.testing.assert_close(gg, gw, rtol=1e-10, atol=1e-12)


def test_ldam_defaults_and_weight_attribute():
    loss = LDAMLoss(CLS_NUM)
    assert (loss.max_m, loss.s, loss.weight) == (0.5, 30, None)
    torch.testing.assert_close(loss.m_list, OfficialLDAM(CLS_NUM).m_list.float())
    x, y = _batch(4)
    loss.weight = drw_weights(170, CLS_NUM)  # DRW switches the weight mid-training
    torch.testing.assert_close(loss(x, y), OfficialLDAM(CLS_NUM, weight=loss.weight)(x, y))
    with pytest.raises(AssertionError):
        LDAMLoss(CLS_NUM, s=0)


@pytest.mark.parametrize("gamma", [0.0, 1.0, 2.5])
@pytest.mark.parametrize("weighted", [False, True])
def test_focal_matches_official(gamma, weighted):
    w = drw_weights(170, CLS_NUM) if weighted else None
    for step in range(3):
        x, y = _batch(10 + step)
        got, gg = _value_grad(lambda z, y=y: FocalLoss(weight=w, gamma=gamma)(z, y), x)
        want, gw = _value_grad(lambda z, y=y: official_focal(z, y, w, gamma), x)
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)
        torch.testing.assert_close(gg, gw, rtol=1e-10, atol=1e-12)


def test_focal_default_gamma_is_zero():
    x, y = _batch(3)
    assert FocalLoss().gamma == 0
    torch.testing.assert_close(FocalLoss()(x, y), TF.cross_entropy(x, y))
    with pytest.raises(PeerAssertionError):
        FocalLoss(gamma=-1)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_balanced_softmax_matches_official(reduction):
    spc = torch.tensor(CLS_NUM)
    x, y = _batch(7)
    got, gg = _value_grad(lambda z: balanced_softmax_loss(y, z, spc, reduction).sum(), x)
    want, gw = _value_grad(lambda z: official_balanced_softmax(y, z, spc, reduction).sum(), x)
    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(gg, gw, rtol=1e-10, atol=1e-12)


def test_script_official_calls():
    # cifar_train.py: criterion = LDAMLoss(cls_num_list=cls_num_list, max_m=0.5, s=30,
    #                                      weight=per_cls_weights).cuda(args.gpu)
    per_cls_weights = drw_weights(170, CLS_NUM).float()
    criterion = LDAMLoss(cls_num_list=CLS_NUM, max_m=0.5, s=30, weight=per_cls_weights)
    output = torch.randn(8, 5, requires_grad=True)
    target = torch.randint(0, 5, (8,))
    criterion(output, target).backward()
    criterion = FocalLoss(weight=per_cls_weights, gamma=1)
    criterion(output, target).backward()
    # BalancedSoftmax.forward: balanced_softmax_loss(label, input, self.sample_per_class,
    #                                                self.reduction)
    loss = balanced_softmax_loss(target, output, torch.tensor(CLS_NUM), "mean")
    assert loss.dim() == 0
