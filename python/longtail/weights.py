"""Per-class weights for re-weighting losses: inverse class frequency, cost-sensitive, the
effective number of Cui et al. ("Class-Balanced Loss Based on Effective Number of Samples",
CVPR 2019, arXiv:1901.05555; official code richardaecn/class-balanced-loss
``src/cifar_main.py``) and its deferred schedule, DRW (Cao et al., "Learning Imbalanced
Datasets with Label-Distribution-Aware Margin Loss", NeurIPS 2019, arXiv:1906.07413;
official code kaidic/LDAM-DRW ``cifar_train.py``).

Each function returns a float tensor (float32 unless ``dtype`` says otherwise) that works both
with longtail's losses and with ``torch.nn.CrossEntropyLoss(weight=...)``.

Zero-count classes: a class with no training sample never appears as a target, so its weight
does not enter the loss; every function here gives it weight 0 (instead of the infinity of
``1/0``), and normalisations run over all classes as written.
"""

from __future__ import annotations

import torch
from torch import Tensor

from longtail._validation import (
    Counts,
    as_class_counts,
    check_float_dtype,
    check_int,
    check_real,
)

__all__ = [
    "DeferredReweighting",
    "cost_sensitive",
    "drw",
    "effective_number",
    "inverse_frequency",
]


def _cast(weights: Tensor, dtype: torch.dtype) -> Tensor:
    """The weights in ``dtype``, refusing to round a finite weight to ``inf``."""
    out = weights.to(dtype)
    if not torch.isfinite(out).all():
        raise ValueError(
            f"dtype should hold the weights, but got dtype={dtype}, in which the largest weight "
            f"{weights.max().item():g} (from class_counts and the power/beta given) overflows"
        )
    return out


def _safe_inverse(numer: Tensor, counts: Tensor) -> Tensor:
    # Divide by 1 where the count is 0 (not by a clamped count: a clamp would distort a
    # genuinely tiny scaled count).
    positive = counts > 0
    return torch.where(positive, numer / torch.where(positive, counts, 1.0), 0.0)


def inverse_frequency(
    class_counts: Counts, power: float = 1.0, *, dtype: torch.dtype = torch.float32
) -> Tensor:
    """``w_c = (N / n_c)^power`` with ``N = Σ n``; ``power=0.5`` is the square-root variant."""
    counts = as_class_counts(class_counts)
    power = check_real("power", power, low=0.0)
    dtype = check_float_dtype("dtype", dtype)
    # N / n_c is scale-invariant: scale to max 1 first, so that Σ n cannot overflow.
    counts = counts / counts.max()
    w = _safe_inverse(counts.sum().expand_as(counts), counts)
    return _cast(torch.where(counts > 0, w.pow(power), w), dtype)


def cost_sensitive(class_counts: Counts, *, dtype: torch.dtype = torch.float32) -> Tensor:
    """``w_c = n_min / n_c`` with ``n_min`` the smallest non-zero count (cost-sensitive CE).

    Under ``F.cross_entropy``'s weighted mean this gives the same loss as
    :func:`inverse_frequency`; under a divide-by-N normalisation it differs by ``N / n_min``."""
    counts = as_class_counts(class_counts)
    dtype = check_float_dtype("dtype", dtype)
    n_min = counts[counts > 0].min()
    return _cast(_safe_inverse(n_min.expand_as(counts), counts), dtype)


def effective_number(
    class_counts: Counts, beta: float = 0.9999, *, dtype: torch.dtype = torch.float32
) -> Tensor:
    """Class-balanced weights of Cui et al.: ``(1-β)/(1-β^{n_c})``, normalised to sum to C.

    ``beta=0`` gives all ones, ``beta=1`` the limit ``1/n_c`` (normalised). Computed in float64
    as the official code does."""
    counts = as_class_counts(class_counts)
    beta = check_real("beta", beta, low=0.0, high=1.0)
    dtype = check_float_dtype("dtype", dtype)
    if beta == 1.0:
        raw = _safe_inverse(torch.ones_like(counts), counts)
    else:
        effective = 1.0 - torch.pow(torch.tensor(beta, dtype=torch.float64), counts)
        raw = torch.where(
            counts > 0, (1.0 - beta) / effective.clamp(min=1e-300), torch.zeros_like(counts)
        )
    return _cast(raw / raw.sum() * counts.numel(), dtype)


