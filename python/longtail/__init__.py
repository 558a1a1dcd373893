"""longtail: samplers, losses, recipes and evaluation for long-tailed recognition in PyTorch."""

import torch

# The extension is linked against the libtorch of one torch release; loading it into another
# would fail with undefined symbols or crash, so refuse with a clear message first.
_TORCH_REQUIRED = "2.13"
if torch.__version__.split("+")[0].rsplit(".", 1)[0] != _TORCH_REQUIRED:
    raise ImportError(
        f"longtail was built for torch {_TORCH_REQUIRED}.x, but torch {torch.__version__} is "
        f"installed; install torch=={_TORCH_REQUIRED}.0 (pip install 'torch=={_TORCH_REQUIRED}.0') "
        "or rebuild longtail against the installed torch"
    )

from longtail import (  # noqa: E402
    _core,
    bbn,
    data,
    decoupling,
    exceptions,
    functional,
    losses,
    metrics,
    samplers,
    stats,
    weights,
)
from longtail.bbn import BBNClassifier, BilateralDataset, BilateralSampler  # noqa: E402
from longtail.data import class_counts  # noqa: E402
from longtail.decoupling import (  # noqa: E402
    LWSClassifier,
    NCMClassifier,
    TauNormClassifier,
)
from longtail.losses import (  # noqa: E402
    BalancedSoftmaxLoss,
    ClassBalancedLoss,
    EQLv2Loss,
    EqualizationLoss,
    FocalLoss,
    GroupSoftmaxLoss,
    LDAMLoss,
    LogitAdjustedLoss,
    SeesawLoss,
    SigmoidFocalLoss,
    SoftmaxEqualizationLoss,
    WeightedCrossEntropyLoss,
)
from longtail.samplers import MetaSampler  # noqa: E402
from longtail.weights import DeferredReweighting  # noqa: E402

__version__: str = _core.__version__

__all__ = [
    "BBNClassifier",
    "BalancedSoftmaxLoss",
    "BilateralDataset",
    "BilateralSampler",
    "ClassBalancedLoss",
    "DeferredReweighting",
    "EQLv2Loss",
    "EqualizationLoss",
    "FocalLoss",
    "GroupSoftmaxLoss",
    "LDAMLoss",
    "LWSClassifier",
    "LogitAdjustedLoss",
    "MetaSampler",
    "NCMClassifier",
    "SeesawLoss",
    "SigmoidFocalLoss",
    "SoftmaxEqualizationLoss",
    "TauNormClassifier",
    "WeightedCrossEntropyLoss",
    "__version__",
    "bbn",
    "class_counts",
    "data",
    "decoupling",
    "exceptions",
    "functional",
    "losses",
    "metrics",
    "samplers",
    "stats",
    "weights",
]
