"""detectron2's ``RepeatFactorTrainingSampler`` (LVIS repeat-factor sampling) for longtail.

Same signature and stream as ``detectron2/data/samplers/distributed_sampler.py``: an
**infinite** stream, sliced by rank (``islice(stream, rank, None, world_size)``), that re-rounds
the fractional repeat factors stochastically on every pass over the dataset and shuffles each
pass; with the same seed it yields detectron2's indices one for one (the same ``torch.Generator``
draws, in the same order). ``repeat_factors_from_category_frequency`` returns detectron2's
float32 tensor, computed by :func:`longtail.samplers.repeat_factors`.

Where this follows detectron2 rather than longtail's samplers: there is no epoch (no
``set_epoch``, no ``len``); ``seed=None`` draws the seed from NumPy's global RNG
(``np.random.randint(2**31)``, as detectron2's ``comm.shared_random_seed``), broadcast from rank 0
under ``torch.distributed``. Beyond detectron2, ``state_dict`` / ``load_state_dict`` record and
restore the position in the stream (for torchdata's ``StatefulDataLoader`` and checkpoints).

Example::

    >>> from longtail.compat.detectron2 import RepeatFactorTrainingSampler
    >>> dicts = [{"annotations": [{"category_id": 1}]}, {"annotations": [{"category_id": 2}]}] * 3
    >>> factors = RepeatFactorTrainingSampler.repeat_factors_from_category_frequency(dicts, 0.5)
    >>> sampler = RepeatFactorTrainingSampler(factors, seed=0)
"""

from __future__ import annotations

import itertools
import math
import numbers
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import Tensor
from torch.utils.data import Sampler

from longtail import samplers as _samplers

__all__ = ["RepeatFactorTrainingSampler"]


def _rank_and_world() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _shared_random_seed() -> int:
    """detectron2's ``comm.shared_random_seed``: rank 0's draw of ``np.random.randint(2**31)``."""
    seed = [int(np.random.randint(2**31))]
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        dist.broadcast_object_list(seed, src=0)
    return seed[0]


def _as_repeat_factors(repeat_factors: Any) -> Tensor:
    if isinstance(repeat_factors, Tensor):
        factors = repeat_factors.detach().cpu()
    else:
        try:
            factors = torch.as_tensor(np.asarray(repeat_factors, dtype=np.float32))
        except (TypeError, ValueError) as err:
            raise TypeError(
                "repeat_factors should be a 1-D tensor of per-image repeat factors, but got "
                f"repeat_factors={repeat_factors!r}"
            ) from err
    if not factors.is_floating_point():
        factors = factors.float()
    if factors.dim() != 1 or factors.numel() == 0:
        raise ValueError(
            "repeat_factors should be a non-empty 1-D tensor, but got repeat_factors of shape "
            f"{tuple(factors.shape)}"
        )
    bad = ~torch.isfinite(factors) | (factors < 0)
    if bad.any():
        i = int(torch.nonzero(bad)[0, 0])
        raise ValueError(
            f"repeat_factors should be finite and non-negative, but got "
            f"repeat_factors[{i}]={factors[i].item()}"
        )
    if not factors.sum() > 0:
        raise ValueError("repeat_factors should have a positive sum, but all are 0")
    return factors


