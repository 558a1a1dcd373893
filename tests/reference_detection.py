"""Oracles for the detection losses: straightforward float64 PyTorch written from the papers and
the official code's op chains. They never call longtail. Gradients come from autograd through
these formulas, with the official code's ``.detach()``/constant factors where it has them."""

from __future__ import annotations

import bisect

import torch
import torch.nn.functional as TF
from torch import Tensor


def onehot_with_background(target: Tensor, columns: int) -> Tensor:
    """One-hot over ``columns`` columns; labels >= columns give an all-zero row."""
    n = target.shape[0]
    t = torch.zeros(n, columns + 1, dtype=torch.float64)
    t[torch.arange(n), target.clamp(max=columns)] = 1.0
    return t[:, :columns]


def weight_reduce(
    loss: Tensor, weight: Tensor | None, reduction: str, avg_factor: float | None
) -> Tensor:
    """mmdetection's ``weight_reduce_loss`` (mmdet/models/losses/utils.py): ``"mean"`` with an
    ``avg_factor`` divides by ``avg_factor + eps``, eps the float32 epsilon."""
    if weight is not None:
        loss = loss * weight
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    eps = torch.finfo(torch.float32).eps
    return loss.mean() if avg_factor is None else loss.sum() / (avg_factor + eps)


def sigmoid_focal(
    pred: Tensor,
    target: Tensor,
    *,
    gamma: float = 2.0,
    alpha: float | None = 0.25,
    weight: Tensor | None = None,
    reduction: str = "mean",
    avg_factor: float | None = None,
) -> Tensor:
    """mmdetection's ``py_sigmoid_focal_loss`` (labels with background) / torchvision's."""
    if not target.is_floating_point():
        target = onehot_with_background(target, pred.shape[1])
    target = target.to(pred.dtype)
    p = pred.sigmoid()
    pt = (1 - p) * target + p * (1 - target)
    focal_weight = pt.pow(gamma)
    if alpha is not None:
        focal_weight = focal_weight * (alpha * target + (1 - alpha) * (1 - target))
    loss = TF.binary_cross_entropy_with_logits(pred, target, reduction="none") * focal_weight
    if weight is not None:
        weight = weight.view(-1, 1)
    return weight_reduce(loss, weight, reduction, avg_factor)


def effective_number_weights(counts: list[float], beta: float) -> Tensor:
    n = torch.tensor(counts, dtype=torch.float64)
    w = (1.0 - beta) / (1.0 - beta**n)
    return w / w.sum() * len(counts)


def class_balanced_sigmoid(
    logits: Tensor,
    labels: Tensor,
    counts: list[float],
    beta: float,
    gamma: float,
    loss_type: str,
    reduction: str = "mean",
) -> Tensor:
    """The official TF ``CB_loss`` sigmoid/focal types, transcribed to torch (``"mean"``; the
    other reductions of its summands)."""
    c = logits.shape[1]
    onehot = TF.one_hot(labels, c).double()
    w = effective_number_weights(counts, beta)
    weights = (w.unsqueeze(0) * onehot).sum(1, keepdim=True).repeat(1, c)
    bce = TF.binary_cross_entropy_with_logits(logits, onehot, reduction="none")
    if loss_type == "focal":
        modulator = torch.exp(-gamma * onehot * logits - gamma * torch.log1p(torch.exp(-logits)))
        bce = modulator * bce
    if reduction != "mean":
        return _rows_reduce(weights * bce, reduction, None)
    return (weights * bce).sum() / onehot.sum()


def _rows_reduce(loss: Tensor, reduction: str, avg_factor: float | None) -> Tensor:
    """The reductions of the ``(N, C)`` element losses of EQL, EQLv2 and the sigmoid
    class-balanced types: the official codes' ``sum / N`` for ``"mean"`` (``sum / (avg_factor +
    eps)`` with mmdetection's ``avg_factor``), the plain sum, or the elements themselves."""
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    if avg_factor is not None:
        return loss.sum() / (avg_factor + torch.finfo(torch.float32).eps)
    return loss.sum() / loss.shape[0]


