"""A small synthetic long-tailed problem shared by the recipe tests, with fixed seeds.

Ten Gaussian classes in 16 dimensions with counts 200 … 4 (imbalance 50); the test and
validation sets are balanced. Everything is a function of explicit seeds: data come from
NumPy ``default_rng`` and model initialisation from an explicit ``torch.manual_seed``."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

NUM_CLASSES = 10
IN_DIM = 16
FEAT_DIM = 32


def class_counts(n_max: int = 200, imbalance: float = 50.0) -> list[int]:
    return [int(n_max * imbalance ** (-c / (NUM_CLASSES - 1))) for c in range(NUM_CLASSES)]


def _means(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    means = rng.standard_normal((NUM_CLASSES, IN_DIM))
    return 2.2 * means / np.linalg.norm(means, axis=1, keepdims=True)


def sample(counts: list[int], seed: int, means_seed: int = 0) -> tuple[Tensor, Tensor]:
    rng = np.random.default_rng(seed)
    means = _means(means_seed)
    x = np.concatenate([means[c] + rng.standard_normal((n, IN_DIM)) for c, n in enumerate(counts)])
    y = np.concatenate([np.full(n, c) for c, n in enumerate(counts)])
    perm = rng.permutation(len(y))
    return torch.tensor(x[perm], dtype=torch.float32), torch.tensor(y[perm], dtype=torch.long)


def problem() -> dict[str, Tensor]:
    """Long-tailed train split, balanced validation (20/class) and test (100/class) splits."""
    x, y = sample(class_counts(), seed=1)
    vx, vy = sample([20] * NUM_CLASSES, seed=2)
    tx, ty = sample([100] * NUM_CLASSES, seed=3)
    return {"x": x, "y": y, "val_x": vx, "val_y": vy, "test_x": tx, "test_y": ty}


class Net(nn.Module):
    """A two-layer MLP backbone and a linear classifier ``fc``."""

    def __init__(self) -> None:
        super().__init__()
        self.backbone = nn.Sequential(
            nn.Linear(IN_DIM, 64), nn.ReLU(), nn.Linear(64, FEAT_DIM), nn.ReLU()
        )
        self.fc = nn.Linear(FEAT_DIM, NUM_CLASSES)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.backbone(x))


def balanced_accuracy(logits: Tensor, labels: Tensor) -> float:
    """Mean per-class recall, written out independently of the package."""
    pred = logits.argmax(dim=1)
    recalls = [(pred[labels == c] == c).double().mean().item() for c in labels.unique()]
    return float(np.mean(recalls))


def train(module: nn.Module, params, batches, loss_fn, epochs: int, lr: float) -> None:
    """Plain SGD with momentum over ``batches(epoch)``, an iterable of (x, y) per epoch."""
    optimizer = torch.optim.SGD(params, lr=lr, momentum=0.9)
    for epoch in range(epochs):
        for x, y in batches(epoch):
            optimizer.zero_grad()
            loss_fn(module(x), y).backward()
            optimizer.step()


def shuffled_batches(x: Tensor, y: Tensor, batch_size: int, seed: int):
    """Instance-balanced mini-batches from an explicit generator."""

    def batches(epoch: int):
        g = torch.Generator().manual_seed(seed * 1000 + epoch)
        perm = torch.randperm(len(y), generator=g)
        for lo in range(0, len(y), batch_size):
            idx = perm[lo : lo + batch_size]
            yield x[idx], y[idx]

    return batches


def stage1(data: dict[str, Tensor]) -> Net:
    """The plain-CE, instance-balanced baseline (stage 1 of decoupling)."""
    torch.manual_seed(0)
    model = Net()
    train(
        model,
        model.parameters(),
        shuffled_batches(data["x"], data["y"], 64, seed=0),
        F.cross_entropy,
        epochs=40,
        lr=0.05,
    )
    return model
