"""Balanced group softmax (BAGS, Li et al. CVPR 2020): the group layout, the functional loss
and test-time scores, and the ``nn.Module``."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from longtail._validation import (
    Counts,
    as_class_counts,
    check_int,
    check_real,
    check_reduction,
)
from longtail.exceptions import OutOfRangeError
from longtail.losses._common import (
    _check_labels_2d,
    _compute_dtype,
    _getstate_with_generator,
    _setstate_with_generator,
)
from longtail.losses._ops import group_softmax_loss as _group_kernel


def bags_layout(
    class_counts: Counts, bin_split: Sequence[int] = (10, 100, 1000)
) -> tuple[Tensor, list[int]]:
    """The BAGS group layout (eqlv2's encoding): classes are grouped by training instance count
    with ``bisect_right(bin_split, n)`` — ``(0, 10)``, ``[10, 100)``, ``[100, 1000)``,
    ``[1000, ∞)`` by default — plus one background group. Every group's logits are
    ``[others, its classes in class order]``; the background group is ``[others, background]``.

    Returns ``(label_map, sizes)``: ``label_map[g, k]`` is the position of label ``k`` (in
    ``[0, C]``, C = background) inside group g (0 = "others"), and ``sizes[g]`` the number of
    logits of group g. The input has ``sum(sizes) = C + 1 + G`` columns."""
    counts = as_class_counts(class_counts)
    splits = _check_bin_split(bin_split)
    if any(b2 <= b1 for b1, b2 in itertools.pairwise(splits)):
        raise ValueError(f"bin_split should be strictly increasing, but got bin_split={splits}")
    c = counts.numel()
    groups = torch.bucketize(counts, torch.tensor(splits, dtype=torch.float64), right=True)
    num_groups = len(splits) + 2
    label_map = torch.zeros(num_groups, c + 1, dtype=torch.long)
    sizes = []
    for g in range(num_groups - 1):
        members = torch.nonzero(groups == g).flatten()
        label_map[g, members] = torch.arange(1, members.numel() + 1)
        sizes.append(members.numel() + 1)
    label_map[-1, c] = 1
    sizes.append(2)
    return label_map, sizes


def _check_bin_split(bin_split: Sequence[int]) -> list[int]:
    if isinstance(bin_split, (str, bytes, Tensor)) or not hasattr(bin_split, "__iter__"):
        raise TypeError(
            f"bin_split should be a sequence of integer group boundaries, but got "
            f"bin_split={bin_split!r}"
        )
    return [check_int(f"bin_split[{i}]", b) for i, b in enumerate(bin_split)]


def _bags_keep(targets: Tensor, beta: float, generator: torch.Generator | None) -> Tensor:
    """BAGS sampling, without a host synchronisation: in each foreground group keep every
    positive and ``int(β·#positives)`` "others" drawn uniformly without replacement (all of them
    if fewer exist; none when the group has no positive); keep every row of the background
    group."""
    pos = targets > 0
    k = torch.floor(beta * pos.sum(0).to(torch.float64))
    keys = torch.rand(
        targets.shape,
        generator=generator,
        dtype=torch.float64,
        device=targets.device if generator is None else generator.device,
    )
    keys = keys.to(targets.device).masked_fill(pos, 2.0)  # positives rank after all others
    rank = keys.argsort(0).argsort(0)
    keep = pos | (rank < k)
    keep[:, -1] = True
    return keep


def _group_softmax(
    input: Tensor,
    target: Tensor,
    label_map: Tensor,
    sizes: list[int],
    *,
    beta: float,
    generator: torch.Generator | None,
    keep: Tensor | None,
    reduction: str,
) -> Tensor:
    _check_labels_2d(
        input, target, sum(sizes), f" (C + 1 + G = {sum(sizes)} for the {len(sizes)} groups)"
    )
    check_reduction(reduction)
    # Any integer label dtype: index with int64 (a uint8 index would be read as a mask).
    target = target.long()
    targets = label_map.to(target.device)[:, target.clamp(0, label_map.shape[1] - 1)].T
    bad = (target < 0) | (target >= label_map.shape[1])
    if target.device.type != "cpu" or torch.compiler.is_compiling():
        # A device-side assert, not a host read (which would sync with the device each call;
        # and a traced graph cannot branch on the data).
        torch._assert_async(~bad.any())
    elif bad.any():
        i = int(torch.nonzero(bad)[0, 0])
        raise OutOfRangeError(
            f"target should contain labels in [0, {label_map.shape[1]}), but got "
            f"target={int(target[i])} at position {i}"
        )
    if keep is None:
        keep = _bags_keep(targets, beta, generator)
    elif not isinstance(keep, Tensor) or keep.shape != targets.shape:
        raise ValueError(
            f"keep should be a boolean tensor of shape {tuple(targets.shape)}, but "
            f"got keep={keep!r}"
        )
    x = _compute_dtype(input)
    w = keep.to(device=x.device, dtype=x.dtype)
    if reduction == "mean":
        w = w / w.sum(0).clamp(min=1.0)  # each group's normaliser: max(#kept, 1)
    offsets = [0]
    for s in sizes:
        offsets.append(offsets[-1] + s)
    loss = _group_kernel(x, targets.contiguous(), w.contiguous(), offsets, reduction=reduction)
    return loss.to(input.dtype) if x is not input else loss


def group_softmax_loss(
    input: Tensor,
    target: Tensor,
    class_counts: Counts,
    *,
    bin_split: Sequence[int] = (10, 100, 1000),
    beta: float = 8.0,
    generator: torch.Generator | None = None,
    keep: Tensor | None = None,
    reduction: str = "mean",
) -> Tensor:
    r"""Balanced group softmax (BAGS, Li et al. CVPR 2020), in the eqlv2 encoding
    (:func:`bags_layout`):

    .. math::
        L = \sum_g \frac{\sum_i k_{ig}\,\mathrm{CE}(z_i^{(g)}, \tilde y_i^{(g)})}
                        {\max(\sum_i k_{ig}, 1)}

    with :math:`\tilde y^{(g)}` the position of the label inside group g, or 0 ("others") when
    the label is outside it. The background group keeps every row; a foreground group keeps its
    positives plus ``int(β·#positives)`` random "others" (all when fewer exist; none when the
    group has no positive, so it contributes 0).

    Args:
        input: ``(N, C + 1 + G)`` logits.
        target: labels ``(N,)`` in ``[0, C]``, C = background.
        class_counts: per-class training **instance** counts, which define the groups.
        bin_split: group boundaries (``bisect_right``).
        beta: "others" per positive (8).
        generator: the source of the "others" draw; or pass the ``(N, G)`` boolean ``keep``
            mask explicitly.
        reduction: ``"mean"`` (the formula above), ``"sum"`` (without the normalisers) or
            ``"none"`` (per row, without the normalisers).

    Example::

        >>> counts = [5, 50, 500, 5000]  # one class per group
        >>> input = torch.randn(6, 4 + 1 + 5, requires_grad=True)
        >>> loss = group_softmax_loss(input, torch.tensor([0, 1, 4, 4, 2, 3]), counts)
        >>> loss.backward()
    """
    check_reduction(reduction)
    beta = check_real("beta", beta, low=0.0)
    label_map, sizes = bags_layout(class_counts, bin_split)
    return _group_softmax(
        input,
        target,
        label_map,
        sizes,
        beta=beta,
        generator=generator,
        keep=keep,
        reduction=reduction,
    )


def group_softmax_inference(
    input: Tensor, class_counts: Counts, bin_split: Sequence[int] = (10, 100, 1000)
) -> Tensor:
    """Test-time scores of a BAGS head: softmax within each group, drop "others", multiply the
    foreground scores by the background group's foreground probability. Returns ``(N, C+1)``
    scores, the background score last (eqlv2's ``get_activation``)."""
    label_map, sizes = bags_layout(class_counts, bin_split)
    if not isinstance(input, Tensor) or input.dim() != 2 or input.shape[1] != sum(sizes):
        raise ValueError(
            f"input should have shape (N, {sum(sizes)}), but got input of shape "
            f"{tuple(getattr(input, 'shape', ()))}"
        )
    probs = [chunk.softmax(1) for chunk in input.split(sizes, dim=1)]
    fg = torch.cat([p[:, 1:] for p in probs[:-1]], dim=1)
    # Columns of fg follow the groups; put them back in class order.
    order = torch.cat([torch.nonzero(label_map[g, :-1]).flatten() for g in range(len(sizes) - 1)])
    scores = torch.empty(input.shape[0], label_map.shape[1], dtype=input.dtype, device=input.device)
    scores[:, order.to(input.device)] = fg * probs[-1][:, :1]
    scores[:, -1] = probs[-1][:, 1]
    return scores


class GroupSoftmaxLoss(nn.Module):
    r"""Balanced group softmax (BAGS, Li et al. CVPR 2020): classes grouped by training instance
    count, a softmax per group with an "others" logit, and sampled "others"
    (see :func:`longtail.functional.group_softmax_loss`; test-time scores come from
    :meth:`inference`, i.e. :func:`longtail.functional.group_softmax_inference`).

    Args:
        class_counts: per-class training instance counts.
        bin_split: group boundaries, ``(10, 100, 1000)``.
        beta: "others" sampled per positive (8).
        generator: the source of the "others" draw (``None``: torch's global generator).
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.

    Shape:
        input ``(N, C + 1 + G)`` with G = ``len(bin_split) + 2`` groups; target ``(N)`` labels
        in ``[0, C]`` (C = background); output a scalar, or ``(N)`` for ``reduction="none"``.

    Example::

        >>> loss = GroupSoftmaxLoss([5, 50, 500, 5000])
        >>> input = torch.randn(6, 10, requires_grad=True)
        >>> loss(input, torch.tensor([0, 1, 4, 4, 2, 3])).backward()
    """

    # The buffers, typed (nn.Module.__getattr__ would type them Tensor | Module).
    class_counts: Tensor
    label_map: Tensor

    def __init__(
        self,
        class_counts: Counts,
        bin_split: Sequence[int] = (10, 100, 1000),
        beta: float = 8.0,
        generator: torch.Generator | None = None,
        reduction: str = "mean",
    ) -> None:
        super().__init__()
        self.bin_split = tuple(_check_bin_split(bin_split))
        self.beta = check_real("beta", beta, low=0.0)
        self.reduction = check_reduction(reduction)
        self.generator = generator
        counts = as_class_counts(class_counts)
        label_map, self.sizes = bags_layout(counts, self.bin_split)
        self.register_buffer("class_counts", counts)
        self.register_buffer("label_map", label_map)

    def forward(self, input: Tensor, target: Tensor, keep: Tensor | None = None) -> Tensor:
        check_reduction(self.reduction)
        return _group_softmax(
            input,
            target,
            self.label_map,
            self.sizes,
            beta=self.beta,
            generator=self.generator,
            keep=keep,
            reduction=self.reduction,
        )

    def inference(self, input: Tensor) -> Tensor:
        """``(N, C+1)`` test-time scores, the background last."""
        return group_softmax_inference(input, self.class_counts, self.bin_split)

    __getstate__ = _getstate_with_generator
    __setstate__ = _setstate_with_generator