def eql(
    cls_score: Tensor,
    label: Tensor,
    freq: Tensor,
    lambda_: float,
    reduction: str = "mean",
    avg_factor: float | None = None,
) -> Tensor:
    """tztztztztz/eqlv2 ``EQL.forward`` (``"mean"``; the other reductions of its summands)."""
    n_i, n_c = cls_score.shape
    target = cls_score.new_zeros(n_i, n_c + 1)
    target[torch.arange(n_i), label] = 1
    target = target[:, :n_c]
    exclude = (label != n_c).double().view(n_i, 1).expand(n_i, n_c)
    threshold = cls_score.new_zeros(n_c)
    threshold[freq < lambda_] = 1
    threshold = threshold.view(1, n_c).expand(n_i, n_c)
    eql_w = 1 - exclude * threshold * (1 - target)
    loss = TF.binary_cross_entropy_with_logits(cls_score, target, reduction="none")
    return _rows_reduce(loss * eql_w, reduction, avg_factor)


def softmax_eql(
    cls_score: Tensor,
    labels: Tensor,
    freq: Tensor,
    lambda_: float,
    beta: Tensor,
    reduction: str = "mean",
    ignore_index: int = -100,
) -> Tensor:
    """Softmax EQL (Tan et al. CVPR 2020, the classification form of BagofTricks-LT's SEQL) for
    a given drop mask ``beta`` (N, C): ``p̃_j = e^{z_j} / Σ_k w̃_k e^{z_k}`` with
    ``w̃_k = 1 − β_k T_λ(f_k)(1 − y_k)``, i.e. the cross-entropy of ``z + log w̃``."""
    valid = (labels != ignore_index)[:, None]
    onehot = TF.one_hot(labels.clamp(0, cls_score.shape[1] - 1), cls_score.shape[1]).double()
    onehot = onehot * valid
    rare = (torch.as_tensor(freq) < lambda_).double()[None, :]
    w = 1 - beta.double() * rare * (1 - onehot)
    return TF.cross_entropy(
        cls_score + torch.log(w), labels, reduction=reduction, ignore_index=ignore_index
    )


class EQLv2:
    """tztztztztz/eqlv2 ``EQLv2`` (all_reduce → caller-provided sum), float64 state."""

    def __init__(
        self, num_classes: int, gamma: float = 12.0, mu: float = 0.8, alpha: float = 4.0
    ) -> None:
        self.gamma, self.mu, self.alpha = gamma, mu, alpha
        self.pos_grad = torch.zeros(num_classes, dtype=torch.float64)
        self.neg_grad = torch.zeros(num_classes, dtype=torch.float64)
        self.pos_neg = torch.ones(num_classes, dtype=torch.float64) * 100

    def weights(self, n_i: int, n_c: int) -> tuple[Tensor, Tensor]:
        f = 1 / (1 + torch.exp(-self.gamma * (self.pos_neg - self.mu)))
        neg_w = torch.cat([f, torch.ones(1, dtype=torch.float64)])
        pos_w = 1 + self.alpha * (1 - neg_w)
        return pos_w.view(1, -1).expand(n_i, n_c), neg_w.view(1, -1).expand(n_i, n_c)

    def loss_and_stats(
        self,
        cls_score: Tensor,
        label: Tensor,
        reduction: str = "mean",
        avg_factor: float | None = None,
    ) -> tuple[Tensor, Tensor, Tensor]:
        n_i, n_c = cls_score.shape
        target = cls_score.new_zeros(n_i, n_c)
        target[torch.arange(n_i), label] = 1
        pos_w, neg_w = self.weights(n_i, n_c)
        weight = pos_w * target + neg_w * (1 - target)
        loss = TF.binary_cross_entropy_with_logits(cls_score, target, reduction="none")
        loss = _rows_reduce(loss * weight, reduction, avg_factor)
        prob = torch.sigmoid(cls_score.detach())
        grad = torch.abs(target * (prob - 1) + (1 - target) * prob)
        pos = torch.sum(grad * target * weight, dim=0)[:-1]
        neg = torch.sum(grad * (1 - target) * weight, dim=0)[:-1]
        return loss, pos, neg

    def accumulate(self, pos: Tensor, neg: Tensor) -> None:
        self.pos_grad += pos
        self.neg_grad += neg
        self.pos_neg = self.pos_grad / (self.neg_grad + 1e-10)

    def __call__(
        self,
        cls_score: Tensor,
        label: Tensor,
        reduction: str = "mean",
        avg_factor: float | None = None,
        update: bool = True,
    ) -> Tensor:
        """One step: the loss with the weights of the current state, then (``update``) the
        accumulation of this batch's statistics."""
        loss, pos, neg = self.loss_and_stats(cls_score, label, reduction, avg_factor)
        if update:
            self.accumulate(pos, neg)
        return loss


