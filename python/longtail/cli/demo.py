"""Which method helps on long-tailed data, and how do the tail classes do: ``longtail demo``.

Trains the same small network with plain cross-entropy and with the package's methods on a
long-tailed data set, and prints overall / many / medium / few-shot accuracy on a balanced
test set for each:

* **digits** (default): scikit-learn's 8x8 digits (1,797 images, ships with scikit-learn),
  split per class into a balanced test set (50 per class), a balanced validation set (20 per
  class, used only to pick τ for τ-normalisation) and a training pool that
  :func:`longtail.data.long_tailed_subset` makes long-tailed with the exponential profile
  (imbalance ratio 100: 104 images of class 0 down to 1 of class 9). The network is an MLP,
  trained with one-pixel random shifts. The many/medium/few thresholds are CIFAR-100-LT's
  (100 and 20 at ``n_max = 500``) scaled by ``n_max / 500``.
* **cifar100**: CIFAR-100-LT (:class:`longtail.data.CIFAR100LT`, 10,847 training images at
  ratio 100) with a small CNN and the standard thresholds; the validation set for τ is 20 images
  per class of the test set, and the other 80 per class are the test set.

The methods: cross-entropy; class-balanced sampling; focal loss (Lin et al. ICCV 2017); LDAM-DRW
(Cao et al. NeurIPS 2019, kaidic/LDAM-DRW); logit adjustment (Menon et al. ICLR 2021); Balanced
Softmax (Ren et al. NeurIPS 2020, jiawei-ren/BalancedMetaSoftmax); and, on the cross-entropy
network, classifier re-training (cRT) and τ-normalisation (the decoupling recipes of Kang et al.
ICLR 2020, facebookresearch/classifier-balancing). Everything is seeded explicitly: the same seed
gives the same table.

This module is the ``demo`` command of :mod:`longtail.cli`; ``longtail.examples.demo`` re-exports
its names.
"""

from __future__ import annotations

import copy
import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

import longtail
from longtail.data import long_tailed_subset
from longtail.decoupling import TauNormClassifier, prepare_crt, search_tau
from longtail.metrics import shot_accuracy
from longtail.samplers import ClassAwareSampler, ClassBalancedSampler

__all__ = [
    "BALANCED_METHODS",
    "METHODS",
    "Config",
    "DemoData",
    "MethodResult",
    "format_table",
    "load_cifar100",
    "load_digits",
    "run",
    "run_once",
    "write_plots",
]

METHODS = (
    "CE",
    "CB sampling",
    "Focal",
    "LDAM-DRW",
    "Logit adjustment",
    "Balanced Softmax",
    "cRT",
    "tau-norm",
)
#: The methods that re-balance towards the tail (focal loss re-weights hard examples instead).
BALANCED_METHODS = (
    "CB sampling",
    "LDAM-DRW",
    "Logit adjustment",
    "Balanced Softmax",
    "cRT",
    "tau-norm",
)


# --------------------------------------------------------------------------------------------
# Data.


@dataclass
class DemoData:
    """A long-tailed training set with balanced validation and test sets, as tensors."""

    name: str
    x_train: Tensor
    y_train: Tensor
    x_val: Tensor
    y_val: Tensor
    x_test: Tensor
    y_test: Tensor
    class_counts: np.ndarray
    many: float
    few: float
    note: str
    #: ``augment(x, generator)``: random augmentation of a training batch, or None.
    augment: Callable[[Tensor, torch.Generator], Tensor] | None = None

    @property
    def num_classes(self) -> int:
        return len(self.class_counts)


def _per_class_split(
    labels: np.ndarray, sizes: tuple[int, ...], rng: np.random.RandomState
) -> list[np.ndarray]:
    """Splits the indices of every class into consecutive parts of the given sizes (the last
    part takes the rest), after a seeded shuffle."""
    parts: list[list[np.ndarray]] = [[] for _ in range(len(sizes) + 1)]
    bounds = np.cumsum((0, *sizes))
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        rng.shuffle(idx)
        for k in range(len(sizes)):
            parts[k].append(idx[bounds[k] : bounds[k + 1]])
        parts[-1].append(idx[bounds[-1] :])
    return [np.concatenate(p) for p in parts]


