"""The contract every public loss Module meets, parametrised over the case table of
``_loss_cases.py`` (one generic tester, as kornia's ``BaseTester``): value and gradient against
the independent float64 reference in every dtype and reduction (step by step, state included,
for the stateful losses), the chain rule with a non-unit incoming gradient, Module vs
functional, gradcheck, ``state_dict`` / pickle / deepcopy / dtype round trips,
``torch.compile(fullgraph=True)`` and the no-grad forward.

What is peculiar to one loss (limiting cases, official-code conventions, option matrices, the
kernel backends) stays in its own file."""

from __future__ import annotations

import copy
import importlib
import pickle

import longtail
import pytest
import torch
from _loss_cases import CASES, LossCase
from _testing import TOL, assert_close, check_against_reference, gradcheck, value_and_grad

F64 = torch.float64


def _shape_id(shape: tuple[int, ...]) -> str:
    return "x".join(map(str, shape))


def _first(case: LossCase) -> str:
    return next(iter(case.configs))


VALUE_CASES = [
    pytest.param(
        case, config, shape, reduction, id=f"{case.name}-{config}-{_shape_id(shape)}-{reduction}"
    )
    for case in CASES
    for config in case.configs
    for shape in case.shapes
    for reduction in case.reductions
]

SCALED_CASES = [
    pytest.param(case, reduction, grad_output, id=f"{case.name}-{reduction}-{grad_output}")
    for case in CASES
    for reduction in ("mean", "sum")
    if reduction in case.reductions
    for grad_output in (0.37, -2.0)
]

GRADCHECK_CASES = [
    pytest.param(case, shape, reduction, id=f"{case.name}-{_shape_id(shape)}-{reduction}")
    for case in CASES
    for shape in case.gradcheck_shapes
    for reduction in case.reductions
]


def _contract_params(case: LossCase):
    """The configurations of the Module contract tests: every config in every reduction, then
    the entry's further ``contract`` arguments."""
    for config, make in case.configs.items():
        for reduction in case.reductions:
            yield (
                f"{config}-{reduction}",
                (lambda c, make=make, reduction=reduction: {**make(c), "reduction": reduction}),
            )
    for i, make in enumerate(case.contract):
        yield f"contract{i}", make


CONTRACT_CASES = [
    pytest.param(case, make, id=f"{case.name}-{label}")
    for case in CASES
    for label, make in _contract_params(case)
]

PER_CASE = [pytest.param(case, id=case.name) for case in CASES]

PER_CASE_REDUCTION = [
    pytest.param(case, reduction, id=f"{case.name}-{reduction}")
    for case in CASES
    for reduction in case.reductions
]


# -- helpers -----------------------------------------------------------------------------------


def _module(case: LossCase, params: dict, dtype: torch.dtype, device) -> torch.nn.Module:
    """The Module on ``device``; a stateful one keeps float64 state for float64 inputs (its
    float32 buffers would otherwise round the state the oracle keeps in float64)."""
    module = case.build(params).to(device)
    return module.double() if case.stateful and dtype == F64 else module


def _extra_to(extra: dict, dtype: torch.dtype, device) -> dict:
    """Extra forward arguments on ``device``, floating tensors (per-sample weights) in
    ``dtype``."""
    out = {}
    for k, v in extra.items():
        if isinstance(v, torch.Tensor):
            v = v.to(device=device, dtype=dtype if v.is_floating_point() else v.dtype)
        out[k] = v
    return out


def _extra_ref(extra: dict) -> dict:
    """The same extra arguments for the oracle: float64 on the CPU."""
    out = {}
    for k, v in extra.items():
        if isinstance(v, torch.Tensor):
            v = v.cpu().to(F64 if v.is_floating_point() else v.dtype)
        out[k] = v
    return out


def _state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def _check_buffers(module: torch.nn.Module, oracle, fresh: bool = False) -> None:
    """The Module's buffers carry no autograd history and equal the oracle's state: on a
    ``fresh`` Module exactly, or within the oracle's tolerance for that buffer; after training
    steps within the tolerance of their dtype. Integer buffers exactly."""
    for name, buf in module.named_buffers():
        assert not buf.requires_grad, f"buffer {name} requires grad (grad_fn={buf.grad_fn})"
    for name, want in oracle.state().items():
        got = module.get_buffer(name)
        if not got.is_floating_point():
            assert got.dtype == want.dtype, name
            torch.testing.assert_close(got.cpu(), want, rtol=0, atol=0, msg=name)
        elif fresh:
            tol = oracle.tolerances.get(name, {"rtol": 0.0, "atol": 0.0})
            torch.testing.assert_close(got.double().cpu(), want.double(), **tol, msg=name)
        else:
            assert_close(got, want, got.dtype)


