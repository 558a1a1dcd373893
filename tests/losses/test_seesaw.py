"""Seesaw loss: values, the analytic (detached-factor) gradient and the cumulative counts against
mmdetection's op chain, in the classification, background and objectness forms.

Every dtype and reduction step by step against the oracle (counts before the loss), Module vs
functional, gradcheck at q = 0, resuming from state_dict and pickling: the ``SeesawLoss`` and
``SeesawLoss-objectness`` entries of ``_loss_cases.py`` (``test_loss_cases.py``)."""

from __future__ import annotations

import longtail
import pytest
import torch
import torch.nn.functional as TF
from _testing import CPU_BACKENDS
from longtail import _autograd, _kernels
from longtail import functional as F
from longtail.exceptions import InvalidArgumentError, OutOfRangeError
from longtail.losses import SeesawLoss

from tests import reference_detection as ref

C = 6


def _det_batch(n=24, c=C, extra=2, seed=0, scale=3.0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, c + extra, generator=g, dtype=torch.float64) * scale
    # Background-heavy labels, as in detection: about half the rows are label C.
    y = torch.randint(0, c + 1, (n,), generator=g)
    y[torch.rand(n, generator=g) < 0.4] = c
    w = torch.rand(n, generator=g, dtype=torch.float64) + 0.5
    return x, y, w


def _cls_batch(n=20, c=C, seed=0, scale=3.0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, c, generator=g, dtype=torch.float64) * scale
    # Long-tailed labels so that mitigation matters.
    probs = torch.tensor([0.5, 0.25, 0.12, 0.07, 0.04, 0.02])[:c]
    y = torch.multinomial(probs, n, replacement=True, generator=g)
    return x, y


def _grad(fn, x):
    x = x.detach().clone().requires_grad_()
    out = fn(x)
    (out if out.dim() == 0 else out.sum()).backward()
    return out.detach(), x.grad


@pytest.mark.parametrize(("p", "q"), [(0.8, 2.0), (0.0, 2.0), (0.8, 0.0), (1.5, 1.3)])
@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_classification_value_and_analytic_grad(p, q, backend):
    x, y = _cls_batch()
    counts = torch.tensor([900.0, 300.0, 40.0, 0.0, 12.0, 5.0], dtype=torch.float64)
    got, gg = _grad(
        lambda z: _autograd.seesaw_loss(
            z, y, num_classes=C, counts=counts, p=p, q=q, eps=1e-2, backend=backend
        )[0],
        x,
    )
    want, gw = _grad(lambda z: ref.seesaw_ce(z, y, None, counts, p, q, 1e-2), x)
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(gg, gw, rtol=1e-10, atol=1e-13)
    # The closed form of the gradient with the factors S held constant (softmax of the adjusted
    # logits minus one-hot).
    torch.testing.assert_close(gg, ref.seesaw_analytic_grad(x, y, counts, p, q, 1e-2))


def test_gradient_is_not_finite_difference_when_q_positive():
    x, y = _cls_batch(n=6, seed=2)
    counts = torch.tensor([50.0, 20.0, 10.0, 5.0, 2.0, 1.0], dtype=torch.float64)
    x = x.requires_grad_()
    assert not torch.autograd.gradcheck(
        lambda z: F.seesaw_loss(z, y, counts, q=2.0), (x,), raise_exception=False
    )


@pytest.mark.parametrize("mode", ["classification", "background", "objectness"])
def test_gradcheck_with_q_zero(mode):
    x, y, w = _det_batch(
        n=8,
        c=4,
        extra={"classification": 0, "background": 1, "objectness": 2}[mode],
        seed=3,
        scale=1.0,
    )
    if mode == "classification":
        y = y.clamp(max=3)
    counts = torch.tensor([30.0, 2.0, 11.0, 7.0, 100.0], dtype=torch.float64)
    x = x.requires_grad_()
    for reduction in ("mean", "none"):
        assert torch.autograd.gradcheck(
            lambda z, r=reduction: F.seesaw_loss(
                z,
                y,
                counts if mode != "classification" else counts[:4],
                q=0.0,
                mode=mode,
                weight=w,
                reduction=r,
            ),
            (x,),
        )