def load_digits(imbalance_ratio: float = 100.0, seed: int = 0) -> DemoData:
    """scikit-learn's digits made long-tailed (see the module docstring).

    Args:
        imbalance_ratio: ``n_max / n_min`` of the exponential profile.
        seed: seed of the splits and of the long-tailed selection.

    Returns:
        A :class:`DemoData`.
    """
    try:
        from sklearn.datasets import load_digits as sklearn_digits
    except ImportError as err:
        raise ImportError(
            "the digits demo needs scikit-learn, which is not installed; install the 'demo' "
            "extra: pip install 'longtail[demo]'"
        ) from err
    digits = sklearn_digits()
    x = digits.data.astype(np.float32) / 16.0
    y = digits.target.astype(np.int64)
    test, val, pool = _per_class_split(y, (50, 20), np.random.RandomState(seed))
    train = pool[long_tailed_subset(y[pool], imbalance_ratio, "exp", seed=seed)]
    counts = longtail.class_counts(y[train], num_classes=10)
    n_max = int(counts.max())
    many, few = round(100 * n_max / 500), round(20 * n_max / 500)
    note = (
        f"digits-LT: {len(train)} training images ({counts[0]} of class 0 down to {counts[-1]} "
        f"of class 9, imbalance ratio {imbalance_ratio:g}); balanced test set of {len(test)}.\n"
        f"many-shot: n > {many}, few-shot: n < {few} training images (CIFAR-100-LT's 100 and 20, "
        f"scaled by n_max/500 = {n_max}/500)."
    )
    t = torch.from_numpy
    return DemoData(
        "digits", t(x[train]), t(y[train]), t(x[val]), t(y[val]), t(x[test]), t(y[test]),
        counts, many, few, note, augment=_shift_digits,
    )  # fmt: skip


def _shift_digits(x: Tensor, generator: torch.Generator) -> Tensor:
    """Shifts every 8x8 digit by up to one pixel in each direction (zero fill)."""
    b = x.shape[0]
    padded = F.pad(x.view(b, 8, 8), (1, 1, 1, 1))
    dy, dx = torch.randint(0, 3, (2, b, 1), generator=generator)
    rows = (dy + torch.arange(8))[:, :, None]
    cols = (dx + torch.arange(8))[:, None, :]
    return padded[torch.arange(b)[:, None, None], rows, cols].reshape(b, 64)


_CIFAR_MEAN = (0.5071, 0.4865, 0.4409)
_CIFAR_STD = (0.2673, 0.2564, 0.2762)


