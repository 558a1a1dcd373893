"""The Meta Sampler of BALMS (Ren et al. NeurIPS 2020, "Balanced Meta-Softmax for Long-Tailed
Visual Recognition"; official code jiawei-ren/BalancedMetaSoftmax): :class:`MetaSampler`, a
batch sampler with learnable per-class logits trained by a bilevel step through Gumbel-softmax
draws (Jang et al. ICLR 2017; the conditional Gumbel of Maddison et al. 2014 and Tucker et al.
2017), re-exported from :mod:`longtail.samplers`."""

from __future__ import annotations

import math
import numbers
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call
from torch.utils.data import Sampler

from longtail import _core
from longtail._checks import I64_MAX, U64_MAX, check_int, check_seed
from longtail.samplers._base import ArrayLike, _as_labels, _distributed_default

__all__ = ["MetaSampler"]

# Gumbel perturbations are made this many elements (rows x dataset size) at a time.
_CHUNK_ELEMENTS = 1 << 22


def _check_real(name: str, value: Any, *, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} should be a real number, but got {name}={value!r}")
    value = float(value)
    if not math.isfinite(value) or value < 0 or (positive and value == 0):
        what = "> 0" if positive else ">= 0"
        raise ValueError(f"{name} should be a finite number {what}, but got {name}={value}")
    return value


def _gumbel(shape: tuple[int, ...], generator: torch.Generator) -> Tensor:
    e = torch.empty(shape, dtype=torch.float64).exponential_(generator=generator)
    return -torch.log(e.clamp_min(torch.finfo(torch.float64).tiny))


