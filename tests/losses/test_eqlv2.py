"""EQLv2: values, gradients and the accumulated gradient statistics against the official
repository's op chain over several steps, a hand-checked first step, and the state policy.

Every reduction and ``avg_factor`` step by step against the oracle, gradcheck, Module vs
functional, state_dict / pickle round trips: the ``EQLv2Loss`` entry of ``_loss_cases.py``
(``test_loss_cases.py``)."""

from __future__ import annotations

import math
import pickle

import longtail
import pytest
import torch
from _testing import CPU_BACKENDS
from longtail import _autograd, _kernels
from longtail import functional as F
from longtail.exceptions import InvalidArgumentError, OutOfRangeError
from longtail.losses import EQLv2Loss

from tests import reference_detection as ref

C = 7


def _batch(n=32, c=C, seed=0, scale=3.0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, c + 1, generator=g, dtype=torch.float64) * scale - 1.0
    y = torch.randint(0, c + 1, (n,), generator=g)
    y[torch.rand(n, generator=g) < 0.5] = c  # background-heavy
    return x, y


def test_state_after_one_step_by_hand():
    """C = 2, zero logits (σ = 1/2), labels [0, 2]: first step is plain BCE (pos_neg = 100)."""
    m = EQLv2Loss(num_classes=2).double()
    x = torch.zeros(2, 3, dtype=torch.float64, requires_grad=True)
    y = torch.tensor([0, 2])
    loss = m(x, y)
    torch.testing.assert_close(loss, torch.tensor(3 * math.log(2), dtype=torch.float64))
    # Column 0: row 0 positive (|σ−1| = 1/2), row 1 negative (σ = 1/2); column 1: both
    # negative; the background column is not collected.
    torch.testing.assert_close(m.pos_grad, torch.tensor([0.5, 0.0], dtype=torch.float64))
    torch.testing.assert_close(m.neg_grad, torch.tensor([0.5, 1.0], dtype=torch.float64))
    torch.testing.assert_close(
        m.pos_neg, torch.tensor([0.5 / (0.5 + 1e-10), 0.0], dtype=torch.float64)
    )
    loss.backward()
    want = torch.tensor([[-0.5, 0.5, 0.5], [0.5, 0.5, -0.5]], dtype=torch.float64) / 2
    torch.testing.assert_close(x.grad, want)
    # Second step: weights from the state above.
    f = [1 / (1 + math.exp(-12 * (v - 0.8))) for v in (0.5 / (0.5 + 1e-10), 0.0)]
    pos_w0 = 1 + 4 * (1 - f[0])
    loss2 = m(torch.zeros(2, 3, dtype=torch.float64), y)
    want2 = math.log(2) * (pos_w0 + f[1] + 1 + f[0] + f[1] + 1) / 2
    assert loss2.item() == pytest.approx(want2, rel=1e-12)


@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_matches_official_over_steps(backend):
    m = EQLv2Loss(C).double()
    oracle = ref.EQLv2(C)
    original = _autograd.SigmoidLossFn.apply
    _autograd.SigmoidLossFn.apply = lambda x, call: original(x, call._replace(backend=backend))
    try:
        for step in range(8):
            x, y = _batch(seed=step)
            x = x.requires_grad_()
            ours = m(x, y)
            theirs = oracle(x, y)
            torch.testing.assert_close(ours, theirs, rtol=1e-12, atol=1e-12)
            (g1,) = torch.autograd.grad(ours, x)
            (g2,) = torch.autograd.grad(theirs, x)
            torch.testing.assert_close(g1, g2, rtol=1e-10, atol=1e-14)
            for name in ("pos_grad", "neg_grad", "pos_neg"):
                torch.testing.assert_close(
                    getattr(m, name), getattr(oracle, name), rtol=1e-10, atol=1e-12
                )
    finally:
        _autograd.SigmoidLossFn.apply = original
    assert (m.pos_neg < 100).all()  # the state moved away from its initial value


def test_gradient_is_weighted_bce_gradient():
    x, y = _batch(n=6, c=3, seed=1, scale=1.0)
    pos_neg = torch.tensor([0.3, 0.9, 2.0], dtype=torch.float64)
    x = x.requires_grad_()
    loss = F.eqlv2_loss(x, y, pos_neg)
    (g,) = torch.autograd.grad(loss, x)
    t = ref.onehot_with_background(y, 4)
    pos_w, neg_w = F.eqlv2_weights(pos_neg)
    w = pos_w * t + neg_w * (1 - t)
    torch.testing.assert_close(g, w * (x.detach().sigmoid() - t) / 6)