def _check_steps(
    case: LossCase,
    call,
    module: torch.nn.Module,
    oracle,
    params: dict,
    shape: tuple[int, ...],
    gen: torch.Generator,
    dtype: torch.dtype,
    device,
    grad_output: float | None = None,
) -> None:
    """One training step (three for a stateful loss, each on a new batch): value and gradient
    of ``call`` against the oracle on the same numbers in float64, then the Module's buffers
    against the oracle's state."""
    for _ in range(3 if case.stateful else 1):
        x, y, extra = case.inputs(shape, params, gen)
        xd, yd = x.to(device=device, dtype=dtype), y.to(device)
        extra_d = _extra_to(extra, dtype, device)
        extra_r = _extra_ref(extra_d)
        check_against_reference(
            lambda t, yd=yd, extra_d=extra_d: call(t, yd, **extra_d),
            lambda t, y=y, extra_r=extra_r: oracle(t.cpu(), y, extra_r),
            xd,
            grad_output=grad_output,
        )
        _check_buffers(module, oracle)


def _step(case: LossCase, module: torch.nn.Module, params: dict, shape, gen, oracle=None):
    """A training step that only advances the state (of the oracle too, when given)."""
    x, y, extra = case.inputs(shape, params, gen)
    module(x.to(_module_dtype(module)), y, **_extra_to(extra, _module_dtype(module), "cpu"))
    if oracle is not None:
        oracle(x.to(_module_dtype(module)).double(), y, _extra_ref(extra))


def _module_dtype(module: torch.nn.Module) -> torch.dtype:
    floats = [b.dtype for b in module.buffers() if b.is_floating_point()]
    return F64 if not floats or F64 in floats else floats[0]


def _exact(actual, expected) -> None:
    torch.testing.assert_close(actual, expected, rtol=0, atol=0, equal_nan=True)


# -- the table ---------------------------------------------------------------------------------


def test_the_table_covers_every_public_loss():
    """One entry (at least) per Module of ``longtail.losses.__all__``, each exported at the top
    level as the same class."""
    assert {case.cls.__name__ for case in CASES} == set(longtail.losses.__all__)
    assert len({case.name for case in CASES}) == len(CASES)
    for name in longtail.losses.__all__:
        assert getattr(longtail, name) is getattr(longtail.losses, name)
    for case in CASES:
        assert issubclass(case.cls, torch.nn.Module)


# -- value and gradient against the float64 reference ------------------------------------------


@pytest.mark.parametrize(("case", "config", "shape", "reduction"), VALUE_CASES)
def test_value_and_grad_vs_reference(case, config, shape, reduction, dtype, device, gen):
    """Every dtype of the matrix (float16/bfloat16 computed in float32), on the same numbers
    as the float64 oracle, within the tolerance of the dtype; the loss keeps the input's dtype
    and the reduction's shape; a stateful loss over three steps, its state as the oracle's."""
    if dtype not in case.dtypes:
        pytest.skip(f"{case.name} does not take {dtype} logits")
    params = case.params(config, shape, reduction)
    module = _module(case, params, dtype, device)
    _check_steps(case, module, module, case.oracle(params), params, shape, gen, dtype, device)


@pytest.mark.parametrize(("case", "reduction", "grad_output"), SCALED_CASES)
def test_backward_with_a_non_unit_incoming_gradient(case, reduction, grad_output, gen):
    """The chain rule with an incoming gradient other than 1 (the kernel's saved gradient is
    scaled, not reused as it is)."""
    shape = case.shapes[0]
    params = case.params(_first(case), shape, reduction)
    module = _module(case, params, F64, "cpu")
    oracle = case.oracle(params)
    _check_steps(case, module, module, oracle, params, shape, gen, F64, "cpu", grad_output)


# -- Module vs functional -----------------------------------------------------------------------


@pytest.mark.parametrize(("case", "make"), CONTRACT_CASES)
def test_module_equals_functional(case, make, dtype, gen):
    """``Module(**kw)(x, y) == functional(x, y, **kw)`` exactly, value and gradient, in every
    dtype of the matrix (for a stateful loss with the state the Module used, after one step
    that moved it): what the Module is checked for, its functional form meets too."""
    if dtype not in case.dtypes:
        pytest.skip(f"{case.name} does not take {dtype} logits")
    shape = case.shapes[0]
    params = make(shape[1])
    module = case.build(params)
    if case.stateful:
        _step(case, module, params, shape, gen)
    x, y, extra = case.inputs(shape, params, gen)
    x, extra = x.to(dtype), _extra_to(extra, dtype, "cpu")
    before = _state(module)
    out, g = value_and_grad(lambda t: module(t, y, **extra), x)
    after = _state(module)
    ref, ref_g = value_and_grad(lambda t: case.functional(t, y, params, extra, before, after), x)
    assert out.dtype == dtype and g.dtype == dtype
    _exact(out, ref)
    _exact(g, ref_g)


