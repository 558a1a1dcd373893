"""A NaN logit makes its own row's loss and gradient NaN and leaves the other rows alone, as
``F.cross_entropy`` does: a diverging run must show, never hide behind a finite loss."""

from __future__ import annotations

import longtail
import pytest
import torch
import torch.nn.functional as torch_F

COUNTS = [50, 20, 10, 5, 2]

LOSSES = {
    "FocalLoss": lambda: longtail.FocalLoss(reduction="none"),
    "FocalLoss(gamma=0.5)": lambda: longtail.FocalLoss(gamma=0.5, reduction="none"),
    "LDAMLoss": lambda: longtail.LDAMLoss(COUNTS, reduction="none"),
    "BalancedSoftmaxLoss": lambda: longtail.BalancedSoftmaxLoss(COUNTS, reduction="none"),
    "LogitAdjustedLoss": lambda: longtail.LogitAdjustedLoss(COUNTS, reduction="none"),
}


@pytest.mark.parametrize("name", list(LOSSES))
def test_nan_logit_poisons_only_its_row(name: str) -> None:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(4, len(COUNTS), generator=gen)
    x[2, 1] = float("nan")
    y = torch.tensor([0, 3, 1, 4])
    x.requires_grad_(True)
    out = LOSSES[name]()(x, y)
    out.sum().backward()
    # The same rows through torch's own cross-entropy, for the pattern of NaNs.
    ref = torch_F.cross_entropy(x.detach(), y, reduction="none")
    assert torch.equal(out.isnan(), ref.isnan()), (out, ref)
    assert x.grad[2].isnan().all()
    assert torch.isfinite(x.grad[[0, 1, 3]]).all()
    assert longtail.FocalLoss()(x.detach(), y).isnan()