def test_p_q_zero_is_cross_entropy():
    x, y = _cls_batch(seed=4)
    counts = torch.tensor([9.0, 8.0, 1.0, 500.0, 3.0, 2.0])
    got, gg = _grad(lambda z: F.seesaw_loss(z, y, counts, p=0.0, q=0.0), x)
    want, gw = _grad(lambda z: TF.cross_entropy(z, y), x)
    torch.testing.assert_close(got, want)
    torch.testing.assert_close(gg, gw)
    # Uniform counts and q = 0 is cross-entropy too.
    got, gg = _grad(lambda z: F.seesaw_loss(z, y, torch.full((C,), 7.0), q=0.0), x)
    torch.testing.assert_close(got, want)
    torch.testing.assert_close(gg, gw)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("avg_factor", [None, 11.0])
@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_objectness_form_matches_mmdet_over_steps(reduction, avg_factor, backend):
    if reduction == "sum" and avg_factor is not None:
        return
    torch.manual_seed(0)
    m = SeesawLoss(C, mode="objectness", return_dict=True, reduction=reduction).double()
    oracle = ref.Seesaw(C)
    for step in range(5):
        x, y, w = _det_batch(seed=10 + step)
        x = x.requires_grad_()
        ours = _with_backend(
            backend, lambda x=x, y=y, w=w: m(x, y, weight=w, avg_factor=avg_factor)
        )
        theirs = oracle(x, y, label_weights=w, avg_factor=avg_factor, reduction=reduction)
        if reduction == "none":
            # mmdetection's class term has one entry per positive; ours one per row (0 for
            # background rows).
            pos = y < C
            torch.testing.assert_close(ours["loss_cls_classes"][pos], theirs["loss_cls_classes"])
            assert (ours["loss_cls_classes"][~pos] == 0).all()
            total_ours = ours["loss_cls_classes"].sum() + ours["loss_cls_objectness"].sum()
            total_theirs = theirs["loss_cls_classes"].sum() + theirs["loss_cls_objectness"].sum()
        else:
            for k in theirs:
                torch.testing.assert_close(ours[k], theirs[k], rtol=1e-12, atol=1e-12)
            total_ours = sum(ours.values())
            total_theirs = sum(theirs.values())
        (g_ours,) = torch.autograd.grad(total_ours, x)
        (g_theirs,) = torch.autograd.grad(total_theirs, x)
        torch.testing.assert_close(g_ours, g_theirs, rtol=1e-10, atol=1e-13)
        torch.testing.assert_close(m.cum_samples, oracle.cum_samples, rtol=0, atol=0)


def _with_backend(backend, fn):
    """Runs ``fn`` with the functional's kernel call pinned to ``backend``."""
    original = _autograd.SeesawLossFn.apply

    def pinned(input, call):
        return original(input, call._replace(backend=backend))

    _autograd.SeesawLossFn.apply = pinned
    try:
        return fn()
    finally:
        _autograd.SeesawLossFn.apply = original


def test_background_form():
    """C+1 logits, the background a class of the softmax: factors between foreground classes
    only — equal to the classification form on the foreground columns when the background
    logit is -inf, and plain cross-entropy for background rows."""
    x, y, _ = _det_batch(extra=1, seed=5)
    counts = torch.tensor([400.0, 3.0, 60.0, 9.0, 1.0, 25.0, 1e5], dtype=torch.float64)
    got = F.seesaw_loss(x, y, counts, mode="background", reduction="none")
    fg = y < C
    z = x.clone()
    z[:, C] = -float("inf")
    want_fg = ref.seesaw_ce(z[fg, :C], y[fg], None, counts[:C], 0.8, 2.0, 1e-2, "none")
    # The -inf background column changes the softmax used for the compensation factor, so
    # compare with the background logit included in sigma: build the factors directly.
    sig = x.softmax(1)
    n_y = counts[:C].clamp(min=1)[y[fg]][:, None]
    m = torch.where(counts[:C][None] < n_y, (counts[:C][None] / n_y) ** 0.8, torch.ones_like(n_y))
    s_y = sig[fg].gather(1, y[fg, None]).clamp(min=1e-2)
    comp = torch.where(sig[fg, :C] > s_y, (sig[fg, :C] / s_y) ** 2, torch.ones_like(m))
    onehot = TF.one_hot(y[fg], C + 1).double()
    log_s = torch.cat([torch.log(m * comp), torch.zeros(int(fg.sum()), 1, dtype=x.dtype)], 1)
    want_fg = TF.cross_entropy(x[fg] + log_s * (1 - onehot), y[fg], reduction="none")
    torch.testing.assert_close(got[fg], want_fg)
    torch.testing.assert_close(got[~fg], TF.cross_entropy(x[~fg], y[~fg], reduction="none"))
    m = SeesawLoss(C, mode="background")
    assert m.cum_samples.shape == (C + 1,)


