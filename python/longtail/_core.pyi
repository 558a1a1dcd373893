"""Type stub for the private Rust extension ``longtail._core``."""

from torch import Tensor

__version__: str

class ShapeError(ValueError): ...
class InvalidArgumentError(ValueError): ...
class OutOfRangeError(IndexError): ...
class DTypeError(TypeError): ...
class TorchError(RuntimeError): ...

def softmax_loss(
    input: Tensor,
    target: Tensor,
    *,
    offsets: Tensor | None = None,
    margins: Tensor | None = None,
    scale: float = 1.0,
    weight: Tensor | None = None,
    alpha: Tensor | None = None,
    gamma: float = 0.0,
    label_smoothing: float = 0.0,
    ignore_index: int = -100,
    reduction: str = "mean",
    normalization: str = "weight",
    avg_factor: float | None = None,
    backend: str = "auto",
) -> tuple[Tensor, Tensor]:
    """Fused softmax-family loss: ``(loss, d loss / d input)``."""