def _cifar_tensor(images: np.ndarray) -> Tensor:
    x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float() / 255.0
    mean = torch.tensor(_CIFAR_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(_CIFAR_STD).view(1, 3, 1, 1)
    return (x - mean) / std


def _flip_crop(x: Tensor, generator: torch.Generator) -> Tensor:
    """CIFAR's standard augmentation: random horizontal flip and 32x32 crop of a 4-padded image."""
    b = x.shape[0]
    flip = torch.rand(b, generator=generator) < 0.5
    x = torch.where(flip[:, None, None, None], x.flip(3), x)
    padded = F.pad(x, (4, 4, 4, 4))
    dy, dx = torch.randint(0, 9, (2, b, 1), generator=generator)
    rows = (dy + torch.arange(32))[:, :, None]
    cols = (dx + torch.arange(32))[:, None, :]
    idx = torch.arange(b)[:, None, None]
    return padded.permute(0, 2, 3, 1)[idx, rows, cols].permute(0, 3, 1, 2)


def load_cifar100(
    root: str | os.PathLike, imbalance_ratio: float = 100.0, seed: int = 0
) -> DemoData:
    """CIFAR-100-LT from a torchvision CIFAR-100 copy under ``root`` (never downloaded here).

    Args:
        root: the directory holding ``cifar-100-python``.
        imbalance_ratio: ``n_max / n_min``.
        seed: seed of the long-tailed selection and of the validation split.

    Returns:
        A :class:`DemoData` (validation: 20 test images per class; test: the other 80).
    """
    train = longtail.data.CIFAR100LT(root, imbalance_ratio, train=True, seed=seed)
    test = longtail.data.CIFAR100LT(root, imbalance_ratio, train=False)
    y_test_all = np.asarray(test.targets, dtype=np.int64)
    val, rest = _per_class_split(y_test_all, (len(y_test_all) // 500,), np.random.RandomState(seed))
    images = np.asarray(test.dataset.data)
    counts = train.class_counts
    note = (
        f"CIFAR-100-LT: {len(train)} training images ({counts.max()} down to {counts.min()} per "
        f"class, imbalance ratio {imbalance_ratio:g}); balanced test set of {len(rest)} "
        f"(the other {len(val)} test images pick τ).\nmany-shot: n > 100, few-shot: n < 20."
    )
    return DemoData(
        "cifar100",
        _cifar_tensor(np.asarray(train.dataset.data)),
        torch.as_tensor(train.targets, dtype=torch.long),
        _cifar_tensor(images[val]),
        torch.from_numpy(y_test_all[val]),
        _cifar_tensor(images[rest]),
        torch.from_numpy(y_test_all[rest]),
        counts,
        100,
        20,
        note,
        augment=_flip_crop,
    )


# --------------------------------------------------------------------------------------------
# The network.


class Net(nn.Module):
    """A feature extractor followed by a linear classifier (``classifier``), which the
    decoupling recipes replace or re-train."""

    def __init__(self, features: nn.Module, width: int, num_classes: int) -> None:
        super().__init__()
        self.features = features
        self.classifier: nn.Module = nn.Linear(width, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.features(x))


class NormedLinear(nn.Module):
    """The cosine classifier LDAM-DRW trains with (``NormedLinear`` of kaidic/LDAM-DRW):
    ``normalize(x) @ normalize(W)``, no bias; LDAM's scale ``s`` multiplies it."""

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(in_features, out_features))

    def forward(self, x: Tensor) -> Tensor:
        return F.normalize(x, dim=1) @ F.normalize(self.weight, dim=0)


def _mlp(in_features: int) -> tuple[nn.Module, int]:
    width = 128
    layers = [nn.Linear(in_features, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU()]
    return nn.Sequential(*layers), width


def _cnn() -> tuple[nn.Module, int]:
    def block(cin: int, cout: int) -> list[nn.Module]:
        return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]

    layers = [*block(3, 32), nn.MaxPool2d(2), *block(32, 64), nn.MaxPool2d(2), *block(64, 128)]
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten()), 128


def _init_(module: nn.Module, generator: torch.Generator) -> None:
    """torch's default initialisation of Linear and Conv2d layers, drawn from ``generator``
    instead of the global generator."""
    for m in module.modules():
        if isinstance(m, NormedLinear):
            # The reference's uniform_(-1, 1) (its renorm only rescales the columns).
            nn.init.uniform_(m.weight, -1.0, 1.0, generator=generator)
        elif isinstance(m, (nn.Linear, nn.Conv2d)):
            nn.init.kaiming_uniform_(m.weight, a=math.sqrt(5), generator=generator)
            if m.bias is not None:
                bound = 1.0 / math.sqrt(m.weight[0].numel())
                nn.init.uniform_(m.bias, -bound, bound, generator=generator)


def make_model(data: DemoData, seed: int, cosine: bool = False) -> Net:
    """The demo's network for ``data``, initialised from ``seed``; ``cosine`` swaps the linear
    classifier for a :class:`NormedLinear` one (LDAM)."""
    features, width = _cnn() if data.name == "cifar100" else _mlp(data.x_train.shape[1])
    model = Net(features, width, data.num_classes)
    if cosine:
        model.classifier = NormedLinear(width, data.num_classes)
    _init_(model, torch.Generator().manual_seed(seed))
    return model


# --------------------------------------------------------------------------------------------
# Progress bars.


class ProgressBar:
    """A one-line text progress bar on ``stream``; redrawn in place on a terminal, printed
    once when finished otherwise (logs, pipes, captured output)."""

    def __init__(
        self, total: int, desc: str, stream: TextIO | None = None, enabled: bool = True
    ) -> None:
        self.total, self.desc, self.count = total, desc, 0
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled
        self.live = enabled and getattr(self.stream, "isatty", lambda: False)()
        self.start = time.perf_counter()
        self.postfix = ""

    def update(self, n: int = 1, postfix: str = "") -> None:
        self.count = min(self.total, self.count + n)
        self.postfix = postfix
        if self.live:
            self._draw("\r")

    def close(self) -> None:
        if self.enabled:
            self._draw("\r" if self.live else "")
            self.stream.write("\n")
            self.stream.flush()

    def _draw(self, prefix: str) -> None:
        width = 24
        filled = int(width * self.count / max(self.total, 1))
        elapsed = time.perf_counter() - self.start
        self.stream.write(
            f"{prefix}{self.desc:<18} [{'#' * filled}{'.' * (width - filled)}] "
            f"{self.count}/{self.total} epochs {elapsed:5.1f}s {self.postfix}"
        )
        self.stream.flush()


# --------------------------------------------------------------------------------------------
# Training.


@dataclass
class Config:
    """Optimisation settings of one run."""

    epochs: int
    batch_size: int
    lr: float
    crt_epochs: int
    weight_decay: float = 5e-4
    device: str = "cpu"
    progress: bool = True
    stream: TextIO | None = None


def train(
    model: nn.Module,
    params: list[nn.Parameter],
    data: DemoData,
    loss_for_epoch: Callable[[int], nn.Module],
    epoch_order: Callable[[int], Tensor],
    epochs: int,
    cfg: Config,
    desc: str,
    seed: int,
    schedule: str = "step",
) -> None:
    """SGD with momentum over ``epochs``; ``epoch_order(e)`` gives the sample indices of epoch
    ``e`` and ``loss_for_epoch(e)`` its loss. ``schedule="step"`` is LDAM-DRW's (the learning
    rate times 0.1 after 80% and again after 90% of the epochs), ``"cosine"`` the decoupling
    code's cRT schedule. ``seed`` seeds the data augmentation."""
    optimizer = torch.optim.SGD(params, lr=cfg.lr, momentum=0.9, weight_decay=cfg.weight_decay)
    if schedule == "cosine":
        scheduler: Any = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    else:
        milestones = [int(0.8 * epochs), int(0.9 * epochs)]
        scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones, gamma=0.1)
    generator = torch.Generator().manual_seed(seed)
    x, y = data.x_train.to(cfg.device), data.y_train.to(cfg.device)
    bar = ProgressBar(epochs, desc, cfg.stream, cfg.progress)
    for epoch in range(epochs):
        criterion = loss_for_epoch(epoch).to(cfg.device)
        total = 0.0
        batches = list(epoch_order(epoch).split(cfg.batch_size))
        for idx in batches:
            xb, yb = x[idx.to(cfg.device)], y[idx.to(cfg.device)]
            if data.augment is not None:
                xb = data.augment(xb.cpu(), generator).to(cfg.device)
            loss = criterion(model(xb), yb)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.item()
        scheduler.step()
        bar.update(1, f"loss {total / max(len(batches), 1):.3f}")
    bar.close()


