"""BAGS group softmax: the training loss with a given "others" mask against eqlv2's
``GroupSoftmax`` op chain, the sampling rule, and the test-time merge.

Every dtype and reduction with a given mask against the oracle, gradcheck, Module vs
functional and state_dict round trips: the ``GroupSoftmaxLoss`` entry of ``_loss_cases.py``
(``test_loss_cases.py``)."""

from __future__ import annotations

import pickle

import pytest
import torch
import torch.nn.functional as TF
from _testing import CPU_BACKENDS
from longtail import _autograd, _kernels
from longtail import functional as F
from longtail.exceptions import InvalidArgumentError, OutOfRangeError
from longtail.losses import GroupSoftmaxLoss

from tests import reference_detection as ref

COUNTS = [5, 50, 3, 500, 5000, 20, 7, 1200, 0]
C = len(COUNTS)
GROUPS = ref.bags_groups(COUNTS)
K = C + 1 + len(GROUPS)


def _batch(n=40, seed=0, scale=2.0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, K, generator=g, dtype=torch.float64) * scale
    y = torch.randint(0, C + 1, (n,), generator=g)
    y[torch.rand(n, generator=g) < 0.4] = C
    return x, y


def _grad(fn, x):
    x = x.detach().clone().requires_grad_()
    out = fn(x)
    (out if out.dim() == 0 else out.sum()).backward()
    return out.detach(), x.grad


def test_layout_matches_eqlv2_encoding():
    label_map, sizes = F.bags_layout(COUNTS)
    assert sizes == [len(g) + 1 for g in GROUPS]
    for g, members in enumerate(GROUPS):
        for pos, k in enumerate(members):
            assert label_map[g, k] == pos + 1
    assert sum(sizes) == K


@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_loss_with_given_keep_matches_eqlv2(backend):
    x, y = _batch()
    keep = torch.rand(len(y), len(GROUPS), generator=torch.Generator().manual_seed(1)) < 0.5
    keep[:, -1] = True
    original = _autograd.GroupSoftmaxFn.apply
    _autograd.GroupSoftmaxFn.apply = lambda x, call: original(x, call._replace(backend=backend))
    try:
        got, gg = _grad(lambda z: F.group_softmax_loss(z, y, COUNTS, keep=keep), x)
    finally:
        _autograd.GroupSoftmaxFn.apply = original
    want, gw = _grad(lambda z: ref.group_softmax(z, y, GROUPS, keep), x)
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(gg, gw, rtol=1e-10, atol=1e-14)


def test_sampling_rule():
    x, y = _batch(n=200, seed=2)
    label_map, _ = F.bags_layout(COUNTS)
    targets = label_map[:, y].T
    for beta in (0.5, 2.0, 8.0):
        keep = F._bags_keep(targets, beta, torch.Generator().manual_seed(3))
        assert keep[:, -1].all()
        for g in range(len(GROUPS) - 1):
            pos = targets[:, g] > 0
            others = int((~pos).sum())
            want = 0 if pos.sum() == 0 else min(int(beta * int(pos.sum())), others)
            assert bool(keep[pos, g].all()) or pos.sum() == 0
            if pos.sum() == 0:
                assert not keep[:, g].any()
            assert int((keep[:, g] & ~pos).sum()) == want
    # Seeded: reproducible; the loss with the sampled mask equals the loss with that mask.
    gen = torch.Generator().manual_seed(4)
    a = F.group_softmax_loss(x, y, COUNTS, beta=2.0, generator=gen)
    keep = F._bags_keep(targets, 2.0, torch.Generator().manual_seed(4))
    torch.testing.assert_close(a, ref.group_softmax(x, y, GROUPS, keep))


def test_one_group_is_softmax_cross_entropy():
    counts = [3, 8, 1, 9]  # all below 10: one foreground group
    x = torch.randn(12, 4 + 1 + 2, dtype=torch.float64)
    y = torch.randint(0, 4, (12,))  # no background rows: every row is a positive of group 0
    got, gg = _grad(lambda z: F.group_softmax_loss(z, y, counts, bin_split=()), x)
    want, gw = _grad(
        lambda z: (
            TF.cross_entropy(z[:, :5], y + 1) + TF.cross_entropy(z[:, 5:], torch.zeros_like(y))
        ),
        x,
    )
    torch.testing.assert_close(got, want)
    torch.testing.assert_close(gg, gw)


@pytest.mark.parametrize("reduction", ["sum", "none"])
def test_pickle_keeps_the_generator_state(reduction):
    """The "others" draw of a pickled Module continues its generator where the original is."""
    x, y = _batch(n=10, seed=5, scale=1.0)
    m = GroupSoftmaxLoss(COUNTS, reduction=reduction, generator=torch.Generator().manual_seed(0))
    m2 = pickle.loads(pickle.dumps(m))
    torch.testing.assert_close(m2(x, y), m(x, y))


def test_inference_merge():
    x, _ = _batch(seed=6)
    scores = F.group_softmax_inference(x, COUNTS)
    torch.testing.assert_close(scores, ref.group_softmax_scores(x, GROUPS))
    torch.testing.assert_close(GroupSoftmaxLoss(COUNTS).inference(x), scores)
    torch.testing.assert_close(scores[:, -1], x[:, -2:].softmax(1)[:, 1])


def test_errors_empty_and_opcheck():
    x, y = _batch(seed=7)
    with pytest.raises(OutOfRangeError, match=r"target should contain labels in \[0, 10\)"):
        F.group_softmax_loss(x, torch.full_like(y, C + 1), COUNTS)
    with pytest.raises(ValueError, match=r"input should have 15 columns"):
        F.group_softmax_loss(x[:, :-1], y, COUNTS)
    bad = x.clone()
    bad[3, 0] = float("nan")
    with pytest.raises(InvalidArgumentError, match="row 3"):
        F.group_softmax_loss(bad, y, COUNTS)
    e = F.group_softmax_loss(torch.zeros(0, K), torch.zeros(0, dtype=torch.long), COUNTS)
    assert e.item() == 0.0  # every group's normaliser is max(0, 1)
    _, sizes = F.bags_layout(COUNTS)
    offsets = [0]
    for s in sizes:
        offsets.append(offsets[-1] + s)
    targets = F.bags_layout(COUNTS)[0][:, y].T.contiguous()
    w = torch.rand(len(y), len(sizes))
    call = _kernels.GroupSoftmaxCall(targets, w, offsets, reduction="mean")
    torch.library.opcheck(_autograd.group_softmax_loss_op, (x.float().requires_grad_(), *call))