def _conditional_gumbel_rows(
    phi: Tensor, indices: Tensor, generator: torch.Generator
) -> Iterator[Tensor]:
    """Gumbel perturbations ``g`` ``(rows, N)`` of consecutive row chunks, drawn from their
    law *given* ``argmax_i (phi_i + g_bi) = indices[b]`` (Maddison et al. 2014; the truncated
    Gumbel of Tucker et al. 2017): the row maximum ``T ~ Gumbel(logsumexp(phi))`` sits at the
    drawn index and every other ``phi_i + g_i`` is a ``Gumbel(phi_i)`` truncated below ``T``.

    With ``indices`` drawn from the categorical law ``softmax(phi)``, ``phi + g`` has exactly
    the law of unconditioned Gumbel-perturbed logits, i.e. of ``gumbel_softmax``'s."""
    b, n = indices.numel(), phi.numel()
    top = torch.logsumexp(phi, 0) + _gumbel((b,), generator)
    rows = max(1, _CHUNK_ELEMENTS // n)
    for lo in range(0, b, rows):
        hi = min(b, lo + rows)
        t = top[lo:hi, None]
        perturbed = -torch.logaddexp(-t, -(phi + _gumbel((hi - lo, n), generator)))
        perturbed.scatter_(1, indices[lo:hi, None], t)
        yield perturbed - phi


@dataclass
class _Draw:
    """One batch drawn by :class:`MetaSampler`, waiting for its :meth:`MetaSampler.step`."""

    indices: np.ndarray  # (B,) dataset indices
    labels: Tensor  # (B,) their classes
    weight: Tensor  # (B,) the straight-through Gumbel one-hot at the drawn index (value 1)
    noise_seed: int  # seed of the torch.Generator that made the Gumbel perturbations


class MetaSampler(Sampler[list[int]]):
    r"""The Meta Sampler of BALMS (Ren et al. NeurIPS 2020; jiawei-ren/BalancedMetaSoftmax): a batch
    sampler with learnable per-class sampling logits :math:`w`, trained by a bilevel step so that a
    classifier trained on its batches does well on a class-balanced meta set.

    **Law.** Every sample ``i`` has weight :math:`\sigma(w_{y_i})`, and every batch row is an
    independent draw over all ``N`` samples, with replacement, so a row has class ``c`` with
    probability

    .. math:: P(c) = \frac{n_c\,\sigma(w_c)}{\sum_k n_k\,\sigma(w_k)}

    (:meth:`class_probabilities`). The indices come from the Rust weighted sampler; each row
    also gets the Gumbel perturbations :math:`g` that make it a hard ``gumbel_softmax`` draw
    (sampled given the drawn index, which gives exactly the joint law of the official
    ``gumbel_softmax(log s, hard=True)``), and the straight-through one-hot
    :math:`h = \mathrm{onehot} + \mathrm{soft} - \mathrm{sg}(\mathrm{soft})`,
    :math:`\mathrm{soft} = \mathrm{softmax}(\log s + g)`, carries the gradient to :math:`w`.

    **Initialisation** (official ``SampleLearner``): with :math:`\pi = n/N`,
    :math:`q = \pi^{-p}` (``p = init_pow``), :math:`q \leftarrow q / (\min q + \max q)`,
    :math:`w = \log q - \log(1 - q)`. The default ``init_pow=0`` gives :math:`w = 0`, i.e.
    instance-balanced sampling; ``init_pow=1`` starts close to class-balanced. Classes
    without samples are never drawn; their logit is 0 and stays so.

    **Meta step** (:meth:`step`, once per training iteration, before the classifier's own
    step; official ``run_networks.py::meta_forward``):

    1. inner: one differentiable SGD step of the classifier :math:`\theta` on the batch's
       (detached) features, :math:`\theta' = \theta - \eta\,\nabla_\theta \frac1B \sum_b
       h_b\,\ell_b(\theta)` with :math:`\ell_b` the per-sample **Balanced Softmax** loss
       :math:`\mathrm{CE}(z_b + \log n, y_b)` — the value is :math:`\mathrm{mean}(\ell)`, and
       :math:`h_b` carries the dependence on :math:`w`;
    2. outer: plain **cross-entropy** of :math:`\theta'` on a class-balanced meta batch (e.g.
       from a :class:`~longtail.samplers.ClassAwareSampler`), back-propagated to :math:`w`
       through the inner step, and one ``Adam(lr)`` step on :math:`w`.

    The classifier itself is not changed by :meth:`step` (and its ``.grad`` is untouched);
    train it on the same batch afterwards as usual, e.g. with
    :class:`longtail.BalancedSoftmaxLoss` (BALMS). The bilevel step uses
    :func:`torch.func.functional_call`; no extra dependency.

    Batches are drawn lazily with the current :math:`w`, so use it as a DataLoader's
    ``batch_sampler``; the draws wait in a FIFO queue for their :meth:`step`, and call
    :meth:`step` once per batch, in order (with prefetching workers the queue simply runs a
    few batches ahead, as in the official code). An epoch has ``N // batch_size`` batches
    (per rank: ``N // (batch_size · num_replicas)``). The sampler's state lives on the CPU.

    Under DDP every rank draws its own batches (streams derived from ``(seed, epoch, batch,
    rank)``, so ranks never repeat each other's draws) and :meth:`step` averages the logits'
    gradient over the ranks (``all_reduce``) before Adam: every rank keeps the same logits, as
    one process whose meta step saw all ranks' batches.

    Args:
        labels: the class index of every training sample.
        batch_size: ``B``, rows per batch.
        num_batches: batches per epoch; defaults to ``N // batch_size`` (at least 1).
        num_classes: ``C``, the classifier's number of outputs; defaults to ``max(labels)+1``.
        init_pow: the initialisation exponent ``p`` (official ``init_pow``, default 0).
        lr: Adam's learning rate for :math:`w` (official ``sampler.lr``, default 0.01).
        seed: the seed; batch ``b`` of epoch ``e`` is a function of ``(seed, e, b)`` (and
            the rank) and of :math:`w`.
        num_replicas, rank: the DDP world size and this process's rank; by default taken
            from ``torch.distributed`` when it is initialised, else 1 and 0.

    Example::

        >>> sampler = MetaSampler(train_labels, batch_size=512, seed=0)
        >>> loader = DataLoader(train_set, batch_sampler=sampler)
        >>> meta = ClassAwareSampler(train_labels, seed=1)          # class-balanced meta set
        >>> meta_batches = iter(DataLoader(train_set, batch_size=512, sampler=meta))
        >>> criterion = BalancedSoftmaxLoss(sampler.class_counts)
        >>> for epoch in range(num_epochs):
        ...     sampler.set_epoch(epoch)
        ...     for x, y in loader:
        ...         mx, my = next(meta_batches)      # re-create the iterator when exhausted
        ...         with torch.no_grad():
        ...             f, mf = backbone(x), backbone(mx)
        ...         sampler.step(model.fc, f, y, mf, my, lr=optimizer.param_groups[0]["lr"])
        ...         optimizer.zero_grad()
        ...         criterion(model.fc(f), y).backward()
        ...         optimizer.step()
    """

    def __init__(
        self,
        labels: ArrayLike,
        batch_size: int,
        num_batches: int | None = None,
        *,
        num_classes: int | None = None,
        init_pow: float = 0.0,
        lr: float = 0.01,
        seed: int = 0,
        num_replicas: int | None = None,
        rank: int | None = None,
    ) -> None:
        super().__init__()
        labels_np = _as_labels(labels)
        self.batch_size = check_int("batch_size", batch_size, low=1, high=I64_MAX)
        self.num_replicas, self.rank = _distributed_default(num_replicas, rank)
        n = len(labels_np)
        self.num_batches = (
            max(1, n // (self.batch_size * self.num_replicas))
            if num_batches is None
            else check_int("num_batches", num_batches, low=1, high=I64_MAX)
        )
        top = int(labels_np.max()) + 1
        if num_classes is None:
            num_classes = top
        num_classes = check_int("num_classes", num_classes, low=1, high=I64_MAX)
        if num_classes < top:
            raise ValueError(
                f"num_classes should be > every label (max {top - 1}), but got "
                f"num_classes={num_classes}"
            )
        self.num_classes = num_classes
        self.init_pow = _check_real("init_pow", init_pow)
        self.lr = _check_real("lr", lr, positive=True)
        self.seed = check_seed("seed", seed)
        self.epoch = 0

        classes, offsets, members = _core.group_labels(labels_np)
        self._classes, self._offsets, self._members = classes, offsets, members
        self._labels = torch.from_numpy(labels_np)
        #: ``n_c`` for every class ``0 .. num_classes - 1`` (float64).
        self.class_counts: Tensor = torch.bincount(self._labels, minlength=num_classes).double()
        #: The learnable sampling logits :math:`w`, one per class (float64, CPU).
        initial = self.initial_logits(self.class_counts, self.init_pow)
        if not bool(torch.isfinite(initial).all()):
            raise ValueError(
                "init_pow should be small enough for finite initial logits (pi**-init_pow "
                f"overflows float64), but got init_pow={self.init_pow}"
            )
        self.logits = nn.Parameter(initial)
        self.optimizer = torch.optim.Adam([self.logits], lr=self.lr)
        self._pending: deque[_Draw] = deque()

    # -- the law ---------------------------------------------------------------------------

    @staticmethod
    def initial_logits(class_counts: Tensor, init_pow: float = 0.0) -> Tensor:
        r"""The official initial logits: :math:`q = \pi^{-p} / (\min + \max)`,
        :math:`w = \log q - \log(1-q)` over the classes with samples (0 for the others)."""
        counts = torch.as_tensor(class_counts, dtype=torch.float64)
        present = counts > 0
        q = (counts[present] / counts.sum()).pow(-float(init_pow))
        q = q / (q.min() + q.max())
        w = torch.zeros_like(counts)
        w[present] = torch.log(q) - torch.log1p(-q)
        return w

    def class_probabilities(self) -> Tensor:
        r""":math:`P(c) \propto n_c\,\sigma(w_c)` for every class ``0 .. C-1`` (float64)."""
        with torch.no_grad():
            p = self.class_counts * torch.sigmoid(self.logits)
            return p / p.sum()

    # -- drawing ---------------------------------------------------------------------------

    def _check_epoch(self, name: str, epoch: Any) -> int:
        # Batch b of epoch e draws the core stream (e * batches + b) * R + r, a u64.
        last = (U64_MAX + 1) // (self.num_batches * self.num_replicas) - 1
        return check_int(name, epoch, low=0, high=last)

    def set_epoch(self, epoch: int) -> None:
        """Sets the epoch (counting from 0) for the next ``__iter__``."""
        self.epoch = self._check_epoch("epoch", epoch)

    def __len__(self) -> int:
        return self.num_batches

    def _noise_seed(self, batch: int) -> int:
        entropy = [self.seed, self.epoch, batch]
        if self.num_replicas > 1:
            entropy.append(self.rank)
        seq = np.random.SeedSequence(entropy)
        return int(seq.generate_state(1, np.uint64)[0] >> np.uint64(1))

    def _draw(self, batch: int) -> _Draw:
        with torch.no_grad():
            log_s = F.logsigmoid(self.logits)  # log σ(w), finite for any w
            present = torch.from_numpy(self._classes)
            class_weights = (self.class_counts[present] * torch.exp(log_s[present])).numpy()
        # Rank r of R draws stream (e·batches + b)·R + r: disjoint across ranks, and the
        # single-process stream when R = 1.
        stream = (self.epoch * self.num_batches + batch) * self.num_replicas + self.rank
        indices = _core.class_weighted_indices(
            self._offsets,
            self._members,
            np.ascontiguousarray(class_weights, dtype=np.float64),
            self.batch_size,
            self.seed,
            stream,
        )
        idx = torch.from_numpy(indices)
        row_labels = self._labels[idx]
        noise_seed = self._noise_seed(batch)
        generator = torch.Generator().manual_seed(noise_seed)
        with torch.no_grad():
            phi = log_s[self._labels]  # log s_{y_i}, (N,)
            # Class-level sums of exp(g): soft = s_c e^{g} / Σ_c s_c Σ_{i∈c} e^{g_i}, exactly.
            log_mass, top = [], []
            lo = 0
            for g in _conditional_gumbel_rows(phi, idx, generator):
                m = g.max(dim=1, keepdim=True).values
                sums = torch.zeros(g.shape[0], self.num_classes, dtype=torch.float64)
                sums.index_add_(1, self._labels, torch.exp(g - m))
                log_mass.append(torch.log(sums) + m)
                top.append(g.gather(1, idx[lo : lo + g.shape[0], None]).squeeze(1))
                lo += g.shape[0]
            log_mass_t, top_t = torch.cat(log_mass), torch.cat(top)
        with torch.enable_grad():
            # A fresh graph from w (clone() saves nothing, so Adam may update w in place).
            log_s = F.logsigmoid(self.logits.clone())
            log_soft = log_s[row_labels] + top_t - torch.logsumexp(log_s + log_mass_t, dim=1)
            soft = torch.exp(log_soft)
            weight = 1.0 + (soft - soft.detach())  # straight-through: value 1, grad of soft
        return _Draw(indices, row_labels, weight, noise_seed)

    def __iter__(self) -> Iterator[list[int]]:
        self._pending.clear()
        for batch in range(self.num_batches):
            draw = self._draw(batch)
            self._pending.append(draw)
            yield draw.indices.tolist()

    # -- the meta step ----------------------------------------------------------------------

    def step(
        self,
        classifier: nn.Module,
        input: Tensor,
        target: Tensor,
        meta_input: Tensor,
        meta_target: Tensor,
        *,
        lr: float,
        weight_decay: float = 0.0,
    ) -> Tensor:
        r"""One bilevel update of the sampling logits on the oldest batch not yet stepped.

        Args:
            classifier: the module trained on the sampled batches (e.g. ``model.fc``); its
                parameters with ``requires_grad`` take the inner step, its buffers are used
                as they are. It is not modified.
            input: the classifier's input for the batch this sampler yielded, ``(B, ...)``
                (detached: features are fixed in the meta step, as in the official code).
            target: that batch's labels ``(B,)``; checked against the drawn indices.
            meta_input, meta_target: a class-balanced meta batch.
            lr: the inner SGD learning rate (the classifier's current learning rate).
            weight_decay: L2 term of the inner SGD step.

        Returns:
            The outer (meta) cross-entropy, detached.
        """
        # Everything is checked, and the whole update computed, before the pending batch is
        # consumed or Adam steps: a rejected call changes nothing.
        if not isinstance(classifier, nn.Module):
            raise TypeError(
                "classifier should be a torch.nn.Module, but got classifier of type "
                f"{type(classifier).__name__}"
            )
        lr = _check_real("lr", lr, positive=True)
        weight_decay = _check_real("weight_decay", weight_decay)
        for name, t in (
            ("input", input),
            ("target", target),
            ("meta_input", meta_input),
            ("meta_target", meta_target),
        ):
            if not isinstance(t, Tensor):
                raise TypeError(
                    f"{name} should be a torch.Tensor, but got {name} of type {type(t).__name__}"
                )
        if not self._pending:
            raise RuntimeError(
                "step() should follow a batch drawn from this sampler, but no drawn batch is "
                "waiting (iterate over the sampler, or a DataLoader using it, first)"
            )
        draw = self._pending[0]
        if target.shape != draw.labels.shape or not torch.equal(
            target.detach().cpu().long(), draw.labels
        ):
            raise ValueError(
                "target should be the labels of the oldest batch drawn and not yet stepped "
                "(call step() once per batch, in order), but got labels that differ from it"
            )
        if input.dim() == 0 or input.shape[0] != draw.labels.shape[0]:
            raise ValueError(
                f"input should have one row per sample of the batch ({draw.labels.shape[0]}), "
                f"but got input of shape {tuple(input.shape)}"
            )
        if meta_target.dim() != 1 or meta_input.dim() == 0:
            raise ValueError(
                "meta_target should be a 1-D tensor of class indices and meta_input a batch, but "
                f"got meta_target of shape {tuple(meta_target.shape)} and meta_input of shape "
                f"{tuple(meta_input.shape)}"
            )
        if meta_input.shape[0] != meta_target.shape[0]:
            raise ValueError(
                "meta_input and meta_target should have the same length, but got "
                f"{meta_input.shape[0]} inputs and {tuple(meta_target.shape)} targets"
            )
        if meta_target.numel() == 0:
            raise ValueError(
                "meta_target should hold at least one sample (the meta loss of an empty batch "
                "is NaN), but got meta_target of shape (0,)"
            )
        if (
            meta_target.is_floating_point()
            or meta_target.is_complex()
            or (meta_target.dtype == torch.bool)
        ):
            raise TypeError(
                f"meta_target should hold integer class indices, but got meta_target of "
                f"dtype={meta_target.dtype}"
            )
        low, high = int(meta_target.min()), int(meta_target.max())
        if low < 0 or high >= self.num_classes:
            bad = low if low < 0 else high
            raise IndexError(
                f"meta_target should hold class indices in [0, {self.num_classes - 1}], but got "
                f"meta_target={bad}"
            )
        params = {k: p for k, p in classifier.named_parameters() if p.requires_grad}
        if not params:
            raise ValueError(
                "classifier should have parameters with requires_grad=True, but got none"
            )
        buffers = dict(classifier.named_buffers())

        x = input.detach()
        logits = self._classify(classifier, {**params, **buffers}, x, "input")
        log_counts = torch.log(self.class_counts).to(device=logits.device, dtype=logits.dtype)
        # Balanced Softmax per sample, in plain torch ops: the inner step is differentiated
        # twice, and longtail's fused kernel is differentiable once.
        per_sample = F.cross_entropy(logits + log_counts, target.long(), reduction="none")
        h = draw.weight.to(device=per_sample.device, dtype=per_sample.dtype)
        inner = (per_sample * h.detach() * h).mean()
        names = list(params)
        grads = torch.autograd.grad(inner, [params[k] for k in names], create_graph=True)
        updated = {
            k: params[k] - lr * (g + weight_decay * params[k])
            for k, g in zip(names, grads, strict=True)
        }
        meta_logits = self._classify(
            classifier, {**updated, **buffers}, meta_input.detach(), "meta_input"
        )
        outer = F.cross_entropy(meta_logits, meta_target.long().to(meta_logits.device))
        # Keep the draw's graph: should a check below reject the call, the batch stays pending
        # and a retried step needs it (it is freed with the draw once stepped).
        (grad_w,) = torch.autograd.grad(outer, [self.logits], retain_graph=True)
        if not bool(torch.isfinite(grad_w).all()):
            raise ValueError(
                "the meta gradient should be finite, but got a non-finite gradient (meta loss "
                f"{float(outer.detach())}); check the classifier and its inputs for NaN or inf"
            )
        if (
            self.num_replicas > 1
            and torch.distributed.is_available()
            and torch.distributed.is_initialized()
        ):
            # One meta step over every rank's batch: the mean of the ranks' gradients.
            torch.distributed.all_reduce(grad_w)
            grad_w = grad_w / self.num_replicas
        self._pending.popleft()
        self.optimizer.zero_grad(set_to_none=True)
        self.logits.grad = grad_w
        self.optimizer.step()  # .grad keeps this step's gradient, as after loss.backward()
        return outer.detach()

    def _classify(
        self, classifier: nn.Module, tensors: dict[str, Tensor], x: Tensor, name: str
    ) -> Tensor:
        """The classifier's logits ``(B, num_classes)`` for ``x``, or a ValueError naming
        ``name`` when the classifier rejects it or gives another width."""
        try:
            out = functional_call(classifier, tensors, (x,))
        except RuntimeError as err:
            raise ValueError(
                f"{name} should be accepted by the classifier, but got {name} of shape "
                f"{tuple(x.shape)}: {err}"
            ) from err
        if (
            not isinstance(out, Tensor)
            or out.dim() != 2
            or out.shape
            != (
                x.shape[0],
                self.num_classes,
            )
        ):
            shape = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
            raise ValueError(
                f"classifier should map {name} to logits of shape ({x.shape[0]}, "
                f"{self.num_classes}), but got classifier output {shape}"
            )
        return out

    # -- state ------------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """The logits, Adam's state, the epoch and the seed."""
        return {
            "logits": self.logits.detach().clone(),
            "optimizer": self.optimizer.state_dict(),
            "epoch": self.epoch,
            "seed": self.seed,
        }

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restores :meth:`state_dict`'s output (pending draws are dropped).

        Everything is checked first, Adam's state included (loaded into a scratch optimizer),
        so a rejected state leaves the sampler as it was."""
        if not isinstance(state_dict, Mapping):
            raise TypeError(
                "state_dict should be a mapping, but got state_dict of type "
                f"{type(state_dict).__name__}"
            )
        expected = {"logits", "optimizer", "epoch", "seed"}
        keys = set(state_dict)
        if keys != expected:
            raise ValueError(
                "state_dict should have exactly the keys 'logits', 'optimizer', 'epoch', 'seed', "
                f"but got state_dict missing {sorted(expected - keys, key=str)} and with extra "
                f"keys {sorted(keys - expected, key=str)}"
            )
        raw = state_dict["logits"]
        if not isinstance(raw, Tensor) or not raw.is_floating_point() or raw.device.type == "meta":
            raise TypeError(
                "state_dict['logits'] should be a real floating-point tensor, but got "
                f"state_dict['logits']={raw!r}"
            )
        logits = raw.detach().to(device="cpu", dtype=torch.float64)
        if logits.shape != self.logits.shape:
            raise ValueError(
                f"state_dict['logits'] should have shape {tuple(self.logits.shape)}, but got "
                f"state_dict['logits'] of shape {tuple(logits.shape)}"
            )
        if not bool(torch.isfinite(logits).all()):
            raise ValueError(
                f"state_dict['logits'] should be finite, but got state_dict['logits']={logits}"
            )
        epoch = self._check_epoch("state_dict['epoch']", state_dict["epoch"])
        seed = check_seed("state_dict['seed']", state_dict["seed"])
        optimizer_state = state_dict["optimizer"]
        scratch = torch.optim.Adam([nn.Parameter(logits.clone())], lr=self.lr)
        try:
            scratch.load_state_dict(optimizer_state)
        except (KeyError, TypeError, ValueError, IndexError, AttributeError) as err:
            raise ValueError(
                "state_dict['optimizer'] should be the state_dict of this sampler's Adam, but "
                f"got state_dict['optimizer']={optimizer_state!r} ({err})"
            ) from err
        for per_param in scratch.state.values():
            for name in ("exp_avg", "exp_avg_sq"):
                moment = per_param.get(name)
                if not isinstance(moment, Tensor) or moment.shape != self.logits.shape:
                    raise ValueError(
                        f"state_dict['optimizer'] should hold {name} of shape "
                        f"{tuple(self.logits.shape)}, but got {name}={moment!r}"
                    )
        with torch.no_grad():
            self.logits.copy_(logits)
        self.optimizer.load_state_dict(optimizer_state)
        self.epoch, self.seed = epoch, seed
        self._pending.clear()

    def __getstate__(self) -> dict[str, Any]:
        # Pending draws hold autograd graphs, which do not pickle; they belong to a live loop.
        state = self.__dict__.copy()
        state["_pending"] = deque()
        return state

    def __repr__(self) -> str:
        return (
            f"MetaSampler(num_classes={self.num_classes}, batch_size={self.batch_size}, "
            f"num_batches={self.num_batches}, init_pow={self.init_pow}, lr={self.lr}, "
            f"seed={self.seed}, epoch={self.epoch}, num_replicas={self.num_replicas}, "
            f"rank={self.rank})"
        )