@torch.no_grad()
def predict(model: nn.Module, x: Tensor, cfg: Config, batch_size: int = 1000) -> Tensor:
    """``model(x)`` in eval mode, in batches, on the CPU."""
    was_training = model.training
    model.eval()
    out = torch.cat([model(xb.to(cfg.device)).cpu() for xb in x.split(batch_size)])
    model.train(was_training)
    return out


@dataclass
class MethodResult:
    """The accuracies of one method (means over runs) and their per-run values."""

    name: str
    overall: float
    many: float
    medium: float
    few: float
    per_class: Tensor
    runs: list[dict[str, Any]] = field(default_factory=list)


def _instance_order(n: int, generator: torch.Generator) -> Callable[[int], Tensor]:
    """Instance-balanced sampling: a seeded random permutation of the data set per epoch."""
    orders: dict[int, Tensor] = {}

    def order(epoch: int) -> Tensor:
        if epoch not in orders:  # drawn once per epoch, in epoch order
            orders[epoch] = torch.randperm(n, generator=generator)
        return orders[epoch]

    return order


def _sampler_order(sampler: Any) -> Callable[[int], Tensor]:
    def order(epoch: int) -> Tensor:
        return torch.from_numpy(sampler.epoch_indices(epoch))

    return order


def _constant(loss: nn.Module) -> Callable[[int], nn.Module]:
    return lambda epoch: loss