def drw(
    class_counts: Counts,
    epoch: int,
    start_epoch: int = 160,
    beta: float = 0.9999,
    *,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """Deferred re-weighting (LDAM-DRW): ones before ``start_epoch``, then
    :func:`effective_number` with ``beta``. ``epoch`` counts from 0, as in LDAM-DRW's
    ``cifar_train.py`` (``idx = epoch // 160``); BBN's copy counts from 1, so pass ``epoch - 1``
    there."""
    counts = as_class_counts(class_counts)
    epoch = check_int("epoch", epoch, low=0)
    start_epoch = check_int("start_epoch", start_epoch, low=0)
    beta = check_real("beta", beta, low=0.0, high=1.0)
    dtype = check_float_dtype("dtype", dtype)
    if epoch < start_epoch:
        return torch.ones(counts.numel(), dtype=dtype)
    return effective_number(counts, beta, dtype=dtype)


class DeferredReweighting:
    r"""The per-epoch class weights of deferred re-weighting (DRW; Cao et al. NeurIPS 2019,
    arXiv:1906.07413, kaidic/LDAM-DRW ``cifar_train.py``): all ones before ``start_epoch``, then the
    class-balanced weights :func:`effective_number` with ``beta`` (normalised to sum to C).

    .. math::
        w_c(e) = \begin{cases} 1 & e < e_0 \\
                 C \cdot \dfrac{(1-\beta)/(1-\beta^{n_c})}{\sum_k (1-\beta)/(1-\beta^{n_k})}
                 & e \ge e_0 \end{cases}

    Epochs count from 0, as in LDAM-DRW's ``cifar_train.py`` (``idx = epoch // 160`` over 200
    epochs, so the last 40 epochs are re-weighted). BBN's copy counts epochs from 1: call it
    with ``epoch - 1`` there. The weights enter the loss through torch's weighted mean
    (``Σ w_y ℓ / Σ w_y``), which is what :class:`longtail.LDAMLoss` and
    ``nn.CrossEntropyLoss(weight=...)`` compute. The weights are computed once, at
    construction.

    Args:
        class_counts: per-class training counts ``n_c``.
        start_epoch: the first re-weighted epoch (0-based; 160 in LDAM-DRW).
        beta: the effective-number ``β`` (0.9999 in LDAM-DRW).
        dtype, device: of the returned weights.

    Example (LDAM-DRW)::

        >>> from longtail import LDAMLoss
        >>> counts = [500, 100, 20, 5]
        >>> drw = DeferredReweighting(counts, start_epoch=160)
        >>> criterion = LDAMLoss(counts)
        >>> for epoch in range(200):
        ...     criterion.weight = drw(epoch)  # ones until epoch 159, then CB(0.9999) weights
        ...     # ... one epoch of training with criterion
        >>> drw(0)
        tensor([1., 1., 1., 1.])
    """

    def __init__(
        self,
        class_counts: Counts,
        start_epoch: int = 160,
        beta: float = 0.9999,
        *,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
    ) -> None:
        counts = as_class_counts(class_counts)
        self.start_epoch = check_int("start_epoch", start_epoch, low=0)
        self.beta = check_real("beta", beta, low=0.0, high=1.0)
        dtype = check_float_dtype("dtype", dtype)
        if device is not None and not isinstance(device, (str, torch.device)):
            raise TypeError(
                f"device should be a torch.device, a string or None, but got device={device!r}"
            )
        self.class_counts = counts
        self._ones = torch.ones(counts.numel(), dtype=dtype, device=device)
        self._balanced = effective_number(counts, self.beta, dtype=dtype).to(device)

    def __call__(self, epoch: int) -> Tensor:
        """The class weights for ``epoch`` (0-based); a fresh tensor on every call."""
        epoch = check_int("epoch", epoch, low=0)
        return (self._ones if epoch < self.start_epoch else self._balanced).clone()

    def __repr__(self) -> str:
        return (
            f"DeferredReweighting(num_classes={self.class_counts.numel()}, "
            f"start_epoch={self.start_epoch}, beta={self.beta})"
        )