# -- gradcheck ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("case", "shape", "reduction"), GRADCHECK_CASES)
def test_gradcheck(case, shape, reduction, gen):
    """Finite differences against the analytic backward, float64, small shapes (a stateful
    loss with the state of one step, frozen by ``eval()``)."""
    params = {**case.params(_first(case), shape, reduction), **case.gradcheck_overrides}
    module = _module(case, params, F64, "cpu")
    if case.stateful:
        _step(case, module, params, shape, gen)
        module.eval()
    x, y, extra = case.inputs(shape, params, gen)
    before = _state(module)
    assert gradcheck(lambda t: module(t, y, **extra), x)
    for k, v in _state(module).items():
        _exact(v, before[k])


# -- state_dict, pickle, deepcopy, dtype -------------------------------------------------------


@pytest.mark.parametrize(("case", "make"), CONTRACT_CASES)
def test_state_dict_pickle_deepcopy_and_dtype(case, make, gen):
    """A fresh Module's buffers are the reference per-class quantities (a stateful loss's its
    initial state), exactly the declared ``state_dict`` keys, no parameters, its scalar
    arguments kept. After two steps for a stateful loss, a pickle round trip, a deepcopy and a
    ``load_state_dict`` into a fresh Module whose buffers were zeroed carry the state and give
    exactly the Module's next step (output and state); ``.double()`` / ``.to(float64)`` copies
    hold float64 buffers and equal the functional form in float64."""
    shape = case.shapes[0]
    params = make(shape[1])
    module = case.build(params)
    _check_buffers(module, case.oracle(params), fresh=True)
    assert set(module.state_dict()) == case.buffers(params)
    assert not list(module.parameters()), "a loss Module should have no parameters"
    for name, value in params.items():
        if isinstance(value, (bool, int, float, str)) and name not in module.state_dict():
            if hasattr(module, name):
                assert getattr(module, name) == value, name
    if case.stateful:
        for _ in range(2):
            _step(case, module, params, shape, gen)
    state = _state(module)

    fresh = case.build(params)
    for v in fresh.state_dict().values():
        v.zero_()
    fresh.load_state_dict(state)
    copies = {
        "pickle": pickle.loads(pickle.dumps(module)),
        "deepcopy": copy.deepcopy(module),
        "load_state_dict": fresh,
    }
    x, y, extra = case.inputs(shape, params, gen)
    results = {}
    for name, clone in copies.items():
        assert type(clone) is type(module), name
        assert repr(clone) == repr(module), name
        assert clone.state_dict().keys() == state.keys(), name
        for k, v in clone.state_dict().items():
            assert v.dtype == state[k].dtype, (name, k)
            _exact(v, state[k])
        results[name] = (clone(x, y, **extra), _state(clone))
    out, after = module(x, y, **extra), _state(module)
    for clone_out, clone_after in results.values():
        _exact(clone_out, out)
        for k, v in after.items():
            _exact(clone_after[k], v)

    for convert in (lambda m: m.double(), lambda m: m.to(F64)):
        as_double = convert(copy.deepcopy(module))
        assert all(v.dtype == F64 for v in as_double.state_dict().values() if v.is_floating_point())
        before = _state(as_double)
        got = as_double(x, y, **extra)
        want = case.functional(x, y, params, extra, before, _state(as_double))
        assert got.dtype == F64
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


# -- torch.compile ------------------------------------------------------------------------------


def _qualified(name: str) -> type[BaseException]:
    module, _, attr = name.rpartition(".")
    return getattr(importlib.import_module(module or "builtins"), attr)


@pytest.mark.slow
@pytest.mark.parametrize("case", PER_CASE)
def test_compile_fullgraph_vs_reference(case, gen):
    """``torch.compile(module, fullgraph=True, backend="aot_eager")`` traces the Module's
    forward as one graph (custom ops with fake implementations, no host reads); its value,
    gradient and state (three steps for a stateful loss: the buffer updates are in the graph)
    match the float64 oracle. One float32 shape per loss, ``reduction="mean"``. A loss with a
    known failure must still fail with it (an expected failure), until it is fixed."""
    torch._dynamo.reset()
    shape = case.shapes[0]
    params = case.params(_first(case), shape, "mean")
    module = _module(case, params, torch.float32, "cpu")
    compiled = torch.compile(module, fullgraph=True, backend="aot_eager")
    oracle = case.oracle(params)

    def run():
        _check_steps(case, compiled, module, oracle, params, shape, gen, torch.float32, "cpu")

    if case.compile_xfail is None:
        run()
        return
    reason, error = case.compile_xfail
    with pytest.raises(_qualified(error)):
        run()
    pytest.xfail(reason)