def seesaw_ce(
    cls_score: Tensor,
    labels: Tensor,
    label_weights: Tensor | None,
    cum_samples: Tensor,
    p: float,
    q: float,
    eps: float,
    reduction: str = "mean",
    avg_factor: float | None = None,
) -> Tensor:
    """mmdetection's ``seesaw_ce_loss`` (C logits, labels in [0, C))."""
    num_classes = cls_score.shape[1]
    onehot = TF.one_hot(labels, num_classes)
    seesaw_weights = cls_score.new_ones(onehot.size())
    if p > 0:
        ratio = cum_samples[None, :].clamp(min=1) / cum_samples[:, None].clamp(min=1)
        index = (ratio < 1.0).double()
        sample_weights = ratio.pow(p) * index + (1 - index)
        seesaw_weights = seesaw_weights * sample_weights[labels.long(), :]
    if q > 0:
        scores = TF.softmax(cls_score.detach(), dim=1)
        self_scores = scores[torch.arange(len(scores)), labels.long()]
        score_matrix = scores / self_scores[:, None].clamp(min=eps)
        index = (score_matrix > 1.0).double()
        seesaw_weights = seesaw_weights * (score_matrix.pow(q) * index + (1 - index))
    cls_score = cls_score + seesaw_weights.log() * (1 - onehot)
    loss = TF.cross_entropy(cls_score, labels, reduction="none")
    return weight_reduce(loss, label_weights, reduction, avg_factor)


class Seesaw:
    """mmdetection's ``SeesawLoss`` (C+2 channels: classes + objectness), CPU, float64 state,
    with the counting loop over unique labels replaced by a bincount."""

    def __init__(self, num_classes: int, p: float = 0.8, q: float = 2.0, eps: float = 1e-2):
        self.num_classes, self.p, self.q, self.eps = num_classes, p, q, eps
        self.cum_samples = torch.zeros(num_classes + 1, dtype=torch.float64)

    def count(self, labels: Tensor) -> None:
        self.cum_samples += torch.bincount(labels, minlength=self.num_classes + 1).double()

    def __call__(
        self,
        cls_score: Tensor,
        labels: Tensor,
        label_weights: Tensor | None = None,
        avg_factor: float | None = None,
        reduction: str = "mean",
        update: bool = True,
    ) -> dict[str, Tensor]:
        """One step: (``update``) this batch's labels counted first, as mmdetection does, then
        the two terms."""
        c = self.num_classes
        assert cls_score.shape[-1] == c + 2
        pos = labels < c
        obj_labels = (labels == c).long()
        if update:
            self.count(labels)
        if label_weights is None:
            label_weights = torch.ones(labels.shape, dtype=torch.float64)
        classes, objectness = cls_score[..., :-2], cls_score[..., -2:]
        if pos.sum() > 0:
            loss_classes = seesaw_ce(
                classes[pos],
                labels[pos],
                label_weights[pos],
                self.cum_samples[:c],
                self.p,
                self.q,
                self.eps,
                reduction,
                avg_factor,
            )
        else:
            loss_classes = classes[pos].sum()
        loss_obj = weight_reduce(
            TF.cross_entropy(objectness, obj_labels, reduction="none"),
            label_weights,
            reduction,
            avg_factor,
        )
        return {"loss_cls_classes": loss_classes, "loss_cls_objectness": loss_obj}


class SeesawClassification:
    """Seesaw over C logits (labels in ``[0, C)``, no objectness): mmdetection's
    ``seesaw_ce_loss`` with the cumulative counts kept as its ``SeesawLoss`` keeps them (this
    batch's labels counted before its loss), float64 state."""

    def __init__(self, num_classes: int, p: float = 0.8, q: float = 2.0, eps: float = 1e-2):
        self.num_classes, self.p, self.q, self.eps = num_classes, p, q, eps
        self.cum_samples = torch.zeros(num_classes, dtype=torch.float64)

    def __call__(
        self,
        cls_score: Tensor,
        labels: Tensor,
        label_weights: Tensor | None = None,
        avg_factor: float | None = None,
        reduction: str = "mean",
        update: bool = True,
    ) -> Tensor:
        if update:
            self.cum_samples += torch.bincount(labels, minlength=self.num_classes).double()
        return seesaw_ce(
            cls_score,
            labels,
            label_weights,
            self.cum_samples,
            self.p,
            self.q,
            self.eps,
            reduction,
            avg_factor,
        )


