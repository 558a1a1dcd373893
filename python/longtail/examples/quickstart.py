"""A few seconds of training on a long-tailed toy problem, with plain cross-entropy and with
longtail's losses, printing the training loss and the per-class accuracy on a balanced test set.

Run: ``python -m longtail.examples.quickstart``.
"""

from __future__ import annotations

import argparse

import torch
from torch import nn

import longtail


def make_data(
    num_classes: int, n_max: int, imbalance: float, per_class_test: int, generator: torch.Generator
) -> tuple:
    """Gaussian blobs in 2-D with exponentially decaying class sizes (class 0 is the head)."""
    angles = torch.arange(num_classes) * (2 * torch.pi / num_classes)
    centers = torch.stack([angles.cos(), angles.sin()], 1) * 2.0
    counts = [int(n_max * (1 / imbalance) ** (i / (num_classes - 1))) for i in range(num_classes)]

    def sample(sizes):
        labels = torch.cat([torch.full((n,), c) for c, n in enumerate(sizes)])
        x = centers[labels] + torch.randn(len(labels), 2, generator=generator)
        return x, labels

    return sample(counts), sample([per_class_test] * num_classes), counts


def train(loss_fn: nn.Module, data, num_classes: int, steps: int, seed: int) -> tuple:
    (x, y), _, _ = data
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(2, 64), nn.ReLU(), nn.Linear(64, num_classes))
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    g = torch.Generator().manual_seed(seed)
    losses = []
    for _ in range(steps):
        idx = torch.randint(0, len(y), (256,), generator=g)
        loss = loss_fn(model(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return model, losses


@torch.no_grad()
def per_class_accuracy(model: nn.Module, data, num_classes: int) -> torch.Tensor:
    _, (xt, yt), _ = data
    pred = model(xt).argmax(1)
    return torch.stack([(pred[yt == c] == c).float().mean() for c in range(num_classes)])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    num_classes = 10
    data = make_data(
        num_classes,
        n_max=2000,
        imbalance=100.0,
        per_class_test=200,
        generator=torch.Generator().manual_seed(args.seed),
    )
    counts = data[2]
    print(f"training set: {sum(counts)} samples, class counts {counts} (imbalance 100)\n")
    methods = {
        "cross-entropy": nn.CrossEntropyLoss(),
        "balanced softmax": longtail.BalancedSoftmaxLoss(counts),
        "logit adjusted": longtail.LogitAdjustedLoss(counts, tau=1.0),
        "LDAM": longtail.LDAMLoss(counts, max_margin=0.5, scale=10.0),
        "focal": longtail.FocalLoss(gamma=2.0),
        "class-balanced": longtail.ClassBalancedLoss(counts, beta=0.999),
    }
    print(
        f"{'method':<18}{'loss@1':>9}{'loss@end':>10}"
        f"{'head acc':>10}{'tail acc':>10}{'mean acc':>10}"
    )
    for name, loss_fn in methods.items():
        model, losses = train(loss_fn, data, num_classes, args.steps, args.seed)
        acc = per_class_accuracy(model, data, num_classes)
        head, tail = acc[: num_classes // 2].mean(), acc[num_classes // 2 :].mean()
        print(
            f"{name:<18}{losses[0]:>9.4f}{losses[-1]:>10.4f}{head:>10.3f}{tail:>10.3f}"
            f"{acc.mean():>10.3f}"
        )


if __name__ == "__main__":
    main()