# -- no-grad forward ---------------------------------------------------------------------------


@pytest.mark.parametrize(("case", "reduction"), PER_CASE_REDUCTION)
def test_no_grad_forward(case, reduction, gen):
    """Under ``torch.no_grad()`` an input that requires grad gives a tensor without a graph,
    the oracle's value, from the Module (a stateful one keeps its state: the state policy) and
    from the functional form; an input that does not require grad gives no graph either (with
    autograd on: a training step)."""
    shape = case.shapes[0]
    params = case.params(_first(case), shape, reduction)
    module = _module(case, params, F64, "cpu")
    oracle = case.oracle(params)
    if case.stateful:
        _step(case, module, params, shape, gen, oracle)
    x, y, extra = case.inputs(shape, params, gen)
    before = _state(module)
    with torch.no_grad():
        out = module(x.requires_grad_(True), y, **extra)
        functional = case.functional(x, y, params, extra, before, before)
    assert not out.requires_grad and out.grad_fn is None
    assert not functional.requires_grad and functional.grad_fn is None
    for k, v in _state(module).items():
        _exact(v, before[k])
    want = oracle(x.detach(), y, _extra_ref(extra), update=False)
    assert_close(out, want, F64)
    assert_close(functional, want, F64)

    out = module(x.detach(), y, **extra)
    assert not out.requires_grad and out.grad_fn is None
    assert_close(out, oracle(x.detach(), y, _extra_ref(extra)), F64)
    _check_buffers(module, oracle)


# -- limiting inputs against the float64 reference ------------------------------------------


@pytest.mark.parametrize(("case", "reduction"), PER_CASE_REDUCTION)
def test_an_empty_batch_vs_reference(case, reduction, gen):
    """A batch of no rows: the oracle's value (0 for "sum", an empty loss for "none", the
    reference's own "mean" of nothing), an empty gradient, and the oracle's state (EQLv2's
    official update turns ``pos_neg`` into ``0 / 1e-10`` even on an empty batch)."""
    shape = (0, *case.shapes[0][1:])
    params = case.params(_first(case), case.shapes[0], reduction)
    module = _module(case, params, F64, "cpu")
    oracle = case.oracle(params)
    before = _state(module)
    x, y, extra = case.inputs(shape, params, gen)
    assert x.shape[0] == 0
    out, g = value_and_grad(lambda t: module(t, y, **_extra_to(extra, F64, "cpu")), x)
    ref, ref_g = value_and_grad(lambda t: oracle(t, y, _extra_ref(extra)), x)
    assert out.shape == ref.shape and g.shape == x.shape
    torch.testing.assert_close(out, ref, equal_nan=True)
    torch.testing.assert_close(g, ref_g, equal_nan=True)
    assert set(_state(module)) == set(before)
    _check_buffers(module, oracle)


@pytest.mark.parametrize(("case", "reduction"), PER_CASE_REDUCTION)
def test_logits_of_plus_minus_100_vs_reference(case, reduction, dtype, gen):
    """Confident rows, the logits scaled to reach ±100 (±100 exactly in some entries): finite
    values and gradients equal to the oracle's in every dtype of the matrix (no overflow in an
    exp, no 0·inf in a focal factor or a sigmoid's complement). A loss of logits of size 100
    carries an absolute rounding error of about 100 ulp(1) of the dtype, whatever its value."""
    if dtype not in case.dtypes:
        pytest.skip(f"{case.name} does not take {dtype} logits")
    shape = case.shapes[0]
    params = case.params(_first(case), shape, reduction)
    module = _module(case, params, dtype, "cpu")
    oracle = case.oracle(params)
    for _ in range(3 if case.stateful else 1):
        x, y, extra = case.inputs(shape, params, gen)
        x = (x / x.abs().max() * 100.0).clamp(-100.0, 100.0)
        x[0, 0], x[-1, -1] = 100.0, -100.0
        xd = x.to(dtype)
        extra_d = _extra_to(extra, dtype, "cpu")
        out, g = check_against_reference(
            lambda t, y=y, extra_d=extra_d: module(t, y, **extra_d),
            lambda t, y=y, extra_d=extra_d: oracle(t, y, _extra_ref(extra_d)),
            xd,
            atol=max(TOL[dtype]["atol"], 100 * torch.finfo(dtype).eps),
        )
        assert torch.isfinite(out).all() and torch.isfinite(g).all()
        _check_buffers(module, oracle)