def run_once(data: DemoData, cfg: Config, seed: int, methods: tuple[str, ...] = METHODS) -> dict:
    """Trains the ``methods`` once from ``seed`` (the cross-entropy network always, as cRT and
    τ-norm start from it); returns ``{method: shot_accuracy dict}`` in :data:`METHODS` order."""
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise ValueError(f"methods should be among {METHODS}, but got {unknown}")
    counts = data.class_counts.tolist()
    labels = data.y_train.numpy()
    ce = nn.CrossEntropyLoss()
    drw_start = int(0.8 * cfg.epochs)
    ldam = longtail.LDAMLoss(counts, max_margin=0.5, scale=30.0)

    def ldam_drw(epoch: int) -> nn.Module:
        # LDAM-DRW: LDAM margins throughout, class-balanced weights after 80% of the epochs.
        ldam.weight = longtail.weights.drw(counts, epoch, start_epoch=drw_start)
        return ldam

    plans: dict[str, tuple[Callable[[int], nn.Module], Any]] = {
        "CE": (_constant(ce), None),
        "CB sampling": (_constant(ce), ClassBalancedSampler(labels, seed=seed)),
        "Focal": (_constant(longtail.FocalLoss(gamma=2.0)), None),
        "LDAM-DRW": (ldam_drw, None),
        "Logit adjustment": (_constant(longtail.LogitAdjustedLoss(counts, tau=1.0)), None),
        "Balanced Softmax": (_constant(longtail.BalancedSoftmaxLoss(counts)), None),
    }
    results: dict[str, dict] = {}
    stage1: Net | None = None
    for name, (loss_for_epoch, sampler) in plans.items():
        if name not in methods and name != "CE":
            continue
        model = make_model(data, seed, cosine=name == "LDAM-DRW").to(cfg.device)
        order = (
            _sampler_order(sampler)
            if sampler is not None
            else _instance_order(len(labels), torch.Generator().manual_seed(seed))
        )
        train(model, list(model.parameters()), data, loss_for_epoch, order, cfg.epochs, cfg,
              name, seed)  # fmt: skip
        if name == "CE":
            stage1 = model
        if name in methods:
            results[name] = _evaluate(model, data, cfg)

    assert stage1 is not None  # CE always trains: the decoupling recipes start from it
    if "cRT" in methods:
        # cRT: the CE network's features frozen, its classifier re-initialised and retrained
        # with class-aware sampling (4 samples per class visit) and a cosine schedule.
        model = copy.deepcopy(stage1)
        params = prepare_crt(model, "classifier", reinitialize=False)
        _init_(model.classifier, torch.Generator().manual_seed(seed + 1))
        model.features.eval()  # BatchNorm statistics stay those of stage 1
        sampler = ClassAwareSampler(labels, samples_per_class=4, seed=seed)
        train(model, params, data, _constant(ce), _sampler_order(sampler), cfg.crt_epochs, cfg,
              "cRT", seed, schedule="cosine")  # fmt: skip
        results["cRT"] = _evaluate(model, data, cfg)
    if "tau-norm" in methods:
        # τ-normalisation of the CE classifier (bias dropped), τ picked on the balanced
        # validation set over linspace(0, 2, 21).
        model = copy.deepcopy(stage1)
        features = predict(model.features, data.x_val, cfg)
        linear = model.classifier.cpu()
        assert isinstance(linear, nn.Linear)  # the stage-1 classifier
        tau = search_tau(features, data.y_val, weight=linear).tau
        model.classifier = TauNormClassifier.from_linear(linear, tau=tau)
        model.to(cfg.device)
        results["tau-norm"] = _evaluate(model, data, cfg) | {"tau": tau}
    return {m: results[m] for m in METHODS if m in results}


