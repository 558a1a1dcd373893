"""CPU benchmark of the detection losses: forward + backward in float32.

For each loss and shape it times longtail's fused kernel against
* PyTorch's own ``F.cross_entropy`` (softmax losses) or ``F.binary_cross_entropy_with_logits``
  (sigmoid losses) — the floor a user compares with, and
* the plain-PyTorch op chain as the official code writes it (mmdetection's Seesaw, the eqlv2
  repository's EQLv2 and EQL, mmdetection's ``py_sigmoid_focal_loss``), adapted to CPU: the
  ``.cuda()`` calls are dropped, ``dist.all_reduce`` is a no-op, the rest is verbatim in spirit.

Times are medians of ``--repeats`` runs after a warm-up (the first-call cost is excluded).
Peak extra memory is measured in a fresh subprocess per (implementation, shape): the rise of
the process's peak RSS during one forward + backward over the RSS right before it, so every
allocation counts (PyTorch's, and the kernels' own), including the ``(N, C)`` gradient of the
input that every implementation must produce.

Run: ``python benches/python/bench_detection_losses.py`` (with a release build of longtail).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time

import longtail
import torch
import torch.nn.functional as TF
from longtail import functional as LF

SHAPES = [(8192, 1204), (1024, 1000), (256, 100)]


# ---- the official op chains, written out (adapted to CPU) ------------------------------------


class MMDetSeesaw:
    """mmdetection ``SeesawLoss`` (use_sigmoid=False, C+2 channels) and ``seesaw_ce_loss``."""

    def __init__(self, num_classes, p=0.8, q=2.0, eps=1e-2):
        self.num_classes, self.p, self.q, self.eps = num_classes, p, q, eps
        self.cum_samples = torch.zeros(num_classes + 1, dtype=torch.float)

    def seesaw_ce_loss(self, cls_score, labels, label_weights, cum_samples, avg_factor):
        onehot_labels = TF.one_hot(labels, self.num_classes)
        seesaw_weights = cls_score.new_ones(onehot_labels.size())
        if self.p > 0:
            sample_ratio_matrix = cum_samples[None, :].clamp(min=1) / cum_samples[:, None].clamp(
                min=1
            )
            index = (sample_ratio_matrix < 1.0).float()
            sample_weights = sample_ratio_matrix.pow(self.p) * index + (1 - index)
            mitigation_factor = sample_weights[labels.long(), :]
            seesaw_weights = seesaw_weights * mitigation_factor
        if self.q > 0:
            scores = TF.softmax(cls_score.detach(), dim=1)
            self_scores = scores[torch.arange(0, len(scores)).long(), labels.long()]
            score_matrix = scores / self_scores[:, None].clamp(min=self.eps)
            index = (score_matrix > 1.0).float()
            compensation_factor = score_matrix.pow(self.q) * index + (1 - index)
            seesaw_weights = seesaw_weights * compensation_factor
        cls_score = cls_score + (seesaw_weights.log() * (1 - onehot_labels))
        loss = TF.cross_entropy(cls_score, labels, weight=None, reduction="none")
        return (loss * label_weights).sum() / avg_factor

    def __call__(self, cls_score, labels, avg_factor):
        pos_inds = labels < self.num_classes
        obj_labels = (labels == self.num_classes).long()
        for u_l in labels.unique():
            inds_ = labels == u_l.item()
            self.cum_samples[u_l] += inds_.sum()
        label_weights = labels.new_ones(labels.size(), dtype=torch.float)
        cls_score_classes = cls_score[..., :-2]
        cls_score_objectness = cls_score[..., -2:]
        loss_classes = self.seesaw_ce_loss(
            cls_score_classes[pos_inds],
            labels[pos_inds],
            label_weights[pos_inds],
            self.cum_samples[: self.num_classes],
            avg_factor,
        )
        loss_obj = (
            TF.cross_entropy(cls_score_objectness, obj_labels, reduction="none") * label_weights
        ).sum() / avg_factor
        return loss_classes + loss_obj


class OfficialEQLv2:
    """tztztztztz/eqlv2 ``EQLv2`` (``dist.all_reduce`` is a no-op on one process)."""

    def __init__(self, num_classes, gamma=12, mu=0.8, alpha=4.0):
        self.gamma, self.mu, self.alpha = gamma, mu, alpha
        self._pos_grad = torch.zeros(num_classes)
        self._neg_grad = torch.zeros(num_classes)
        self.pos_neg = torch.ones(num_classes) * 100

    def map_func(self, x):
        return 1 / (1 + torch.exp(-self.gamma * (x - self.mu)))

    def __call__(self, cls_score, label):
        n_i, n_c = cls_score.size()
        target = cls_score.new_zeros(n_i, n_c)
        target[torch.arange(n_i), label] = 1
        neg_w = torch.cat([self.map_func(self.pos_neg), cls_score.new_ones(1)])
        pos_w = 1 + self.alpha * (1 - neg_w)
        neg_w = neg_w.view(1, -1).expand(n_i, n_c)
        pos_w = pos_w.view(1, -1).expand(n_i, n_c)
        weight = pos_w * target + neg_w * (1 - target)
        cls_loss = TF.binary_cross_entropy_with_logits(cls_score, target, reduction="none")
        cls_loss = torch.sum(cls_loss * weight) / n_i
        # collect_grad
        score, tgt, w = cls_score.detach(), target.detach(), weight.detach()
        prob = torch.sigmoid(score)
        grad = torch.abs(tgt * (prob - 1) + (1 - tgt) * prob)
        self._pos_grad += torch.sum(grad * tgt * w, dim=0)[:-1]
        self._neg_grad += torch.sum(grad * (1 - tgt) * w, dim=0)[:-1]
        self.pos_neg = self._pos_grad / (self._neg_grad + 1e-10)
        return cls_loss


def official_eql(cls_score, label, freq, lambda_=0.00177):
    """tztztztztz/eqlv2 ``EQL.forward``."""
    n_i, n_c = cls_score.size()
    target = cls_score.new_zeros(n_i, n_c + 1)
    target[torch.arange(n_i), label] = 1
    target = target[:, :n_c]
    exclude = (label != n_c).float().view(n_i, 1).expand(n_i, n_c)
    threshold = cls_score.new_zeros(n_c)
    threshold[freq < lambda_] = 1
    threshold = threshold.view(1, n_c).expand(n_i, n_c)
    eql_w = 1 - exclude * threshold * (1 - target)
    cls_loss = TF.binary_cross_entropy_with_logits(cls_score, target, reduction="none")
    return torch.sum(cls_loss * eql_w) / n_i


def mmdet_sigmoid_focal(pred, label, gamma=2.0, alpha=0.25, avg_factor=None):
    """mmdetection ``py_sigmoid_focal_loss`` (after the head's one-hot of labels)."""
    num_classes = pred.size(1)
    target = TF.one_hot(label, num_classes=num_classes + 1)[:, :num_classes].type_as(pred)
    pred_sigmoid = pred.sigmoid()
    pt = (1 - pred_sigmoid) * target + pred_sigmoid * (1 - target)
    focal_weight = (alpha * target + (1 - alpha) * (1 - target)) * pt.pow(gamma)
    loss = TF.binary_cross_entropy_with_logits(pred, target, reduction="none") * focal_weight
    return loss.sum() / avg_factor


# ---- the cases ------------------------------------------------------------------------------


def make_case(loss: str, impl: str, n: int, k: int, seed: int = 0):
    """Returns ``(inputs, step)``: ``step(x)`` returns the scalar loss for logits x."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, k, generator=g)
    if loss == "seesaw":
        c = k - 2  # C class logits + 2 objectness logits
        y = torch.randint(0, c + 1, (n,), generator=g)
        y[torch.rand(n, generator=g) < 0.75] = c  # detection: mostly background
        avg = float(n)
        if impl == "longtail":
            m = longtail.SeesawLoss(c, mode="objectness")
            return x, lambda z: m(z, y, avg_factor=avg)
        if impl == "official":
            m = MMDetSeesaw(c)
            return x, lambda z: m(z, y, avg)
        yc = torch.where(y < c, y, torch.zeros_like(y))
        return x, lambda z: TF.cross_entropy(z, yc)
    if loss == "eqlv2":
        c = k - 1
        y = torch.randint(0, c + 1, (n,), generator=g)
        y[torch.rand(n, generator=g) < 0.75] = c
        if impl == "longtail":
            m = longtail.EQLv2Loss(c)
            return x, lambda z: m(z, y)
        if impl == "official":
            m = OfficialEQLv2(c)
            return x, lambda z: m(z, y)
        t = TF.one_hot(y, k).float()
        return x, lambda z: TF.binary_cross_entropy_with_logits(z, t)
    if loss == "eql":
        y = torch.randint(0, k + 1, (n,), generator=g)
        freq = torch.rand(k, generator=g) * 0.004
        if impl == "longtail":
            m = longtail.EqualizationLoss(freq)
            return x, lambda z: m(z, y)
        if impl == "official":
            return x, lambda z: official_eql(z, y, freq)
        t = TF.one_hot(y, k + 1)[:, :k].float()
        return x, lambda z: TF.binary_cross_entropy_with_logits(z, t)
    if loss == "sigmoid_focal":
        y = torch.randint(0, k + 1, (n,), generator=g)
        if impl == "longtail":
            return x, lambda z: LF.sigmoid_focal_loss(z, y, avg_factor=100.0)
        if impl == "official":
            return x, lambda z: mmdet_sigmoid_focal(z, y, avg_factor=100.0)
        t = TF.one_hot(y, k + 1)[:, :k].float()
        return x, lambda z: TF.binary_cross_entropy_with_logits(z, t)
    raise ValueError(loss)


def fwd_bwd(step, x):
    z = x.detach().requires_grad_()
    step(z).backward()
    return z.grad


def time_cases(loss, impls, n, k, repeats):
    """Median seconds per implementation; the implementations take turns within each repeat, so
    that load from other processes hits them alike."""
    cases = {impl: make_case(loss, impl, n, k) for impl in impls}
    for x, step in cases.values():
        for _ in range(2):
            fwd_bwd(step, x)
    times = {impl: [] for impl in impls}
    calls = max(1, 2_000_000 // (n * k))  # small shapes: time a loop, not one ~0.1 ms call
    for _ in range(repeats):
        for impl, (x, step) in cases.items():
            t0 = time.perf_counter()
            for _ in range(calls):
                fwd_bwd(step, x)
            times[impl].append((time.perf_counter() - t0) / calls)
    return {impl: statistics.median(v) for impl, v in times.items()}


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


def _peak_rss_bytes() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def memory_case(loss, impl, n, k) -> int:
    """Peak RSS rise (bytes) of one forward + backward, in this (fresh) process."""
    # Warm up on a small batch first: lazy initialisation (thread pools, dispatch tables) is
    # not the loss's memory.
    xs, small = make_case(loss, impl, 64, k)
    fwd_bwd(small, xs)
    x, step = make_case(loss, impl, n, k)
    before = _rss_bytes()
    # Reset the peak-RSS mark (Linux >= 4.0), so that only this call's peak is read.
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    fwd_bwd(step, x)
    return max(_peak_rss_bytes() - before, 0)


def memory_in_subprocess(loss, impl, n, k) -> int:
    out = subprocess.run(
        [sys.executable, __file__, "--memory", loss, impl, str(n), str(k)],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(json.loads(out.stdout.strip().splitlines()[-1])["bytes"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument(
        "--memory", nargs=4, metavar=("LOSS", "IMPL", "N", "K"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.memory:
        loss, impl, n, k = args.memory
        print(json.dumps({"bytes": memory_case(loss, impl, int(n), int(k))}))
        return
    print(
        f"torch {torch.__version__}, longtail {longtail.__version__}, "
        f"{torch.get_num_threads()} threads, float32, CPU, forward+backward, "
        f"median of {args.repeats}"
    )
    header = (
        f"{'loss':<14}{'N x K':>13}{'longtail ms':>13}{'torch ms':>10}{'official ms':>13}"
        f"{'vs torch':>10}{'speedup':>9}{'mem lt':>9}{'mem torch':>10}{'mem off':>9}"
    )
    print(header)
    print("-" * len(header))
    for loss in ("seesaw", "eqlv2", "eql", "sigmoid_focal"):
        for n, k in SHAPES:
            t = time_cases(loss, ("longtail", "torch", "official"), n, k, args.repeats)
            buf = n * k * 4
            mem = {
                impl: memory_in_subprocess(loss, impl, n, k) / buf
                for impl in ("longtail", "torch", "official")
            }
            print(
                f"{loss:<14}{f'{n}x{k}':>13}{t['longtail'] * 1e3:>13.3f}"
                f"{t['torch'] * 1e3:>10.3f}{t['official'] * 1e3:>13.3f}"
                f"{t['longtail'] / t['torch']:>9.2f}x{t['official'] / t['longtail']:>8.1f}x"
                f"{mem['longtail']:>9.2f}{mem['torch']:>10.2f}{mem['official']:>9.2f}"
            )
    print(
        "\nvs torch: longtail time / F.cross_entropy (Seesaw) or F.binary_cross_entropy_with_"
        "logits time (target <= 0.75x).\nspeedup: official op chain time / longtail time "
        "(target >= 10x at 8192x1204).\nmem: peak extra RSS during forward+backward in (N, K) "
        "float32 buffers, the input's gradient included (target <= 1 + O(C))."
    )


if __name__ == "__main__":
    main()