def test_state_policy_eval_no_grad_and_explicit():
    x, y = _cls_batch(seed=7)
    m = SeesawLoss(C)
    with torch.no_grad():
        m(x.float(), y)
    assert m.cum_samples.sum() == 0
    m.eval()
    m(x.float(), y)
    assert m.cum_samples.sum() == 0
    m(x.float(), y, update_state=True)
    assert m.cum_samples.sum() == len(y)
    m.train()
    m(x.float(), y, update_state=False)
    assert m.cum_samples.sum() == len(y)
    m(x.float(), y)
    assert m.cum_samples.sum() == 2 * len(y)


def test_bad_input_leaves_state_untouched():
    x, y, _ = _det_batch(seed=8)
    m = SeesawLoss(C, mode="objectness")
    m(x.float(), y)
    before = m.cum_samples.clone()
    with pytest.raises(OutOfRangeError, match=r"target should contain labels in \[0, 7\)"):
        m(x.float(), torch.where(y == 0, C + 1, y))
    bad = x.float().clone()
    bad[2, 1] = float("nan")
    with pytest.raises(InvalidArgumentError, match="input should not contain NaN"):
        m(bad, y)
    with pytest.raises(ValueError, match=r"input should have 8 columns"):
        m(x.float()[:, : C + 1], y)
    with pytest.raises(ValueError, match=r"weight should have shape \(24,\)"):
        m(x.float(), y, weight=torch.ones(3))
    torch.testing.assert_close(m.cum_samples, before, rtol=0, atol=0)
    with pytest.raises(ValueError, match="mode should be one of"):
        SeesawLoss(C, mode="sigmoid")
    with pytest.raises(ValueError, match=r"p should be >= 0\.0"):
        SeesawLoss(C, p=-1.0)


def test_counting_needs_no_host_sync(monkeypatch):
    """The forward pass reads nothing back to the host (mmdetection's loop over unique labels
    with .item() is what this rules out)."""
    x, y, w = _det_batch(seed=9)
    m = SeesawLoss(C, mode="objectness")

    def forbidden(*args, **kwargs):
        raise AssertionError("host synchronisation in the forward pass")

    with monkeypatch.context() as patch:
        for owner, name in (
            (torch.Tensor, "item"),
            (torch.Tensor, "tolist"),
            (torch.Tensor, "unique"),
            (torch.Tensor, "__bool__"),
            (torch, "unique"),
            (torch, "bincount"),
        ):
            patch.setattr(owner, name, forbidden)
        m(x.float(), y, weight=w.float(), avg_factor=5.0)
    assert m.cum_samples.sum() == len(y)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_kernel_equals_tch_float32(reduction):
    x, y, w = _det_batch(n=200, seed=12, scale=5.0)
    counts = torch.linspace(1, 1000, C + 1)
    for form, k in (("objectness", C + 2), ("background", C + 1)):
        args = dict(
            num_classes=C, mode=form, counts=counts[:C], weight=w.float(), reduction=reduction
        )
        a = longtail._kernels.seesaw_loss(x.float()[:, :k], y, backend="kernel", **args)
        b = longtail._kernels.seesaw_loss(x.float()[:, :k], y, backend="torch", **args)
        for u, v in zip(a, b, strict=True):
            torch.testing.assert_close(u, v, rtol=1e-5, atol=1e-6)