def _evaluate(model: nn.Module, data: DemoData, cfg: Config) -> dict:
    logits = predict(model, data.x_test, cfg)
    return shot_accuracy(logits, data.y_test, data.class_counts, many=data.many, few=data.few)


def run(
    data: DemoData, cfg: Config, seeds: list[int], methods: tuple[str, ...] = METHODS
) -> list[MethodResult]:
    """Runs every method once per seed and averages the accuracies over the seeds."""
    per_seed = []
    for seed in seeds:
        if cfg.progress and len(seeds) > 1:
            print(f"run with seed {seed}", file=cfg.stream or sys.stderr)
        per_seed.append(run_once(data, cfg, seed, methods))
    out = []
    for name in per_seed[0]:
        runs = [r[name] for r in per_seed]
        mean = {k: float(np.mean([r[k] for r in runs])) for k in ("overall", "many", "medium",
                                                                  "few")}  # fmt: skip
        per_class = torch.stack([r["per_class"] for r in runs]).mean(0)
        out.append(MethodResult(name, per_class=per_class, runs=runs, **mean))
    return out


# --------------------------------------------------------------------------------------------
# Output.


def _pct(x: float) -> str:
    return "   -" if math.isnan(x) else f"{100 * x:5.1f}"


def format_table(results: list[MethodResult], data: DemoData) -> str:
    """The results as a text table of accuracies in percent (means over the runs; with more than
    one run, the standard deviation of the overall accuracy beside it)."""
    groups = longtail.stats.describe(data.class_counts, data.many, data.few)
    header = (
        f"{'method':<18}{'overall':>9}{'many':>8}{'medium':>8}{'few':>8}\n"
        f"{'(classes)':<18}{data.num_classes:>9}{groups.many_classes:>8}"
        f"{groups.medium_classes:>8}{groups.few_classes:>8}"
    )
    lines = [header, "-" * 51]
    for r in results:
        extra = ""
        if len(r.runs) > 1:
            extra = f"  ±{100 * float(np.std([x['overall'] for x in r.runs])):.1f}"
        elif "tau" in r.runs[0]:
            extra = f"  (tau={r.runs[0]['tau']:.1f})"
        lines.append(
            f"{r.name:<18}{_pct(r.overall):>9}{_pct(r.many):>8}{_pct(r.medium):>8}"
            f"{_pct(r.few):>8}{extra}"
        )
    return "\n".join(lines)


def write_plots(
    results: list[MethodResult], data: DemoData, out_dir: str | os.PathLike
) -> list[str]:
    """The class histogram and the per-class accuracy of every method, as PNG files."""
    os.makedirs(out_dir, exist_ok=True)
    hist = os.path.join(out_dir, f"{data.name}_lt_classes.png")
    acc = os.path.join(out_dir, f"{data.name}_lt_per_class_accuracy.png")
    longtail.stats.plot_class_histogram(
        data.class_counts, data.many, data.few, path=hist, title=f"{data.name}-LT training set"
    )
    longtail.stats.plot_per_class_accuracy(
        {r.name: r.per_class for r in results},
        data.class_counts,
        data.many,
        data.few,
        path=acc,
        title=f"{data.name}-LT: test accuracy per class",
    )
    return [hist, acc]
