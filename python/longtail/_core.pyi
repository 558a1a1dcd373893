"""Type stub for the private Rust extension ``longtail._core``."""

from typing import final

import numpy as np
from numpy.typing import NDArray

__version__: str

_Array = NDArray[np.float32] | NDArray[np.float64]
_Labels = NDArray[np.int64]

def build_info() -> dict[str, object]:
    """The kernels' build facts: version, SIMD level, rayon threads, parallelism."""

def softmax_loss(
    input: _Array,
    target: _Labels,
    loss: _Array,
    grad: _Array,
    *,
    offsets: _Array | None = None,
    margins: _Array | None = None,
    scale: float = 1.0,
    weight: _Array | None = None,
    alpha: _Array | None = None,
    gamma: float = 0.0,
    label_smoothing: float = 0.0,
    ignore_index: int = -100,
    reduction: str = "mean",
    normalization: str = "weight",
    avg_factor: float | None = None,
) -> None:
    """Fused softmax-family loss into ``loss`` and its gradient into ``grad``."""

def sigmoid_loss(
    input: _Array,
    target: _Array | _Labels,
    loss: _Array,
    grad: _Array,
    stats: _Array | None = None,
    *,
    num_labels: int | None = None,
    gamma: float = 0.0,
    alpha: float | None = None,
    weight: _Array | None = None,
    label_weight: _Array | None = None,
    pos_weight: _Array | None = None,
    neg_weight: _Array | None = None,
    neg_weight_fg_only: bool = False,
    ignore_index: int = -100,
    reduction: str = "mean",
    normalization: str = "elements",
    avg_factor: float | None = None,
) -> None:
    """Fused sigmoid-family loss into ``loss``, ``grad`` and (when given) ``stats``."""

def seesaw_loss(
    input: _Array,
    target: _Labels,
    loss: _Array,
    grad: _Array,
    *,
    num_classes: int,
    mode: str = "classification",
    counts: _Array | None = None,
    p: float = 0.8,
    q: float = 2.0,
    eps: float = 0.01,
    factors: _Array | None = None,
    weight: _Array | None = None,
    ignore_index: int = -100,
    reduction: str = "mean",
    avg_factor: float | None = None,
) -> None:
    """Fused Seesaw loss: both terms into ``loss``, the gradient of their sum into ``grad``."""

def group_softmax_loss(
    input: _Array,
    targets: _Labels,
    weights: _Array,
    offsets: list[int],
    loss: _Array,
    grad: _Array,
    *,
    reduction: str = "mean",
) -> None:
    """Fused group-softmax (BAGS) loss into ``loss`` and its gradient into ``grad``."""

# Samplers: every `*_indices` function returns the epoch's indices (int64) for
# ``(seed, epoch)`` as one array (``MemoryError`` naming the size when it cannot be
# allocated); every `*_stream` function returns the same epoch as a lazy IndexStream.
@final
class IndexStream:
    """One epoch, read front to back in pieces (memory O(piece))."""

    def __len__(self) -> int: ...
    @property
    def remaining(self) -> int:
        """The indices not yet read."""
    def read(self, max: int) -> NDArray[np.int64]:
        """The next ``min(max, remaining)`` indices."""
    def skip(self, n: int) -> None:
        """Passes the next ``n`` indices (at most ``remaining``)."""

def group_labels(
    labels: NDArray[np.int64],
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]]:
    """``(classes, offsets, members)``: the sample indices grouped by class."""

def weighted_indices(
    weights: NDArray[np.float64], num_samples: int, replacement: bool, seed: int, epoch: int
) -> NDArray[np.int64]: ...
def weighted_stream(
    weights: NDArray[np.float64], num_samples: int, replacement: bool, seed: int, epoch: int
) -> IndexStream: ...
def class_weighted_indices(
    offsets: NDArray[np.int64],
    members: NDArray[np.int64],
    class_weights: NDArray[np.float64],
    num_samples: int,
    seed: int,
    epoch: int,
) -> NDArray[np.int64]: ...
def class_weighted_stream(
    offsets: NDArray[np.int64],
    members: NDArray[np.int64],
    class_weights: NDArray[np.float64],
    num_samples: int,
    seed: int,
    epoch: int,
) -> IndexStream: ...
def class_aware_indices(
    offsets: NDArray[np.int64],
    members: NDArray[np.int64],
    samples_per_class: int,
    num_samples: int,
    seed: int,
    epoch: int,
) -> NDArray[np.int64]: ...
def class_aware_stream(
    offsets: NDArray[np.int64],
    members: NDArray[np.int64],
    samples_per_class: int,
    num_samples: int,
    seed: int,
    epoch: int,
) -> IndexStream: ...
def resample_indices(
    offsets: NDArray[np.int64],
    members: NDArray[np.int64],
    targets: NDArray[np.int64],
    seed: int,
    epoch: int,
) -> NDArray[np.int64]: ...
def resample_stream(
    offsets: NDArray[np.int64],
    members: NDArray[np.int64],
    targets: NDArray[np.int64],
    seed: int,
    epoch: int,
) -> IndexStream: ...
def repeat_factors(
    image_offsets: NDArray[np.int64], categories: NDArray[np.int64], threshold: float, sqrt: bool
) -> NDArray[np.float64]: ...
def repeat_factor_indices(
    repeat_factors: NDArray[np.float64], rounding: str, seed: int, epoch: int
) -> NDArray[np.int64]: ...
def repeat_factor_stream(
    repeat_factors: NDArray[np.float64], rounding: str, seed: int, epoch: int
) -> IndexStream: ...
def repeat_factor_epoch_length(
    repeat_factors: NDArray[np.float64], rounding: str, seed: int, epoch: int
) -> int: ...
