"""Core behaviours a switch from mmdetection / the official EQL code trips over."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from longtail import functional as F
from longtail.losses import EQLv2Loss, EqualizationLoss, SeesawLoss, SigmoidFocalLoss


def test_avg_factor_zero_with_zero_weights_gives_zero_not_nan():
    x = torch.randn(6, 4, requires_grad=True)
    y = torch.tensor([0, 4, 1, 2, 4, 3])
    zeros = torch.zeros(6)
    loss = F.sigmoid_focal_loss(x, y, weight=zeros, avg_factor=0)
    assert loss.item() == 0.0
    loss.backward()
    assert (x.grad == 0).all()
    assert SigmoidFocalLoss()(x, y, weight=zeros, avg_factor=0.0).item() == 0.0
    xs = torch.randn(6, 6)
    counts = torch.tensor([5.0, 3, 2, 1])
    out = F.seesaw_loss(
        xs, y, counts, mode="objectness", weight=zeros, avg_factor=0, return_dict=True
    )
    assert all(v.item() == 0.0 for v in out.values())
    assert SeesawLoss(4, mode="objectness")(xs, y, weight=zeros, avg_factor=0).item() == 0.0
    assert torch.isfinite(EQLv2Loss(3)(torch.randn(6, 4), y.clamp(max=3), avg_factor=0))


def test_avg_factor_divides_as_mmdet():
    x = torch.randn(5, 3, dtype=torch.float64)
    y = torch.tensor([0, 3, 1, 2, 3])
    summed = F.sigmoid_focal_loss(x, y, reduction="sum")
    got = F.sigmoid_focal_loss(x, y, avg_factor=4)
    torch.testing.assert_close(
        got, summed / (4 + torch.finfo(torch.float32).eps), rtol=1e-14, atol=0
    )


def test_eql_threshold_in_the_frequencies_dtype():
    # 0.00177 in float32 rounds to the same float32 as lambda_: not below it there, as the
    # official `freq_info < lambda_` on a FloatTensor decides. In float64 the same stored
    # float32 value is below 0.00177 and would be suppressed.
    lam = 0.00177
    f32 = torch.tensor([0.2, lam, 0.05], dtype=torch.float32)
    assert float(f32[1]) < lam  # the float32 value is below lambda in float64
    x = torch.randn(4, 3, dtype=torch.float64)
    y = torch.tensor([0, 3, 2, 0])  # foreground rows, none of class 1
    element = F.equalization_loss(x, y, f32, lambda_=lam, reduction="none")
    bce = TF.binary_cross_entropy_with_logits(x, TF.one_hot(y, 4)[:, :3].double(), reduction="none")
    torch.testing.assert_close(element, bce)  # nothing suppressed, as in float32
    f64 = f32.double()
    suppressed = F.equalization_loss(x, y, f64, lambda_=lam, reduction="none")
    assert (suppressed[y != 3, 1] == 0).all()
    # Lists arrive as the official FloatTensor (torch's default dtype); arrays keep theirs.
    torch.testing.assert_close(
        F.equalization_loss(x, y, f32.tolist(), lambda_=lam), element.sum() / 4
    )
    torch.testing.assert_close(
        F.equalization_loss(x, y, np.asarray(f32.tolist(), dtype=np.float64), lambda_=lam),
        suppressed.sum() / 4,
    )
    module = EqualizationLoss(f32, lambda_=lam)
    assert module.class_frequencies.dtype == torch.float32
    torch.testing.assert_close(module(x, y), element.sum() / 4)


def test_sigmoid_focal_takes_an_integer_one_hot_map():
    g = torch.Generator().manual_seed(0)
    pred = torch.randn(2, 5, 3, 4, generator=g, dtype=torch.float64, requires_grad=True)
    labels = torch.randint(0, 5, (2 * 3 * 4,), generator=g)
    onehot = TF.one_hot(labels, 5).reshape(2, 3, 4, 5).permute(0, 3, 1, 2)
    assert onehot.dtype == torch.int64
    got = F.sigmoid_focal_loss(pred, onehot, reduction="none")
    want = F.sigmoid_focal_loss(pred, onehot.double(), reduction="none")
    torch.testing.assert_close(got, want, rtol=0, atol=0)
    assert got.shape == pred.shape
    F.sigmoid_focal_loss(pred, onehot, avg_factor=5).backward()
    assert pred.grad.shape == pred.shape
    with pytest.raises(ValueError, match="target should have the shape of input"):
        F.sigmoid_focal_loss(pred, onehot[:, :, :2])
