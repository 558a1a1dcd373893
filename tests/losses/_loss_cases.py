"""The case table of the generic loss tests (``test_loss_cases.py``): one entry per public loss
Module of :mod:`longtail.losses`, plus an entry for each second form with an oracle of its own
(ClassBalancedLoss's sigmoid types, SeesawLoss's objectness head). Each says how to build the
Module, call its functional form with the same arguments, make its inputs, and compute the loss
independently in float64 (``reference.py`` for the softmax family, ``reference_detection.py``
for the detection losses), which reductions and dtypes it takes, and whether it keeps state.

An entry's ``configs`` are named constructor arguments as functions of the number of classes
``C`` (the first is the typical one, used wherever a test takes a single configuration);
``contract`` lists further constructor arguments (``reduction`` included) on which only the
Module contract is checked (Module vs functional, state_dict, pickling). An oracle is called
once per training step with the float64 inputs and keeps its own state, so a stateful loss is
compared step by step; ``oracle.state()`` gives the reference value of the Module's buffers.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import longtail
import reference as R
import reference_detection as RD
import torch
from _testing import make_counts, make_logits, make_target, make_weight
from longtail import functional as LF
from torch import Tensor, nn

F64 = torch.float64
REDUCTIONS = ("none", "mean", "sum")
ALL_DTYPES = (torch.float64, torch.float32, torch.float16, torch.bfloat16)

Params = dict[str, Any]
Inputs = tuple[Tensor, Tensor, dict[str, Any]]


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# Per-class arguments, fixed for each number of classes (never the global RNG).
def _counts(c: int) -> Tensor:
    return make_counts(c, _gen(1000 + c))


def _weight(c: int) -> Tensor:
    return make_weight(c, _gen(2000 + c))


def _alpha(c: int) -> Tensor:
    return make_weight(c, _gen(3000 + c))


def _f64(value) -> Tensor | None:
    return None if value is None else torch.as_tensor(value, dtype=F64)


def _all_options(c: int) -> Params:
    """The "all" option set of the per-loss files: class weights, an ignored label that is a
    valid class index, label smoothing."""
    return {"weight": _weight(c), "ignore_index": 1, "label_smoothing": 0.3}


class Oracle:
    """A stateless float64 oracle: ``fn(x, y, **extra)``; ``buffers`` are the reference values
    of the Module's buffers, equal exactly on a fresh Module unless ``tolerances`` gives one
    (per buffer: the per-class formulas computed another way round, e.g. numpy's)."""

    tolerances: Mapping[str, Mapping[str, float]] = {}

    def __init__(
        self,
        fn: Callable[..., Tensor],
        buffers: Mapping[str, Tensor | None] | None = None,
        tolerances: Mapping[str, Mapping[str, float]] | None = None,
    ):
        self.fn = fn
        self.buffers = {k: v for k, v in (buffers or {}).items() if v is not None}
        self.tolerances = dict(tolerances or {})

    def __call__(self, x: Tensor, y: Tensor, extra: Mapping[str, Any], update: bool = True):
        return self.fn(x, y, **extra)

    def state(self) -> dict[str, Tensor]:
        return dict(self.buffers)


@dataclasses.dataclass(frozen=True)
class LossCase:
    """One loss of the table.

    ``inputs(shape, params, gen)`` gives float64 CPU logits, the target and the extra forward
    arguments (a dict, possibly depending on ``params["reduction"]``); ``functional(x, y,
    params, extra, before, after)`` the functional form with the Module's arguments, ``before``
    / ``after`` being the Module's ``state_dict`` around the call; ``oracle(params)`` a fresh
    float64 reference."""

    name: str
    cls: type[nn.Module]
    configs: Mapping[str, Callable[[int], Params]]
    shapes: tuple[tuple[int, ...], ...]
    gradcheck_shapes: tuple[tuple[int, ...], ...]
    inputs: Callable[[tuple[int, ...], Params, torch.Generator], Inputs]
    functional: Callable[..., Tensor]
    oracle: Callable[[Params], Oracle]
    buffers: Callable[[Params], set[str]]
    contract: tuple[Callable[[int], Params], ...] = ()
    reductions: tuple[str, ...] = REDUCTIONS
    dtypes: tuple[torch.dtype, ...] = ALL_DTYPES
    stateful: bool = False
    #: constructor arguments under which the finite-difference gradient is the gradient (Seesaw
    #: detaches its compensation factor, so only q = 0 passes gradcheck)
    gradcheck_overrides: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    #: why ``torch.compile(fullgraph=True)`` of the Module fails today, and the exception it
    #: raises (its qualified name): an expected failure, which the test reports as soon as it
    #: no longer happens
    compile_xfail: tuple[str, str] | None = None

    def params(self, config: str, shape: tuple[int, ...], reduction: str) -> Params:
        return {**self.configs[config](shape[1]), "reduction": reduction}

    def build(self, params: Params) -> nn.Module:
        return self.cls(**params)


def _kw(params: Params, *names: str) -> Params:
    """The entries of ``params`` among ``names`` that are set."""
    return {k: params[k] for k in names if k in params}


_CE_OPTIONS = ("reduction", "ignore_index", "label_smoothing")

#: Per-class quantities from a formula that the official numpy code rounds differently.
_ROUNDING = {"rtol": 1e-12, "atol": 0.0}


# ---------------------------------------------------------------------------------------------
# Softmax family (reference.py): (N, C) and (N, C, d...) logits, every dtype.

#: The shapes of the per-loss dtype matrix: a plain batch, a 2000-class row, trailing dimensions.
SOFTMAX_SHAPES = ((8, 5), (3, 2000), (4, 3, 2, 3))
SOFTMAX_GRADCHECK_SHAPES = ((5, 4), (2, 3, 2, 2))


def _softmax_inputs(scale: float = 3.0):
    def inputs(shape, params, gen):
        x = make_logits(shape, gen, scale=scale)
        y = make_target(shape, gen, ignore_index=params.get("ignore_index"))
        return x, y, {}

    return inputs


def _functional(fn):
    return lambda x, y, params, extra, before, after: fn(x, y, **params, **extra)


_WEIGHTINGS = {
    "inverse_frequency": lambda n, beta: R.inverse_frequency(n),
    "sqrt_inverse_frequency": lambda n, beta: R.inverse_frequency(n, 0.5),
    "cost_sensitive": lambda n, beta: R.cost_sensitive(n),
    "effective_number": lambda n, beta: R.effective_number_weights(n, beta),
}


def _wce_oracle(p: Params) -> Oracle:
    if p.get("class_counts") is not None:
        counts = _f64(p["class_counts"])
        rule = _WEIGHTINGS[p.get("weighting", "inverse_frequency")]
        w = rule(counts, p.get("beta", 0.9999))
        buffers, tol = {"class_counts": counts, "weight": w}, {"weight": _ROUNDING}
    else:
        w = _f64(p["weight"])
        buffers, tol = {"weight": w}, {}  # a copy of the given weights
    kw = _kw(p, *_CE_OPTIONS, "normalization")
    return Oracle(lambda x, y: R.cross_entropy(x, y, weight=w, **kw), buffers, tol)


WEIGHTED_CE = LossCase(
    name="WeightedCrossEntropyLoss",
    cls=longtail.WeightedCrossEntropyLoss,
    configs={
        "all": _all_options,
        "weight": lambda c: {"weight": _weight(c)},
        # n_min / n_c <= 1: inverse-frequency weights (N / n_c) overflow a float16 sum
        "counts": lambda c: {"class_counts": _counts(c), "weighting": "cost_sensitive"},
    },
    shapes=SOFTMAX_SHAPES,
    gradcheck_shapes=SOFTMAX_GRADCHECK_SHAPES,
    inputs=_softmax_inputs(),
    functional=_functional(LF.weighted_cross_entropy),
    oracle=_wce_oracle,
    buffers=lambda p: {"weight"} | ({"class_counts"} if "class_counts" in p else set()),
    contract=(
        lambda c: {"class_counts": _counts(c), "weighting": "effective_number", "beta": 0.999},
        lambda c: {
            "class_counts": _counts(c),
            "weighting": "cost_sensitive",
            "reduction": "sum",
            "normalization": "count",
        },
        lambda c: {
            "class_counts": _counts(c),
            "weighting": "sqrt_inverse_frequency",
            "reduction": "none",
            "ignore_index": 2,
            "label_smoothing": 0.2,
        },
        lambda c: {"weight": _weight(c), "label_smoothing": 0.05},
    ),
)


def _focal_oracle(p: Params) -> Oracle:
    alpha = _f64(p.get("alpha"))  # one float is a 0-d buffer, broadcast to every class
    weight = _f64(p.get("weight"))
    kw = _kw(p, *_CE_OPTIONS, "gamma")

    def fn(x, y):
        a = alpha if alpha is None or alpha.dim() else alpha.expand(x.shape[1])
        return R.focal(x, y, alpha=a, weight=weight, **kw)

    return Oracle(fn, {"alpha": alpha, "weight": weight})


FOCAL = LossCase(
    name="FocalLoss",
    cls=longtail.FocalLoss,
    configs={
        "all": lambda c: {"gamma": 2.0, "alpha": _alpha(c), **_all_options(c)},
        "plain": lambda c: {"gamma": 2.0, "alpha": _alpha(c)},
    },
    shapes=SOFTMAX_SHAPES,
    gradcheck_shapes=SOFTMAX_GRADCHECK_SHAPES,
    inputs=_softmax_inputs(),
    functional=_functional(LF.focal_loss),
    oracle=_focal_oracle,
    buffers=lambda p: {k for k in ("alpha", "weight") if p.get(k) is not None},
    contract=(
        lambda c: {},
        lambda c: {"gamma": 1.0, "alpha": 0.25},
        lambda c: {
            "gamma": 0.5,
            "alpha": [0.1 * (k + 1) for k in range(c)],
            "weight": [float(1 + k % 3) for k in range(c)],
            "reduction": "none",
            "ignore_index": 1,
            "label_smoothing": 0.1,
        },
        lambda c: {"gamma": 3.0, "weight": _weight(c), "reduction": "sum"},
    ),
)


def _cb_buffers(p: Params) -> dict[str, Tensor]:
    counts = _f64(p["class_counts"])
    beta = p.get("beta", 0.9999)
    return {"class_counts": counts, "weight": R.effective_number_weights(counts, beta)}


def _cb_softmax_oracle(p: Params) -> Oracle:
    kw = _kw(p, *_CE_OPTIONS, "beta", "normalization")
    counts = p["class_counts"]
    return Oracle(
        lambda x, y: R.class_balanced_softmax(x, y, counts, **kw),
        _cb_buffers(p),
        {"weight": _ROUNDING},
    )


CLASS_BALANCED = LossCase(
    name="ClassBalancedLoss",
    cls=longtail.ClassBalancedLoss,
    configs={
        # class_balanced_loss has no `weight`: the effective-number weights are the weights.
        "all": lambda c: {
            "class_counts": _counts(c),
            "beta": 0.999,
            "ignore_index": 1,
            "label_smoothing": 0.3,
        },
        "plain": lambda c: {"class_counts": _counts(c), "beta": 0.999},
    },
    shapes=SOFTMAX_SHAPES,
    gradcheck_shapes=SOFTMAX_GRADCHECK_SHAPES,
    inputs=_softmax_inputs(),
    functional=_functional(LF.class_balanced_loss),
    oracle=_cb_softmax_oracle,
    buffers=lambda p: {"class_counts", "weight"},
    contract=(
        lambda c: {"class_counts": _counts(c)},
        lambda c: {
            "class_counts": _counts(c),
            "beta": 0.99,
            "reduction": "none",
            "ignore_index": 2,
            "label_smoothing": 0.1,
        },
        lambda c: {
            "class_counts": _counts(c),
            "beta": 0.5,
            "reduction": "sum",
            "normalization": "weight",
            "gamma": 2.0,
        },
    ),
)


def _ldam_oracle(p: Params) -> Oracle:
    counts = _f64(p["class_counts"])
    kw = _kw(p, *_CE_OPTIONS, "max_margin", "scale")
    weight = _f64(p.get("weight"))
    buffers = {
        "class_counts": counts,
        "margins": R.ldam_margins(counts, p.get("max_margin", 0.5)),
        "weight": weight,
    }
    return Oracle(
        lambda x, y: R.ldam(x, y, counts, weight=weight, **kw),
        buffers,
        {"margins": {"rtol": 1e-14, "atol": 0.0}},
    )


def _with_counts(options: Callable[[int], Params]) -> Callable[[int], Params]:
    return lambda c: {"class_counts": _counts(c), **options(c)}


def _counts_buffers(*names: str) -> Callable[[Params], set[str]]:
    return lambda p: (
        {"class_counts", *names} | ({"weight"} if p.get("weight") is not None else set())
    )


_CONTRACT_WEIGHTED = (
    lambda c: {"class_counts": _counts(c)},
    lambda c: {
        "class_counts": _counts(c),
        "weight": [float(1 + k % 3) for k in range(c)],
        "reduction": "none",
        "ignore_index": 2,
        "label_smoothing": 0.1,
    },
)

LDAM = LossCase(
    name="LDAMLoss",
    cls=longtail.LDAMLoss,
    configs={"all": _with_counts(_all_options), "plain": _with_counts(lambda c: {})},
    shapes=SOFTMAX_SHAPES,
    gradcheck_shapes=SOFTMAX_GRADCHECK_SHAPES,
    # LDAM logits come from a cosine classifier: |z| <= 1, here N(0, 0.3²).
    inputs=_softmax_inputs(scale=0.3),
    functional=_functional(LF.ldam_loss),
    oracle=_ldam_oracle,
    buffers=_counts_buffers("margins"),
    contract=(
        _CONTRACT_WEIGHTED[0],
        lambda c: {**_CONTRACT_WEIGHTED[1](c), "max_margin": 0.3, "scale": 16.0},
    ),
)


def _la_oracle(p: Params) -> Oracle:
    counts = _f64(p["class_counts"])
    kw = _kw(p, *_CE_OPTIONS, "tau")
    weight = _f64(p.get("weight"))
    buffers = {
        "class_counts": counts,
        "offsets": R.logit_adjustments(counts, p.get("tau", 1.0)),
        "weight": weight,
    }
    return Oracle(
        lambda x, y: R.logit_adjusted(x, y, counts, weight=weight, **kw),
        buffers,
        {"offsets": {"rtol": 1e-14, "atol": 1e-14}},
    )


LOGIT_ADJUSTED = LossCase(
    name="LogitAdjustedLoss",
    cls=longtail.LogitAdjustedLoss,
    configs={"all": _with_counts(_all_options), "plain": _with_counts(lambda c: {})},
    shapes=SOFTMAX_SHAPES,
    gradcheck_shapes=SOFTMAX_GRADCHECK_SHAPES,
    inputs=_softmax_inputs(),
    functional=_functional(LF.logit_adjusted_loss),
    oracle=_la_oracle,
    buffers=_counts_buffers("offsets"),
    contract=(
        _CONTRACT_WEIGHTED[0],
        lambda c: {**_CONTRACT_WEIGHTED[1](c), "tau": 0.5},
    ),
)


def _bs_oracle(p: Params) -> Oracle:
    counts = _f64(p["class_counts"])
    kw = _kw(p, *_CE_OPTIONS)
    weight = _f64(p.get("weight"))
    buffers = {"class_counts": counts, "offsets": counts.log(), "weight": weight}
    return Oracle(lambda x, y: R.balanced_softmax(x, y, counts, weight=weight, **kw), buffers)


BALANCED_SOFTMAX = LossCase(
    name="BalancedSoftmaxLoss",
    cls=longtail.BalancedSoftmaxLoss,
    configs={"all": _with_counts(_all_options), "plain": _with_counts(lambda c: {})},
    shapes=SOFTMAX_SHAPES,
    gradcheck_shapes=SOFTMAX_GRADCHECK_SHAPES,
    inputs=_softmax_inputs(),
    functional=_functional(LF.balanced_softmax_loss),
    oracle=_bs_oracle,
    buffers=_counts_buffers("offsets"),
    contract=_CONTRACT_WEIGHTED,
)

#: Image frequencies with classes on both sides of λ = 0.00177 and one exactly at it (a strict
#: threshold: not rare).
FREQ = torch.tensor([0.3, 0.001, 0.05, 0.0017, 0.00177, 0.0005], dtype=F64)


def _seql_inputs(shape, params, gen):
    x = make_logits(shape, gen, scale=2.0)
    y = make_target(shape, gen, ignore_index=params.get("ignore_index"))
    beta = torch.rand(shape, generator=gen) < 0.9  # the drop mask, given explicitly
    return x, y, {"beta": beta}


def _seql_oracle(p: Params) -> Oracle:
    freq, lam = p["class_frequencies"], p.get("lambda_", 0.00177)
    kw = _kw(p, "reduction", "ignore_index")
    return Oracle(
        lambda x, y, beta: RD.softmax_eql(x, y, freq, lam, beta, **kw),
        {"class_frequencies": freq},
    )


SOFTMAX_EQL = LossCase(
    name="SoftmaxEqualizationLoss",
    cls=longtail.SoftmaxEqualizationLoss,
    configs={
        "ignore": lambda c: {"class_frequencies": FREQ, "ignore_index": 2},
        "plain": lambda c: {"class_frequencies": FREQ},
    },
    shapes=((12, 6),),
    gradcheck_shapes=((5, 6),),
    inputs=_seql_inputs,
    functional=_functional(LF.softmax_equalization_loss),
    oracle=_seql_oracle,
    buffers=lambda p: {"class_frequencies"},
)


# ---------------------------------------------------------------------------------------------
# Detection losses (reference_detection.py): (N, C) logits, labels in [0, C] (C = background)
# unless the form says otherwise.


def _mean_avg_factor(params: Params, value: float) -> dict[str, Any]:
    """mmdetection's ``avg_factor``, for ``"mean"`` (``"sum"`` refuses one)."""
    return {"avg_factor": value} if params.get("reduction", "mean") == "mean" else {}


def _detection_labels(n: int, c: int, gen: torch.Generator, background: float) -> Tensor:
    y = torch.randint(0, c + 1, (n,), generator=gen)
    y[torch.rand(n, generator=gen) < background] = c
    return y


def _sfl_inputs(shape, params, gen):
    n, c = shape
    x = make_logits(shape, gen, scale=2.0)
    y = torch.randint(0, c + 1, (n,), generator=gen)  # c = background
    w = torch.rand(n, generator=gen, dtype=F64) + 0.2
    return x, y, {"weight": w, **_mean_avg_factor(params, 7.0)}


SIGMOID_FOCAL = LossCase(
    name="SigmoidFocalLoss",
    cls=longtail.SigmoidFocalLoss,
    configs={"labels": lambda c: {"gamma": 2.0, "alpha": 0.25}},
    shapes=((12, 5),),
    gradcheck_shapes=((5, 3),),
    inputs=_sfl_inputs,
    functional=_functional(LF.sigmoid_focal_loss),
    oracle=lambda p: Oracle(
        lambda x, y, weight, avg_factor=None: RD.sigmoid_focal(
            x,
            y,
            gamma=p["gamma"],
            alpha=p["alpha"],
            weight=weight,
            reduction=p["reduction"],
            avg_factor=avg_factor,
        )
    ),
    buffers=lambda p: set(),
)


def _eql_inputs(shape, params, gen):
    n, c = shape
    x = make_logits(shape, gen)
    return x, _detection_labels(n, c, gen, 0.3), _mean_avg_factor(params, 9.0)


EQL = LossCase(
    name="EqualizationLoss",
    cls=longtail.EqualizationLoss,
    configs={"lvis-v0.5": lambda c: {"class_frequencies": FREQ, "lambda_": 0.00177}},
    shapes=((16, 6),),
    gradcheck_shapes=((6, 6),),
    inputs=_eql_inputs,
    functional=_functional(LF.equalization_loss),
    oracle=lambda p: Oracle(
        lambda x, y, avg_factor=None: RD.eql(
            x, y, p["class_frequencies"], p["lambda_"], p["reduction"], avg_factor
        ),
        {"class_frequencies": p["class_frequencies"]},
    ),
    buffers=lambda p: {"class_frequencies"},
)


class _EQLv2Oracle(Oracle):
    def __init__(self, p: Params):
        self.ref = RD.EQLv2(p["num_classes"], p["gamma"], p["mu"], p["alpha"])
        self.reduction = p["reduction"]

    def __call__(self, x, y, extra, update=True):
        return self.ref(x, y, self.reduction, extra.get("avg_factor"), update=update)

    def state(self):
        return {k: getattr(self.ref, k) for k in ("pos_grad", "neg_grad", "pos_neg")}


def _eqlv2_inputs(shape, params, gen):
    n, c1 = shape
    x = make_logits(shape, gen) - 1.0
    return x, _detection_labels(n, c1 - 1, gen, 0.5), _mean_avg_factor(params, 20.0)


def _without(params: Params, *names: str) -> Params:
    return {k: v for k, v in params.items() if k not in names}


EQLV2 = LossCase(
    name="EQLv2Loss",
    cls=longtail.EQLv2Loss,
    configs={"default": lambda c: {"num_classes": 7, "gamma": 12.0, "mu": 0.8, "alpha": 4.0}},
    shapes=((32, 8),),
    gradcheck_shapes=((6, 8),),
    inputs=_eqlv2_inputs,
    functional=lambda x, y, p, extra, before, after: LF.eqlv2_loss(
        x, y, before["pos_neg"], **_without(p, "num_classes"), **extra
    ),
    oracle=_EQLv2Oracle,
    buffers=lambda p: {"pos_grad", "neg_grad", "pos_neg"},
    stateful=True,
)


class _SeesawOracle(Oracle):
    """mmdetection's SeesawLoss (objectness) or its classification form, in the layout of
    longtail's Module with ``return_dict=False``: the sum of the two terms; for ``"none"`` per
    row, the class term 0 on background rows (mmdetection keeps only the positives)."""

    def __init__(self, p: Params):
        self.mode = p.get("mode", "classification")
        self.reduction = p["reduction"]
        args = (p["num_classes"], p.get("p", 0.8), p.get("q", 2.0), p.get("eps", 1e-2))
        self.ref = (
            RD.SeesawClassification(*args) if self.mode == "classification" else RD.Seesaw(*args)
        )

    def __call__(self, x, y, extra, update=True):
        kw = {
            "label_weights": extra.get("weight"),
            "avg_factor": extra.get("avg_factor"),
            "reduction": self.reduction,
            "update": update,
        }
        if self.mode == "classification":
            return self.ref(x, y, **kw)
        out = self.ref(x, y, **kw)
        cls, obj = out["loss_cls_classes"], out["loss_cls_objectness"]
        if self.reduction == "none":
            pos = y < self.ref.num_classes
            cls = torch.zeros(len(y), dtype=cls.dtype).masked_scatter(pos, cls)
        return cls + obj

    def state(self):
        return {"cum_samples": self.ref.cum_samples}


def _seesaw_cls_inputs(shape, params, gen):
    n, c = shape
    x = make_logits(shape, gen)
    # Long-tailed labels, so that the mitigation factors matter.
    probs = torch.tensor([0.5, 0.25, 0.12, 0.07, 0.04, 0.02])[:c]
    if n == 0:
        return x, torch.zeros(0, dtype=torch.long), {}
    return x, torch.multinomial(probs, n, replacement=True, generator=gen), {}


def _seesaw_obj_inputs(shape, params, gen):
    n, c2 = shape
    x = make_logits(shape, gen)
    y = _detection_labels(n, c2 - 2, gen, 0.4)
    w = torch.rand(n, generator=gen, dtype=F64) + 0.5
    return x, y, {"weight": w, **_mean_avg_factor(params, 11.0)}


def _seesaw_functional(x, y, p, extra, before, after):
    """The functional form with the counts the Module used: its state after the call (this
    batch counted first)."""
    return LF.seesaw_loss(x, y, after["cum_samples"], **_without(p, "num_classes"), **extra)


SEESAW = LossCase(
    name="SeesawLoss",
    cls=longtail.SeesawLoss,
    configs={"classification": lambda c: {"num_classes": 6, "p": 0.8, "q": 2.0}},
    shapes=((20, 6),),
    gradcheck_shapes=((8, 6),),
    inputs=_seesaw_cls_inputs,
    functional=_seesaw_functional,
    oracle=_SeesawOracle,
    buffers=lambda p: {"cum_samples"},
    stateful=True,
    gradcheck_overrides={"q": 0.0},
)

SEESAW_OBJECTNESS = dataclasses.replace(
    SEESAW,
    name="SeesawLoss-objectness",
    configs={"objectness": lambda c: {"num_classes": 6, "mode": "objectness"}},
    shapes=((24, 8),),
    gradcheck_shapes=((8, 8),),
    inputs=_seesaw_obj_inputs,
)

#: BAGS instance counts: one class in the background-free bins (0, 10), [10, 100),
#: [100, 1000), [1000, ∞) each at least once, and an empty class.
BAGS_COUNTS = [5, 50, 3, 500, 5000, 20, 7, 1200, 0]
BAGS_GROUPS = RD.bags_groups(BAGS_COUNTS)


def _bags_label_map(groups: list[list[int]]) -> Tensor:
    c = sum(len(g) for g in groups) - 1
    label_map = torch.zeros(len(groups), c + 1, dtype=torch.long)
    for g, members in enumerate(groups):
        for pos, k in enumerate(members):
            label_map[g, k] = pos + 1
    return label_map


def _bags_inputs(shape, params, gen):
    n = shape[0]
    c = len(BAGS_COUNTS)
    x = make_logits(shape, gen, scale=2.0)
    y = _detection_labels(n, c, gen, 0.4)
    keep = torch.rand(n, len(BAGS_GROUPS), generator=gen) < 0.5  # the "others" mask, given
    keep[:, -1] = True
    return x, y, {"keep": keep}


GROUP_SOFTMAX = LossCase(
    name="GroupSoftmaxLoss",
    cls=longtail.GroupSoftmaxLoss,
    configs={"default": lambda c: {"class_counts": BAGS_COUNTS}},
    shapes=((20, len(BAGS_COUNTS) + 1 + len(BAGS_GROUPS)),),
    gradcheck_shapes=((8, len(BAGS_COUNTS) + 1 + len(BAGS_GROUPS)),),
    inputs=_bags_inputs,
    functional=_functional(LF.group_softmax_loss),
    oracle=lambda p: Oracle(
        lambda x, y, keep: RD.group_softmax(x, y, BAGS_GROUPS, keep, p["reduction"]),
        {
            "class_counts": _f64(BAGS_COUNTS),
            "label_map": _bags_label_map(RD.bags_groups(p["class_counts"])),
        },
    ),
    buffers=lambda p: {"class_counts", "label_map"},
)

#: CB sigmoid/focal: per-class counts of the official example's kind.
CB_COUNTS = [400.0, 120.0, 30.0, 8.0, 2.0]


def _cb_sigmoid_inputs(shape, params, gen):
    n, c = shape
    x = make_logits(shape, gen, scale=2.0)
    return x, torch.randint(0, c, (n,), generator=gen), {}


def _cb_sigmoid_oracle(p: Params) -> Oracle:
    counts = p["class_counts"]
    return Oracle(
        lambda x, y: RD.class_balanced_sigmoid(
            x, y, counts, p["beta"], p["gamma"], p["loss_type"], p["reduction"]
        ),
        _cb_buffers(p),
        {"weight": _ROUNDING},
    )


CLASS_BALANCED_SIGMOID = LossCase(
    name="ClassBalancedLoss-sigmoid",
    cls=longtail.ClassBalancedLoss,
    configs={
        "focal": lambda c: {
            "class_counts": CB_COUNTS,
            "beta": 0.999,
            "gamma": 2.0,
            "loss_type": "focal",
        },
        "sigmoid": lambda c: {
            "class_counts": CB_COUNTS,
            "beta": 0.9999,
            "gamma": 1.0,
            "loss_type": "sigmoid",
        },
    },
    shapes=((24, 5),),
    gradcheck_shapes=((6, 5),),
    inputs=_cb_sigmoid_inputs,
    functional=_functional(LF.class_balanced_loss),
    oracle=_cb_sigmoid_oracle,
    buffers=lambda p: {"class_counts", "weight"},
)

CASES: tuple[LossCase, ...] = (
    WEIGHTED_CE,
    FOCAL,
    CLASS_BALANCED,
    CLASS_BALANCED_SIGMOID,
    LDAM,
    LOGIT_ADJUSTED,
    BALANCED_SOFTMAX,
    SOFTMAX_EQL,
    SIGMOID_FOCAL,
    EQL,
    EQLV2,
    SEESAW,
    SEESAW_OBJECTNESS,
    GROUP_SOFTMAX,
)
