"""The shared softmax-family kernel under every loss: the CPU kernel against the libtorch-ops
path, the autograd Function and the ``longtail::softmax_loss`` custom op (``opcheck``,
``torch.compile``)."""

from __future__ import annotations

import longtail
import pytest
import reference as R
import torch
import torch.nn.functional as F
from _testing import (
    CPU_BACKENDS,
    REDUCTIONS,
    assert_close,
    cotangent,
    make_counts,
    make_logits,
    make_target,
    make_weight,
)
from longtail import _autograd, _kernels
from longtail import functional as LF

# -- 6. CPU kernel == tch path -----------------------------------------------------------------

#: Parameter sets of the fused kernel (per-class tensors are drawn for the case's C).
PARAMS = {
    "plain": {},
    "offsets": {"offsets": "randn"},
    "margins-scale": {"margins": "rand", "scale": 30.0},
    "weight": {"weight": "weight"},
    "alpha-gamma": {"alpha": "weight", "gamma": 2.0},
    "gamma-half": {"gamma": 0.5},
    "smoothing": {"label_smoothing": 0.2},
    "ignore": {"ignore_index": 1},
    "count": {"weight": "weight", "normalization": "count"},
    "avg-factor": {"weight": "weight", "avg_factor": 3.5},
    "everything": {
        "offsets": "randn",
        "margins": "rand",
        "scale": 4.0,
        "weight": "weight",
        "alpha": "weight",
        "gamma": 1.5,
        "label_smoothing": 0.1,
        "ignore_index": 1,
    },
}

#: Input layouts: contiguous, transposed (non-contiguous), channels-last trailing dims.
LAYOUTS = ["contiguous", "transposed", "channels-last"]


def _params(name: str, c: int, gen: torch.Generator, dtype=torch.float64) -> dict:
    out = {}
    for k, v in PARAMS[name].items():
        if v == "randn":
            v = torch.randn(c, generator=gen, dtype=torch.float64)
        elif v == "rand":
            v = torch.rand(c, generator=gen, dtype=torch.float64)
        elif v == "weight":
            v = make_weight(c, gen)
        out[k] = v.to(dtype) if isinstance(v, torch.Tensor) else v
    return out


def _input(layout: str, gen: torch.Generator, dtype=torch.float64):
    if layout == "contiguous":
        x = make_logits((9, 5), gen, dtype)
    elif layout == "transposed":
        x = make_logits((5, 9), gen, dtype).t()
        assert not x.is_contiguous()
    else:
        x = make_logits((3, 2, 4, 5), gen, dtype).permute(0, 3, 1, 2)
        assert not x.is_contiguous() and x.shape == (3, 5, 2, 4)
    y = make_target(tuple(x.shape), gen, ignore_index=1)
    return x, y


def _tol(dtype):
    return (
        {"rtol": 1e-12, "atol": 1e-14} if dtype == torch.float64 else {"rtol": 1e-5, "atol": 1e-6}
    )