def test_state_policy_and_resume():
    batches = [_batch(seed=10 + k) for k in range(6)]
    m = EQLv2Loss(C).double()
    with torch.no_grad():
        m(*batches[0])
    m.eval()
    m(*batches[0])
    assert (m.pos_grad == 0).all() and (m.pos_neg == 100).all()
    m.train()
    full = [m(x, y) for x, y in batches]
    first = EQLv2Loss(C).double()
    for x, y in batches[:4]:
        first(x, y)
    resumed = EQLv2Loss(C).double()
    resumed.load_state_dict(first.state_dict())
    assert set(first.state_dict()) == {"pos_grad", "neg_grad", "pos_neg"}
    for (x, y), want in zip(batches[4:], full[4:], strict=True):
        torch.testing.assert_close(resumed(x, y), want, rtol=0, atol=0)
    for name in ("pos_grad", "neg_grad", "pos_neg"):
        torch.testing.assert_close(getattr(resumed, name), getattr(m, name), rtol=0, atol=0)
    m2 = pickle.loads(pickle.dumps(m))
    torch.testing.assert_close(m2.pos_neg, m.pos_neg)


def test_bad_input_leaves_state_untouched():
    x, y = _batch(seed=4)
    m = EQLv2Loss(C)
    m(x.float(), y)
    before = {k: v.clone() for k, v in m.state_dict().items()}
    with pytest.raises(OutOfRangeError, match=r"target should contain labels in \[0, 8\)"):
        m(x.float(), torch.full_like(y, C + 1))
    bad = x.float().clone()
    bad[0, 0] = float("nan")
    with pytest.raises(InvalidArgumentError, match="input should not contain NaN"):
        m(bad, y)
    with pytest.raises(ValueError, match=r"input should have 8 columns \(num_classes=7"):
        m(x.float()[:, :C], y)
    for k, v in m.state_dict().items():
        torch.testing.assert_close(v, before[k], rtol=0, atol=0)
    with pytest.raises(ValueError, match="num_classes should be a positive integer"):
        EQLv2Loss(0)


def test_kernel_equals_tch_float32_with_stats():
    x, y = _batch(n=500, seed=5, scale=6.0)
    pos_w, neg_w = F.eqlv2_weights(torch.rand(C) * 2)
    args = dict(
        pos_weight=pos_w,
        neg_weight=neg_w,
        num_labels=C + 1,
        normalization="rows",
        collect_stats=True,
    )
    a = longtail._kernels.sigmoid_loss(x.float(), y, backend="kernel", **args)
    b = longtail._kernels.sigmoid_loss(x.float(), y, backend="torch", **args)
    for u, v in zip(a, b, strict=True):
        torch.testing.assert_close(u, v, rtol=1e-5, atol=1e-5)


def test_extreme_logits_and_empty_batch():
    x = torch.tensor([[100.0, -100.0, 100.0], [-100.0, 100.0, -100.0]], dtype=torch.float64)
    y = torch.tensor([0, 2])
    m = EQLv2Loss(2).double()
    oracle = ref.EQLv2(2)
    for _ in range(2):
        torch.testing.assert_close(m(x, y), oracle(x, y))
        torch.testing.assert_close(m.pos_neg, oracle.pos_neg)
    # An empty batch: the mean of nothing is NaN (as torch); the official update still runs and
    # recomputes pos_neg = 0 / (0 + 1e-10) = 0 from the (zero) sums — we follow it.
    e = EQLv2Loss(2).double()
    empty_oracle = ref.EQLv2(2)
    z = torch.zeros(0, 3, dtype=torch.float64, requires_grad=True)
    out = e(z, torch.zeros(0, dtype=torch.long))
    assert torch.isnan(out)
    empty_oracle(z, torch.zeros(0, dtype=torch.long))
    torch.testing.assert_close(e.pos_neg, empty_oracle.pos_neg)
    assert (e.pos_grad == 0).all()


def test_opcheck_and_public_names():
    x, y = _batch(n=6, c=3, seed=6)
    pos_w, neg_w = F.eqlv2_weights(torch.rand(3))
    torch.library.opcheck(
        _autograd.sigmoid_loss_op,
        (
            x.float().requires_grad_(),
            *_kernels.SigmoidLossCall(
                y,
                pos_weight=pos_w,
                neg_weight=neg_w,
                num_labels=4,
                normalization="rows",
                collect_stats=True,
            ),
        ),
    )
    assert longtail.EQLv2Loss is EQLv2Loss


def test_update_needs_no_host_sync(monkeypatch):
    x, y = _batch(seed=7)
    m = EQLv2Loss(C)

    def forbidden(*args, **kwargs):
        raise AssertionError("host synchronisation in the forward pass")

    with monkeypatch.context() as patch:
        for owner, name in (
            (torch.Tensor, "item"),
            (torch.Tensor, "tolist"),
            (torch.Tensor, "__bool__"),
            (torch, "unique"),
        ):
            patch.setattr(owner, name, forbidden)
        m(x.float(), y)
    assert (m.pos_grad > 0).any()