def test_extreme_logits_and_empty_batch():
    x = torch.tensor(
        [[100.0, -100.0, 0.0, 100.0], [-100.0, 100.0, 100.0, -100.0]], dtype=torch.float64
    )
    y = torch.tensor([0, 2])
    counts = torch.tensor([10.0, 1000.0, 1.0, 5.0], dtype=torch.float64)
    got, gg = _grad(lambda z: F.seesaw_loss(z, y, counts), x)
    want, gw = _grad(lambda z: ref.seesaw_ce(z, y, None, counts, 0.8, 2.0, 1e-2), x)
    assert torch.isfinite(got) and torch.isfinite(gg).all()
    torch.testing.assert_close(got, want)
    torch.testing.assert_close(gg, gw)
    e = torch.zeros(0, C + 2, requires_grad=True)
    m = SeesawLoss(C, mode="objectness", return_dict=True)
    out = m(e, torch.zeros(0, dtype=torch.long))
    assert out["loss_cls_classes"].item() == 0.0  # mmdetection: no positives -> 0
    assert torch.isnan(out["loss_cls_objectness"])  # mean of nothing, as torch
    assert m(e, torch.zeros(0, dtype=torch.long), avg_factor=1.0)["loss_cls_objectness"] == 0
    assert m.cum_samples.sum() == 0


def test_ignore_index_rows_are_skipped_and_not_counted():
    x, y = _cls_batch(seed=13)
    y2 = y.clone()
    y2[::4] = -100
    keep = y2 != -100
    m = SeesawLoss(C).double()
    got = m(x, y2)
    assert m.cum_samples.sum() == keep.sum()
    torch.testing.assert_close(got, F.seesaw_loss(x[keep], y[keep], m.cum_samples))


def test_opcheck():
    x, y, w = _det_batch(n=6, c=3, seed=15)
    x = x.float().requires_grad_()
    counts = torch.tensor([5.0, 1.0, 9.0])
    for reduction in ("mean", "none"):
        call = _kernels.SeesawLossCall(
            y, 3, mode="objectness", counts=counts, weight=w.float(), reduction=reduction
        )
        torch.library.opcheck(_autograd.seesaw_loss_op, (x, *call))
    xc = x.detach()[:, :3].clone().requires_grad_()
    call = _kernels.SeesawLossCall(
        y.clamp(max=2), 3, counts=counts, factors=torch.ones(6, 3), reduction="sum"
    )
    torch.library.opcheck(_autograd.seesaw_loss_op, (xc, *call))


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:`torch.jit.script_method` is deprecated:DeprecationWarning")
@pytest.mark.usefixtures("restore_denormals")
def test_compile_fullgraph_equals_eager_with_state():
    batches = [_det_batch(n=16, seed=30 + k) for k in range(3)]
    eager = SeesawLoss(C, mode="objectness")
    compiled_module = SeesawLoss(C, mode="objectness")
    compiled = torch.compile(compiled_module, fullgraph=True)
    for x, y, w in batches:
        xe = x.float().requires_grad_()
        xc = x.float().requires_grad_()
        le = eager(xe, y, weight=w.float(), avg_factor=6.0)
        lc = compiled(xc, y, weight=w.float(), avg_factor=6.0)
        le.backward()
        lc.backward()
        torch.testing.assert_close(lc, le)
        torch.testing.assert_close(xc.grad, xe.grad)
        torch.testing.assert_close(compiled_module.cum_samples, eager.cum_samples)


def test_only_one_term_differentiated():
    x, y, _ = _det_batch(seed=16)
    x = x.requires_grad_()
    m = SeesawLoss(C, mode="objectness", return_dict=True).double()
    out = m(x, y, update_state=False)
    out["loss_cls_objectness"].backward()
    oracle = ref.Seesaw(C)
    oracle.cum_samples = m.cum_samples.clone() - 0  # same counts (no update above)
    oracle.count = lambda labels: None
    xr = x.detach().requires_grad_()
    oracle(xr, y)["loss_cls_objectness"].backward()
    torch.testing.assert_close(x.grad, xr.grad)
    assert (x.grad[:, :C] == 0).all()
