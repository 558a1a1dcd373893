"""Per-class weights for re-weighting losses (spec sections 2.1, 2.3, 2.4).

Each function returns a float tensor (float32 unless ``dtype`` says otherwise) that works both
with longtail's losses and with ``torch.nn.CrossEntropyLoss(weight=...)``.

Zero-count classes: a class with no training sample never appears as a target, so its weight
does not enter the loss; every function here gives it weight 0 (instead of the infinity of
``1/0``), and normalisations run over all classes as written.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from longtail._validation import as_class_counts, check_real

__all__ = ["cost_sensitive", "drw", "effective_number", "inverse_frequency"]

Counts = Sequence[float] | np.ndarray | Tensor


def _safe_inverse(numer: Tensor, counts: Tensor) -> Tensor:
    return torch.where(counts > 0, numer / counts.clamp(min=1e-300), torch.zeros_like(counts))


def inverse_frequency(
    class_counts: Counts, power: float = 1.0, *, dtype: torch.dtype = torch.float32
) -> Tensor:
    """``w_c = (N / n_c)^power`` with ``N = Σ n``; ``power=0.5`` is the square-root variant."""
    counts = as_class_counts(class_counts)
    power = check_real("power", power, low=0.0)
    w = _safe_inverse(counts.sum().expand_as(counts), counts)
    return torch.where(counts > 0, w.pow(power), w).to(dtype)


def cost_sensitive(class_counts: Counts, *, dtype: torch.dtype = torch.float32) -> Tensor:
    """``w_c = n_min / n_c`` with ``n_min`` the smallest non-zero count (cost-sensitive CE).

    Under ``F.cross_entropy``'s weighted mean this gives the same loss as
    :func:`inverse_frequency`; under a divide-by-N normalisation it differs by ``N / n_min``."""
    counts = as_class_counts(class_counts)
    n_min = counts[counts > 0].min()
    return _safe_inverse(n_min.expand_as(counts), counts).to(dtype)


def effective_number(
    class_counts: Counts, beta: float = 0.9999, *, dtype: torch.dtype = torch.float32
) -> Tensor:
    """Class-balanced weights of Cui et al.: ``(1-β)/(1-β^{n_c})``, normalised to sum to C.

    ``beta=0`` gives all ones, ``beta=1`` the limit ``1/n_c`` (normalised). Computed in float64
    as the official code does."""
    counts = as_class_counts(class_counts)
    beta = check_real("beta", beta, low=0.0, high=1.0)
    if beta == 1.0:
        raw = _safe_inverse(torch.ones_like(counts), counts)
    else:
        effective = 1.0 - torch.pow(torch.tensor(beta, dtype=torch.float64), counts)
        raw = torch.where(
            counts > 0, (1.0 - beta) / effective.clamp(min=1e-300), torch.zeros_like(counts)
        )
    return (raw / raw.sum() * counts.numel()).to(dtype)


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
    if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
        raise ValueError(f"epoch should be a non-negative integer, but got epoch={epoch!r}")
    if isinstance(start_epoch, bool) or not isinstance(start_epoch, int) or start_epoch < 0:
        raise ValueError(
            f"start_epoch should be a non-negative integer, but got start_epoch={start_epoch!r}"
        )
    if epoch < start_epoch:
        return torch.ones(counts.numel(), dtype=dtype)
    return effective_number(counts, beta, dtype=dtype)
