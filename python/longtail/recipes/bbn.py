r"""BBN: Bilateral-Branch Network with cumulative learning (Zhou et al. CVPR 2020; official code
Megvii-Nanjing/BBN), also importable as :mod:`longtail.bbn`.

Two branches share the backbone except its last block. The *conventional* branch sees
ordinary (uniformly shuffled) samples, the *reversed* branch samples drawn with
:class:`longtail.samplers.ReversedSampler`'s law :math:`p_j \propto n_{max} / n_j`. Their
features are mixed by the cumulative-learning weight :math:`\alpha` (:func:`cumulative_alpha`),
which decays from 1 to 0 over training, and classified by one linear layer over the
concatenation (:class:`BBNClassifier`); the loss mixes the two targets with the same weight
(:func:`bbn_loss`).

Data: :class:`BilateralSampler` yields, for each conventional index, one reversed partner,
and :class:`BilateralDataset` turns such a pair into both samples, so every DataLoader batch
carries both branches::

    sampler = BilateralSampler(train_labels, seed=0)
    loader = DataLoader(BilateralDataset(train_set), batch_size=128, sampler=sampler)
    classifier = BBNClassifier(2 * 64, num_classes)          # over [f_c ; f_r]
    for epoch in range(1, total_epochs + 1):                  # BBN counts epochs from 1
        sampler.set_epoch(epoch - 1)
        alpha = cumulative_alpha(epoch, total_epochs)
        for (x_c, y_c), (x_r, y_r) in loader:
            f_c, f_r = backbone(x_c, branch="conventional"), backbone(x_r, branch="reversed")
            logits = classifier(f_c, f_r, alpha)
            loss = bbn_loss(logits, y_c, y_r, alpha)
            ...
    # inference: both branches see the same input; alpha = 0.5 is the official [f_c ; f_r]
    logits = classifier(backbone(x, branch="conventional"), backbone(x, branch="reversed"))
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import Dataset

from longtail._validation import ArrayLike, check_int, check_real, check_reduction
from longtail.samplers._base import _LabelSampler
from longtail.samplers.class_weighted import ReversedSampler
from longtail.samplers.weighted import WeightedSampler

__all__ = [
    "BBNClassifier",
    "BilateralDataset",
    "BilateralSampler",
    "bbn_loss",
    "bbn_mix",
    "cumulative_alpha",
]


def _check_alpha(alpha: float) -> float:
    alpha = check_real("alpha", alpha, allow_inf=True)
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha should be in [0, 1], but got alpha={alpha}")
    return alpha


def cumulative_alpha(epoch: int, total_epochs: int) -> float:
    r"""BBN's cumulative-learning weight of the conventional branch, a parabolic decay:

    .. math:: \alpha = 1 - \left(\frac{e - 1}{D}\right)^2

    with ``e`` the **1-based** epoch and ``D = total_epochs`` — **except** for
    ``total_epochs ∈ {90, 180}``, where the official ``Combiner`` uses
    ``D = 100·(total_epochs // 100 + 1)``, i.e. 100 and 200. With that quirk α never reaches
    0 in those two schedules (α = 0.2079 at epoch 90 of 90, 0.1990 at epoch 180 of 180); for
    every other length the last epoch has α = 1 − ((E − 1)/E)², close to 0.

    Args:
        epoch: the current epoch, from 1 to ``total_epochs``.
        total_epochs: ``MAX_EPOCH`` of the run.

    Example::

        >>> cumulative_alpha(1, 200), cumulative_alpha(101, 200)
        (1.0, 0.75)
        >>> cumulative_alpha(91, 180)   # D = 200 for the 180-epoch schedule
        0.7975
    """
    total_epochs = check_int("total_epochs", total_epochs, low=1)
    epoch = check_int("epoch", epoch, low=1)
    if epoch > total_epochs:
        raise ValueError(
            f"epoch should be in [1, total_epochs={total_epochs}] (BBN counts epochs from 1), "
            f"but got epoch={epoch}"
        )
    div = 100 * (total_epochs // 100 + 1) if total_epochs in (90, 180) else total_epochs
    return 1.0 - ((epoch - 1) / div) ** 2


def bbn_mix(conventional: Tensor, reversed: Tensor, alpha: float = 0.5) -> Tensor:
    r"""The mixed feature fed to BBN's classifier: :math:`2\,[\alpha f_c ;\ (1-\alpha) f_r]`
    (concatenated along dim 1). ``alpha = 0.5`` gives ``[f_c ; f_r]``, the inference input.

    Shape:
        ``conventional`` and ``reversed`` ``(N, d)``; output ``(N, 2d)``.
    """
    alpha = _check_alpha(alpha)
    if not isinstance(conventional, Tensor) or not isinstance(reversed, Tensor):
        raise TypeError("conventional and reversed should be torch.Tensor features")
    if conventional.dim() != 2 or conventional.shape != reversed.shape:
        raise ValueError(
            "conventional and reversed should be (N, d) features of the same shape, but got "
            f"shapes {tuple(conventional.shape)} and {tuple(reversed.shape)}"
        )
    return 2 * torch.cat((alpha * conventional, (1 - alpha) * reversed), dim=1)


class BBNClassifier(nn.Module):
    r"""BBN's classifier: one linear layer over the mixed features of the two branches,

    .. math:: z = W \cdot 2\,[\alpha f_c ;\ (1-\alpha) f_r] + b

    including the official factor 2 (``Combiner.bbn_mix``), so that inference, which feeds
    ``[f_c ; f_r]``, is the ``alpha = 0.5`` case (the default).

    Args:
        in_features: size of the concatenated feature, ``2·d`` for branch features of size
            ``d`` (the BBN config's ``num_features``).
        num_classes: number of classes.
        bias: learn a bias (the official default).

    Shape:
        ``conventional``, ``reversed``: ``(N, in_features / 2)``; output ``(N, num_classes)``.

    Example::

        >>> clf = BBNClassifier(2 * 64, 10)
        >>> f_c, f_r = torch.randn(8, 64), torch.randn(8, 64)
        >>> alpha = cumulative_alpha(epoch=50, total_epochs=200)
        >>> y_c, y_r = torch.randint(10, (8,)), torch.randint(10, (8,))
        >>> bbn_loss(clf(f_c, f_r, alpha), y_c, y_r, alpha).backward()
    """

    def __init__(
        self,
        in_features: int,
        num_classes: int,
        bias: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        in_features = check_int("in_features", in_features, low=2)
        if in_features % 2:
            raise ValueError(
                "in_features should be even (the concatenation of two branch features), but "
                f"got in_features={in_features}"
            )
        num_classes = check_int("num_classes", num_classes, low=1)
        self.fc = nn.Linear(in_features, num_classes, bias=bias, device=device, dtype=dtype)

    @property
    def in_features(self) -> int:
        return self.fc.in_features

    @property
    def num_classes(self) -> int:
        return self.fc.out_features

    def forward(self, conventional: Tensor, reversed: Tensor, alpha: float = 0.5) -> Tensor:
        mixed = bbn_mix(conventional, reversed, alpha)
        if mixed.shape[1] != self.fc.in_features:
            raise ValueError(
                f"conventional and reversed should have {self.fc.in_features // 2} features "
                f"each, but got {conventional.shape[1]}"
            )
        return self.fc(mixed)


def bbn_loss(
    input: Tensor,
    conventional_target: Tensor,
    reversed_target: Tensor,
    alpha: float,
    *,
    weight: Tensor | None = None,
    reduction: str = "mean",
) -> Tensor:
    r"""BBN's mixed loss on the logits of :class:`BBNClassifier`:

    .. math:: \alpha\,\mathrm{CE}(z, y_c) + (1 - \alpha)\,\mathrm{CE}(z, y_r)

    Each CE is :func:`torch.nn.functional.cross_entropy` with ``weight`` and ``reduction``
    (``'mean'`` is torch's weighted mean, as in the official code; pass
    ``DeferredReweighting(...)(epoch - 1)`` for BBN's DRW variant).

    Args:
        input: ``(N, C)`` logits.
        conventional_target, reversed_target: ``(N,)`` labels of the two branches.
        alpha: the cumulative-learning weight (:func:`cumulative_alpha`).
        weight: optional per-class weights ``(C,)``.
        reduction: ``'mean'``, ``'sum'`` or ``'none'``.
    """
    alpha = _check_alpha(alpha)
    check_reduction(reduction)
    if not isinstance(input, Tensor) or input.dim() != 2:
        raise ValueError(
            "input should be (N, C) logits, but got "
            f"{tuple(input.shape) if isinstance(input, Tensor) else type(input)}"
        )
    for name, t in (
        ("conventional_target", conventional_target),
        ("reversed_target", reversed_target),
    ):
        if not isinstance(t, Tensor) or t.shape != (input.shape[0],):
            raise ValueError(
                f"{name} should have shape ({input.shape[0]},), but got {name} of shape "
                f"{tuple(t.shape) if isinstance(t, Tensor) else t!r}"
            )
    loss_c = F.cross_entropy(input, conventional_target, weight=weight, reduction=reduction)
    loss_r = F.cross_entropy(input, reversed_target, weight=weight, reduction=reduction)
    return alpha * loss_c + (1 - alpha) * loss_r


class BilateralSampler(_LabelSampler):
    r"""BBN's two samplers in one: each item is a pair ``[i, j]`` of dataset indices, ``i``
    from the conventional branch (a uniformly random permutation of the dataset, as BBN's
    ``shuffle=True`` loader) and ``j`` its reversed partner, drawn i.i.d. with
    :class:`~longtail.samplers.ReversedSampler`'s law (class ``∝ n_max / n_j``, then a
    uniform sample of it, with replacement). The epoch has ``N`` pairs: one reversed draw per
    conventional sample, as BBN's dataset returns both from ``__getitem__``.

    The partners of epoch ``e`` are exactly ``ReversedSampler(labels, seed=seed)``'s epoch
    ``e``. Use it with :class:`BilateralDataset`. Sharding, ``set_epoch``, resume and
    pickling are those of every longtail sampler.

    Args:
        labels: the class index of every sample.
        seed, num_replicas, rank, drop_last: as for :class:`~longtail.samplers.WeightedSampler`.

    Example::

        >>> sampler = BilateralSampler([0, 0, 0, 1], seed=0)
        >>> pairs = list(sampler)
        >>> len(pairs), sorted(i for i, _ in pairs)
        (4, [0, 1, 2, 3])
    """

    def __init__(
        self,
        labels: ArrayLike,
        *,
        seed: int = 0,
        num_replicas: int | None = None,
        rank: int | None = None,
        drop_last: bool = False,
    ) -> None:
        super().__init__(
            labels, seed=seed, num_replicas=num_replicas, rank=rank, drop_last=drop_last
        )
        n = self.dataset_size
        self._conventional = WeightedSampler(
            np.ones(n), n, replacement=False, seed=seed, num_replicas=1, rank=0
        )
        self._reversed = ReversedSampler(labels, seed=seed, num_replicas=1, rank=0)

    def class_probabilities(self) -> np.ndarray:
        """The reversed branch's class law over :attr:`classes`: ``∝ n_max / n_j``."""
        return self._reversed.class_probabilities()

    def _epoch_length(self, epoch: int) -> int:
        return self.dataset_size

    def _generate(self, epoch: int) -> np.ndarray:
        # (N, 2): column 0 the conventional permutation, column 1 the reversed partners.
        # Iteration hands out its rows as [i, j] lists.
        return np.stack(
            [self._conventional.epoch_indices(epoch), self._reversed.epoch_indices(epoch)], axis=1
        )


class BilateralDataset(Dataset):
    """Wraps a map-style dataset for :class:`BilateralSampler`: index ``[i, j]`` returns
    ``(dataset[i], dataset[j])``, the conventional sample and its reversed partner. With the
    default collate a batch of ``(x, y)`` samples arrives as ``((x_c, y_c), (x_r, y_r))``.

    Args:
        dataset: any map-style dataset.

    Example::

        >>> from torch.utils.data import DataLoader, TensorDataset
        >>> labels = torch.tensor([0, 0, 0, 1])
        >>> data = BilateralDataset(TensorDataset(torch.randn(4, 3), labels))
        >>> loader = DataLoader(data, batch_size=2, sampler=BilateralSampler(labels))
        >>> (x_c, y_c), (x_r, y_r) = next(iter(loader))
    """

    def __init__(self, dataset: Dataset) -> None:
        if not hasattr(dataset, "__getitem__"):
            raise TypeError(
                "dataset should be a map-style dataset (with __getitem__), but got dataset of "
                f"type {type(dataset).__name__}"
            )
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, index: Sequence[int]) -> tuple[Any, Any]:
        if (
            isinstance(index, (int, np.integer, str, bytes))
            or not isinstance(index, (Sequence, np.ndarray, Tensor))
            or len(index) != 2
        ):
            raise TypeError(
                "index should be a pair [conventional, reversed] as BilateralSampler yields, "
                f"but got index={index!r}"
            )
        i, j = (int(k) for k in index)
        return self.dataset[i], self.dataset[j]