@pytest.mark.parametrize("kdtype", [torch.float64, torch.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("params", list(PARAMS))
def test_kernel_equals_every_path(params, reduction, layout, kdtype, gen):
    dtype = kdtype
    x, y = _input(layout, gen, dtype)
    kw = _params(params, x.shape[1], gen, dtype)
    kw["reduction"] = reduction
    results = {}
    for backend in CPU_BACKENDS:
        xg = x.detach().clone().requires_grad_(True)
        loss = _autograd.softmax_loss(xg, y, backend=backend, **kw)
        ct = torch.ones_like(loss) if loss.dim() == 0 else cotangent(loss.shape).to(dtype)
        (g,) = torch.autograd.grad(loss, xg, ct)
        raw_loss, raw_grad = _kernels.softmax_loss(x, y, backend=backend, **kw)
        results[backend] = (loss.detach(), g, raw_loss, raw_grad)
    for backend in CPU_BACKENDS[1:]:  # the torch-op fallback, and the accelerator if present
        for a, b in zip(results["kernel"], results[backend], strict=True):
            assert a.shape == b.shape and a.dtype == b.dtype == dtype
            torch.testing.assert_close(a, b, **_tol(dtype))
    # and both equal the float64 oracle
    ref = R.softmax_family(x.double(), y, **kw)
    assert_close(results["kernel"][0], ref, dtype)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_kernel_equals_fallback_large_batch(reduction, gen):
    """Enough logits for the kernel to split rows across threads; the result does not depend on
    the split and repeats bit for bit."""
    x = make_logits((1500, 100), gen, torch.float32)
    y = make_target((1500, 100), gen, ignore_index=-100)
    kw = {
        "weight": make_weight(100, gen).float(),
        "label_smoothing": 0.1,
        "gamma": 1.0,
        "reduction": reduction,
    }
    k_loss, k_grad = _kernels.softmax_loss(x, y, backend="kernel", **kw)
    t_loss, t_grad = _kernels.softmax_loss(x, y, backend="torch", **kw)
    torch.testing.assert_close(k_loss, t_loss, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(k_grad, t_grad, rtol=1e-5, atol=1e-8)
    again_loss, again_grad = _kernels.softmax_loss(x, y, backend="kernel", **kw)
    assert torch.equal(again_loss, k_loss) and torch.equal(again_grad, k_grad)
    # the first rows alone give the same per-row values (blocking does not leak across rows)
    if reduction == "none":
        head_loss, head_grad = _kernels.softmax_loss(x[:37], y[:37], backend="kernel", **kw)
        torch.testing.assert_close(head_loss, k_loss[:37], rtol=0, atol=0)
        torch.testing.assert_close(head_grad, k_grad[:37], rtol=0, atol=0)


@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_zero_weight_class_with_minus_inf_offset(backend):
    """A −inf offset (Balanced Softmax, zero count) with weight 0 and label smoothing: the class
    is left out of the smoothing sum instead of producing 0·inf = NaN."""
    x = torch.tensor([[0.5, -1.0, 2.0], [1.0, 0.0, -0.5]], dtype=torch.float64)
    y = torch.tensor([0, 2])
    offsets = torch.tensor([0.0, float("-inf"), 0.3], dtype=torch.float64)
    w = torch.tensor([1.0, 0.0, 2.0], dtype=torch.float64)
    loss, grad = _kernels.softmax_loss(
        x, y, offsets=offsets, weight=w, label_smoothing=0.3, reduction="none", backend=backend
    )
    ref = R.softmax_family(x, y, offsets=offsets, weight=w, label_smoothing=0.3, reduction="none")
    torch.testing.assert_close(loss, ref, rtol=1e-12, atol=1e-14)
    assert torch.isfinite(grad).all()


def test_non_contiguous_input_through_the_public_api(gen):
    """A transposed and a channels-last input give the values and gradients of their
    contiguous copies, and the gradient has the input's shape."""
    counts = make_counts(5, gen)
    for x, _ in (_input("transposed", gen), _input("channels-last", gen)):
        y = make_target(tuple(x.shape), gen)
        if y.dim() > 1:  # a non-contiguous target as well
            y = y.transpose(1, 2).contiguous().transpose(1, 2)
            assert not y.is_contiguous()
        xa = x.detach().requires_grad_(True)
        xb = x.detach().contiguous().requires_grad_(True)
        la = LF.ldam_loss(xa, y, counts, reduction="none", label_smoothing=0.1)
        lb = LF.ldam_loss(xb, y, counts, reduction="none", label_smoothing=0.1)
        torch.testing.assert_close(la, lb, rtol=0, atol=0)
        ct = torch.rand(la.shape, generator=gen, dtype=torch.float64)
        (ga,) = torch.autograd.grad(la, xa, ct)
        (gb,) = torch.autograd.grad(lb, xb, ct)
        assert ga.shape == x.shape
        torch.testing.assert_close(ga, gb, rtol=0, atol=0)


# -- autograd contracts ------------------------------------------------------------------------


def test_gradcheck_with_undefined_incoming_gradient(gen):
    """Full default ``gradcheck``, which also calls backward with an undefined incoming gradient
    (``check_undefined_grad=True``): backward must treat it as zeros (every reduction)."""
    x = make_logits((5, 4), gen).requires_grad_(True)
    y = make_target((5, 4), gen, ignore_index=-100)
    w = make_weight(4, gen)
    for reduction in REDUCTIONS:
        assert torch.autograd.gradcheck(
            lambda t, r=reduction: LF.focal_loss(
                t, y, gamma=2.0, weight=w, reduction=r, label_smoothing=0.1
            ),
            (x,),
        ), reduction


def test_custom_op_gradcheck(gen):
    """The custom op's registered autograd (used under torch.compile), called eagerly."""
    x = make_logits((5, 4), gen).requires_grad_(True)
    y = make_target((5, 4), gen, ignore_index=-100)
    w = make_weight(4, gen)
    m = torch.rand(4, generator=gen, dtype=torch.float64)
    for reduction in REDUCTIONS:
        assert torch.autograd.gradcheck(
            lambda t, r=reduction: _autograd.softmax_loss_op(
                t, y, None, m, w, None, 3.0, 1.0, 0.1, -100, r, "weight", None, "auto"
            )[0],
            (x,),
        )


@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_returned_gradient_does_not_alias_saved_state(reduction, gen):
    """``torch.autograd.grad(..., retain_graph=True)`` hands the caller a tensor it may modify
    in place; a second backward must still give the same gradient (as with F.cross_entropy)."""
    x = make_logits((6, 4), gen).requires_grad_(True)
    y = make_target((6, 4), gen)
    for fn in (F.cross_entropy, LF.focal_loss):
        loss = fn(x, y, reduction=reduction)
        ct = torch.ones_like(loss)
        (g1,) = torch.autograd.grad(loss, x, ct, retain_graph=True)
        expected = g1.clone()
        g1.mul_(2.0).add_(1.0)
        (g2,) = torch.autograd.grad(loss, x, ct)
        torch.testing.assert_close(g2, expected, rtol=0, atol=0, msg=f"{fn.__name__}")


def test_backward_accumulates_into_leaf_grad(gen):
    """Two backward passes accumulate (x.grad == 2·g), and the first .grad is not mutated by a
    later one through shared storage."""
    x = make_logits((6, 4), gen).requires_grad_(True)
    y = make_target((6, 4), gen)
    loss = LF.balanced_softmax_loss(x, y, [10, 5, 2, 1])
    loss.backward(retain_graph=True)
    first = x.grad.clone()
    loss.backward()
    torch.testing.assert_close(x.grad, 2 * first, rtol=0, atol=0)
    ref = R.balanced_softmax(x.detach(), y, [10, 5, 2, 1])
    assert_close(loss, ref, torch.float64)


@pytest.mark.parametrize("low", [False, True], ids=["f64", "bf16"])
@pytest.mark.parametrize("backend", CPU_BACKENDS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_repeated_backward_with_retain_graph(reduction, backend, low, gen):
    """The first backward may hand over the gradient computed in forward; later ones (with
    ``retain_graph=True``) must still give the right answer, for any incoming gradient."""
    x = make_logits((7, 4, 2), gen)
    y = make_target((7, 4, 2), gen, ignore_index=-100)
    kw = {
        "weight": make_weight(4, gen),
        "gamma": 1.0,
        "label_smoothing": 0.1,
        "reduction": reduction,
    }
    if low:
        x = x.bfloat16()
    xg = x.detach().requires_grad_(True)
    xf = xg.float() if low else xg
    loss = _autograd.softmax_loss(
        xf,
        y,
        backend=backend,
        **{k: v.to(xf.dtype) if isinstance(v, torch.Tensor) else v for k, v in kw.items()},
    )
    ref_x = x.double().requires_grad_(True)
    ref = R.softmax_family(ref_x, y, **kw)
    base = torch.ones_like(ref) if ref.dim() == 0 else cotangent(ref.shape)
    for scale in (1.0, 1.0, 0.5, 1.0):
        ct = base * scale
        (g,) = torch.autograd.grad(loss, xg, ct.to(loss.dtype), retain_graph=True)
        (ref_g,) = torch.autograd.grad(ref, ref_x, ct, retain_graph=True)
        assert_close(g, ref_g, x.dtype, atol=1e-12 if not low else 1e-3)


def test_kernel_leaves_the_fpu_flags_alone(gen):
    """The kernel may flush denormals while it runs, but must restore the calling thread's
    floating-point mode: denormal arithmetic in Python still works afterwards."""
    import sys

    tiny = float(sys.float_info.min)
    assert tiny / 4 > 0.0
    x = make_logits((64, 300), gen, torch.float32, scale=40.0)
    y = make_target((64, 300), gen)
    for backend in CPU_BACKENDS:
        _kernels.softmax_loss(x, y, scale=30.0, backend=backend)
        assert tiny / 4 > 0.0, f"flush-to-zero left on after the {backend} path"
        sub = torch.tensor([tiny], dtype=torch.float64) / 4
        assert sub.item() > 0.0


# -- 7. custom op: opcheck and torch.compile ---------------------------------------------------


def _op_args(kind: str, gen: torch.Generator):
    x = make_logits((6, 5), gen).requires_grad_(True)
    y = make_target((6, 5), gen, ignore_index=-100)
    w, m = make_weight(5, gen), torch.rand(5, generator=gen, dtype=torch.float64)
    b = torch.randn(5, generator=gen, dtype=torch.float64)
    if kind == "mean":
        return (x, y, b, m, w, None, 2.0, 0.0, 0.1, -100, "mean", "weight", None, "auto")
    if kind == "sum":
        y2 = make_target((6, 5), gen, ignore_index=2)
        return (x, y2, None, None, w, w, 1.0, 2.0, 0.0, 2, "sum", "count", None, "auto")
    if kind == "none-4d":
        x4 = make_logits((2, 5, 3, 2), gen).requires_grad_(True)
        y4 = make_target((2, 5, 3, 2), gen, ignore_index=1)
        return (x4, y4, b, None, None, w, 1.0, 1.5, 0.2, 1, "none", "weight", None, "auto")
    return (x, y, None, m, None, None, 30.0, 0.0, 0.0, -100, "mean", "weight", 4.0, "auto")


@pytest.mark.parametrize("kind", ["mean", "sum", "none-4d", "avg-factor"])
def test_opcheck(kind, gen):
    torch.library.opcheck(torch.ops.longtail.softmax_loss.default, _op_args(kind, gen))


def _seeded_linear(gen: torch.Generator, c: int) -> torch.nn.Linear:
    lin = torch.nn.Linear(8, c, dtype=torch.float64)
    with torch.no_grad():
        lin.weight.copy_(torch.randn(c, 8, generator=gen, dtype=torch.float64) * 0.3)
        lin.bias.copy_(torch.randn(c, generator=gen, dtype=torch.float64) * 0.1)
    return lin


@pytest.mark.filterwarnings(
    # torch's own inductor imports torch.utils.mkldnn, which uses a deprecated jit decorator
    "ignore:`torch.jit.script_method` is deprecated:DeprecationWarning"
)
@pytest.mark.usefixtures("restore_denormals")
def test_compile_inductor_linear_ldam_equals_eager(gen):
    """``torch.compile(fullgraph=True, backend="inductor")`` of Linear + LDAMLoss (with DRW
    weights and label smoothing): value and parameter gradients equal eager."""
    torch._dynamo.reset()
    counts = make_counts(6, gen)
    lin = _seeded_linear(gen, 6)
    crit = longtail.LDAMLoss(
        counts,
        scale=10.0,
        label_smoothing=0.1,
        weight=longtail.weights.drw(counts, 170, dtype=torch.float64),
    )

    def step(h, y):
        return crit(lin(h), y)

    h = torch.randn(16, 8, generator=gen, dtype=torch.float64)
    y = make_target((16, 6), gen, ignore_index=-100)
    compiled = torch.compile(step, fullgraph=True, backend="inductor")
    out_c = compiled(h, y)
    grads_c = torch.autograd.grad(out_c, [lin.weight, lin.bias])
    out_e = step(h, y)
    grads_e = torch.autograd.grad(out_e, [lin.weight, lin.bias])
    torch.testing.assert_close(out_c, out_e, rtol=1e-12, atol=1e-14)
    for a, b in zip(grads_c, grads_e, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-14)


def test_compile_aot_eager_focal_module_equals_eager(gen):
    """``torch.compile(fullgraph=True, backend="aot_eager")`` of Linear + FocalLoss with
    ``reduction="none"`` and a weighted sum downstream: value and gradients equal eager, first
    without, then with the Module's ``alpha`` and ``weight`` buffers (every Module's forward
    must trace as one graph, as ``_autograd``'s docstring promises)."""
    lin = _seeded_linear(gen, 5)
    rows = torch.rand(12, generator=gen, dtype=torch.float64)
    h = torch.randn(12, 8, generator=gen, dtype=torch.float64)
    y = make_target((12, 5), gen, ignore_index=0)
    for kwargs in ({}, {"alpha": make_weight(5, gen), "weight": make_weight(5, gen)}):
        torch._dynamo.reset()
        crit = longtail.FocalLoss(gamma=2.0, reduction="none", ignore_index=0, **kwargs)

        def step(h, y, crit=crit):
            return (crit(lin(h), y) * rows).sum()

        compiled = torch.compile(step, fullgraph=True, backend="aot_eager")
        out_c = compiled(h, y)
        grads_c = torch.autograd.grad(out_c, [lin.weight, lin.bias])
        out_e = step(h, y)
        grads_e = torch.autograd.grad(out_e, [lin.weight, lin.bias])
        torch.testing.assert_close(out_c, out_e, rtol=1e-12, atol=1e-14)
        for a, b in zip(grads_c, grads_e, strict=True):
            torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-14)


def test_create_graph_backward_refuses_a_second_derivative(gen):
    """The kernel's gradient is a constant of the graph, so with ``create_graph=True`` a second
    derivative through it would be silently zero: it raises instead (``once_differentiable``),
    while the first derivative is the plain backward's. Both cases: an incoming gradient that
    needs no grad, and one that does (the loss scaled by a learnable factor)."""
    x = make_logits((6, 5), gen).requires_grad_(True)
    y = make_target((6, 5), gen)
    (g,) = torch.autograd.grad(LF.focal_loss(x, y), x, create_graph=True)
    (plain,) = torch.autograd.grad(LF.focal_loss(x, y), x)
    torch.testing.assert_close(g, plain, rtol=0, atol=0)
    with pytest.raises(RuntimeError, match="does not require grad"):
        g.sum().backward()
    scale = torch.tensor(2.0, dtype=torch.float64, requires_grad=True)
    (g2,) = torch.autograd.grad(scale * LF.focal_loss(x, y), x, create_graph=True)
    torch.testing.assert_close(g2, 2 * plain)
    with pytest.raises(RuntimeError, match="differentiate twice"):
        g2.sum().backward()


def test_module_follows_in_place_buffer_changes_the_input_dtype_and_a_new_buffer(gen):
    """A Module converts its per-class buffers once per tensor version, dtype and device: an
    in-place change, another input dtype, or a replaced buffer each take effect on the next
    call (checked against F.cross_entropy over the offsets, in float64 and float32)."""
    m = longtail.losses.BalancedSoftmaxLoss(make_counts(5, gen))
    x, y = make_logits((6, 5), gen), make_target((6, 5), gen)
    before = m(x, y)
    with torch.no_grad():
        m.offsets.add_(torch.arange(5, dtype=torch.float64))
    after = m(x, y)
    assert not torch.equal(before, after)
    torch.testing.assert_close(after, F.cross_entropy(x + m.offsets, y))
    x32 = x.float()
    torch.testing.assert_close(m(x32, y), F.cross_entropy(x32 + m.offsets.float(), y))
    m.offsets = torch.zeros(5, dtype=torch.float64)
    torch.testing.assert_close(m(x, y), F.cross_entropy(x, y))