def seesaw_analytic_grad(
    cls_score: Tensor, labels: Tensor, cum_samples: Tensor, p: float, q: float, eps: float
) -> Tensor:
    """Seesaw's gradient, ``(softmax(z + log S ⊙ (1-onehot)) − onehot) / N`` with ``S`` constant
    (mmdetection detaches it), written directly."""
    n, c = cls_score.shape
    z = cls_score.detach()
    onehot = TF.one_hot(labels, c).double()
    counts = cum_samples.clamp(min=1)
    ny = counts[labels][:, None]
    m = torch.where(
        counts[None, :] < ny, (counts[None, :] / ny) ** p, torch.ones(n, c, dtype=z.dtype)
    )
    sigma = z.softmax(1)
    sy = sigma.gather(1, labels[:, None]).clamp(min=eps)
    comp = torch.where(sigma > sy, (sigma / sy) ** q, torch.ones_like(sigma))
    if p == 0:
        m = torch.ones_like(m)
    if q == 0:
        comp = torch.ones_like(comp)
    u = z + torch.log(m * comp) * (1 - onehot)
    return (u.softmax(1) - onehot) / n


def bags_groups(class_counts: list[int], bin_split=(10, 100, 1000)) -> list[list[int]]:
    """Class ids per group (fg groups by instance-count bin, then the background group)."""
    c = len(class_counts)
    groups: list[list[int]] = [[] for _ in range(len(bin_split) + 2)]
    for k, n in enumerate(class_counts):
        groups[bisect.bisect_right(bin_split, n)].append(k)
    groups[-1].append(c)
    return groups


def group_softmax(
    cls_score: Tensor,
    labels: Tensor,
    groups: list[list[int]],
    keep: Tensor,
    reduction: str = "mean",
) -> Tensor:
    """tztztztztz/eqlv2 ``GroupSoftmax.forward`` with the "others" sample mask given:
    ``keep`` is ``(N, G)`` (the background group keeps everything). ``"mean"`` is the official
    loss (each group's kept CE over ``max(#kept, 1)``); ``"sum"`` and ``"none"`` (per row)
    drop the normalisers."""
    loss = cls_score.new_zeros(()) if reduction != "none" else cls_score.new_zeros(len(labels))
    start = 0
    for g, cls_ids in enumerate(groups):
        pred = cls_score[:, start : start + len(cls_ids) + 1]
        start += len(cls_ids) + 1
        mapping = torch.zeros(
            max(max(cls_ids, default=0), int(labels.max()) if len(labels) else 0) + 2,
            dtype=torch.long,
        )
        for pos, k in enumerate(cls_ids):
            mapping[k] = pos + 1
        lab = mapping[labels]
        w = keep[:, g].double()
        ce = TF.cross_entropy(pred, lab, reduction="none")
        if reduction == "none":
            loss = loss + ce * w
        elif reduction == "sum":
            loss = loss + torch.sum(ce * w)
        else:
            loss = loss + torch.sum(ce * w) / max(w.sum().item(), 1.0)
    return loss


def group_softmax_scores(cls_score: Tensor, groups: list[list[int]]) -> Tensor:
    """``GroupSoftmax.get_activation``: (N, C+1) scores."""
    n = cls_score.shape[0]
    c = sum(len(g) for g in groups) - 1
    out = cls_score.new_zeros(n, c + 1)
    start = 0
    probs = []
    for cls_ids in groups:
        probs.append(cls_score[:, start : start + len(cls_ids) + 1].softmax(1))
        start += len(cls_ids) + 1
    for g, cls_ids in enumerate(groups[:-1]):
        out[:, cls_ids] = probs[g][:, 1:]
    out *= probs[-1][:, [0]]
    out[:, -1] = probs[-1][:, 1]
    return out
