"""BBN (Zhou et al. CVPR 2020; official code Megvii-Nanjing/BBN): the names of
:mod:`longtail.recipes.bbn`, where the code lives, re-exported under their original path."""

from longtail.recipes.bbn import (
    BBNClassifier,
    BilateralDataset,
    BilateralSampler,
    bbn_loss,
    bbn_mix,
    cumulative_alpha,
)

__all__ = [
    "BBNClassifier",
    "BilateralDataset",
    "BilateralSampler",
    "bbn_loss",
    "bbn_mix",
    "cumulative_alpha",
]