class RepeatFactorTrainingSampler(Sampler[int]):
    r"""Image ``i`` appears ``floor(r_i) + Bernoulli(frac(r_i))`` times per pass, the rounding
    drawn anew each pass, and each pass is shuffled; the stream never ends.

    Args:
        repeat_factors: the repeat factor of each image (a float tensor, e.g. from
            :meth:`repeat_factors_from_category_frequency`).
        shuffle: shuffle each pass (True) or keep index order.
        seed: the stream's seed, shared by all ranks; None: a shared random one.
    """

    def __init__(
        self, repeat_factors: Tensor, *, shuffle: bool = True, seed: int | None = None
    ) -> None:
        if not isinstance(shuffle, bool):
            raise TypeError(f"shuffle should be a boolean value, but got shuffle={shuffle!r}")
        if seed is None:
            seed = _shared_random_seed()
        elif isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
            raise TypeError(f"seed should be an integer or None, but got seed={seed!r}")
        factors = _as_repeat_factors(repeat_factors)
        self._shuffle = shuffle
        self._seed = int(seed)
        self._rank, self._world_size = _rank_and_world()
        # Whole and fractional parts, as detectron2 splits them.
        self._int_part = torch.trunc(factors)
        self._frac_part = factors - self._int_part
        self._yielded = 0  # items of this rank's slice handed out so far
        self._resume_at = 0

    @staticmethod
    def repeat_factors_from_category_frequency(
        dataset_dicts: Sequence[Mapping[str, Any]], repeat_thresh: float, sqrt: bool = True
    ) -> Tensor:
        r"""``r_I = max_{c ∈ I} max(1, sqrt(t / f_c))`` (or ``t / f_c`` with ``sqrt=False``),
        ``f_c`` the fraction of images with an annotation of category ``c``; 1.0 for an image
        without annotations.

        Args:
            dataset_dicts: detectron2's dataset dicts, each with an ``"annotations"`` list of
                dicts holding a ``"category_id"`` (any hashable id).
            repeat_thresh: the frequency threshold ``t``.
            sqrt: use the square root.

        Returns:
            The float32 repeat factor of each image.
        """
        if isinstance(dataset_dicts, (str, bytes, Mapping)) or not isinstance(
            dataset_dicts, Sequence
        ):
            raise TypeError(
                "dataset_dicts should be a list of dataset dicts, but got dataset_dicts of type "
                f"{type(dataset_dicts).__name__}"
            )
        dense: dict[Any, int] = {}
        image_labels = []
        for i, record in enumerate(dataset_dicts):
            try:
                annotations = record["annotations"]
                ids = [ann["category_id"] for ann in annotations]
            except (KeyError, TypeError) as err:
                raise ValueError(
                    f"dataset_dicts[{i}] should have an 'annotations' list of dicts with a "
                    f"'category_id', but got dataset_dicts[{i}]={record!r}"
                ) from err
            # Category ids are any hashable; the kernel takes dense indices.
            image_labels.append([dense.setdefault(cat, len(dense)) for cat in ids])
        if isinstance(repeat_thresh, bool) or not isinstance(repeat_thresh, numbers.Real):
            raise TypeError(
                f"repeat_thresh should be a real number, but got repeat_thresh={repeat_thresh!r}"
            )
        if not (math.isfinite(repeat_thresh) and repeat_thresh >= 0):
            raise ValueError(
                f"repeat_thresh should be finite and >= 0, but got repeat_thresh={repeat_thresh}"
            )
        factors = _samplers.repeat_factors(image_labels, threshold=float(repeat_thresh), sqrt=sqrt)
        return torch.as_tensor(factors, dtype=torch.float32)

    def _get_epoch_indices(self, generator: torch.Generator) -> Tensor:
        # Stochastic rounding: the target repeat factor is reached in expectation.
        rands = torch.rand(len(self._frac_part), generator=generator)
        rep_factors = self._int_part + (rands < self._frac_part).float()
        return torch.repeat_interleave(
            torch.arange(len(rep_factors), dtype=torch.int64), rep_factors.long()
        )

    def _infinite_indices(self) -> Iterator[int]:
        g = torch.Generator()
        g.manual_seed(self._seed)
        while True:
            indices = self._get_epoch_indices(g)
            if self._shuffle:
                yield from indices[torch.randperm(len(indices), generator=g)].tolist()
            else:
                yield from indices.tolist()

    def __iter__(self) -> Iterator[int]:
        skip, self._resume_at = self._resume_at, 0
        self._yielded = skip
        start = self._rank + skip * self._world_size
        for index in itertools.islice(self._infinite_indices(), start, None, self._world_size):
            self._yielded += 1
            yield index

    def state_dict(self) -> dict[str, int]:
        """The seed and how many indices this rank has yielded."""
        return {"seed": self._seed, "yielded": self._yielded}

    def load_state_dict(self, state_dict: Mapping[str, int]) -> None:
        """The next iteration resumes after ``state_dict["yielded"]`` indices of the stream."""
        try:
            seed, yielded = state_dict["seed"], state_dict["yielded"]
        except (KeyError, TypeError) as err:
            raise ValueError(
                "state_dict should have 'seed' and 'yielded' entries, but got "
                f"state_dict={state_dict!r}"
            ) from err
        for name, value in (("seed", seed), ("yielded", yielded)):
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
                raise ValueError(
                    f"state_dict['{name}'] should be a non-negative integer, but got {value!r}"
                )
        self._seed, self._yielded, self._resume_at = int(seed), int(yielded), int(yielded)

    def __repr__(self) -> str:
        return (
            f"RepeatFactorTrainingSampler(images={len(self._frac_part)}, "
            f"shuffle={self._shuffle}, seed={self._seed}, rank={self._rank}, "
            f"world_size={self._world_size})"
        )
