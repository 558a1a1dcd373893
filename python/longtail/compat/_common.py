"""Pieces the compat modules share: the peers' argument errors and mmdet's reductions."""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import Tensor

_REDUCTION_OVERRIDES = (None, "none", "mean", "sum")


class PeerAssertionError(ValueError, AssertionError):
    """A bad argument where the peer ``assert``s.

    The OpenMMLab losses check their arguments with ``assert`` (so their users and tests catch
    ``AssertionError``); longtail raises ``ValueError`` for bad input. This is both, so either
    ``except`` clause catches it, and it is raised even under ``python -O``."""


def check_reduction_override(reduction_override: object) -> None:
    """mmdet/mmpretrain: ``assert reduction_override in (None, 'none', 'mean', 'sum')``."""
    if not (
        reduction_override is None
        or (isinstance(reduction_override, str) and reduction_override in _REDUCTION_OVERRIDES)
    ):
        raise PeerAssertionError(
            "reduction_override should be one of None, 'none', 'mean', 'sum', but got "
            f"reduction_override={reduction_override!r}"
        )


def check_reduction(name: str, reduction: object) -> str:
    if not (isinstance(reduction, str) and reduction in ("none", "mean", "sum")):
        raise PeerAssertionError(
            f"{name} should be one of 'none', 'mean', 'sum', but got {name}={reduction!r}"
        )
    return reduction


def check_tensor(name: str, value: object) -> Tensor:
    if not isinstance(value, Tensor):
        raise TypeError(f"{name} should be a torch.Tensor, but got {name} of type {type(value)}")
    return value


def avg_factor_value(avg_factor: float | Tensor | None, reduction: str) -> float | None:
    """``avg_factor`` as a float, refused with ``reduction="sum"`` as OpenMMLab's
    ``weight_reduce_loss`` does (``ValueError('avg_factor can not be used with
    reduction="sum"')``); ``None`` stays ``None``."""
    if avg_factor is None:
        return None
    if reduction == "sum":
        raise ValueError(
            f"avg_factor should be None when reduction='sum' (avg_factor can not be used with "
            f"reduction='sum'), but got avg_factor={avg_factor}"
        )
    if isinstance(avg_factor, Tensor):
        if avg_factor.numel() != 1:
            raise ValueError(
                "avg_factor should be a number or a one-element tensor, but got avg_factor of "
                f"shape {tuple(avg_factor.shape)}"
            )
        return float(avg_factor.item())
    if isinstance(avg_factor, bool) or not isinstance(avg_factor, (int, float)):
        raise TypeError(f"avg_factor should be a number, but got avg_factor={avg_factor!r}")
    return float(avg_factor)


def weight_reduce(
    loss: Tensor,
    weight: Tensor | None,
    reduction: str,
    avg_factor: float | None,
    *,
    eps: float,
) -> Tensor:
    """OpenMMLab's ``weight_reduce_loss`` applied to per-element losses from a longtail kernel:
    ``loss * weight``, then the mean / sum, or ``sum / (avg_factor + eps)`` (mmdet's
    ``eps`` is the float32 epsilon, mmpretrain's 0); ``"none"`` returns the weighted losses."""
    if weight is not None:
        loss = loss * weight
    if avg_factor is None:
        if reduction == "mean":
            return loss.mean()
        return loss.sum() if reduction == "sum" else loss
    return loss.sum() / (avg_factor + eps) if reduction == "mean" else loss


def openmmlab_accuracy(pred: Tensor, target: Tensor) -> Tensor:
    """Top-1 accuracy in percent as mmdet's ``accuracy(pred, target)``: a ``(1,)`` tensor,
    ``pred.new_tensor(0.)`` for an empty batch."""
    if pred.size(0) == 0:
        return pred.new_tensor(0.0)
    if pred.dim() != 2 or target.dim() != 1 or pred.size(0) != target.size(0):
        raise PeerAssertionError(
            "accuracy needs pred (N, C) and target (N,), but got pred of shape "
            f"{tuple(pred.shape)} and target of shape {tuple(target.shape)}"
        )
    _, pred_label = pred.topk(1, dim=1)
    correct = pred_label.t().eq(target.view(1, -1).expand_as(pred_label.t()))
    return correct[:1].reshape(-1).float().sum(0, keepdim=True).mul_(100.0 / pred.size(0))


def sum_across_ranks(increment: Tensor) -> Tensor:
    """Sums a state increment over the ranks when torch.distributed is initialised."""
    if dist.is_available() and dist.is_initialized():
        increment = increment.contiguous()
        dist.all_reduce(increment, op=dist.ReduceOp.SUM)
    return increment


def float32_eps() -> float:
    return float(torch.finfo(torch.float32).eps)
