"""longtail: samplers, losses, recipes and evaluation for long-tailed recognition in PyTorch."""

import torch  # noqa: F401  (the package is a torch extension: torch first, as users expect)

from longtail import (
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
from longtail._config import show_config
from longtail.bbn import BBNClassifier, BilateralDataset, BilateralSampler
from longtail.data import class_counts
from longtail.decoupling import (
    LWSClassifier,
    NCMClassifier,
    TauNormClassifier,
)
from longtail.losses import (
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
from longtail.samplers import MetaSampler
from longtail.weights import DeferredReweighting

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
    "show_config",
    "stats",
    "weights",
]
