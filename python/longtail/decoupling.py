"""Decoupling representation and classifier (Kang et al. ICLR 2020; official code
facebookresearch/classifier-balancing): the names of :mod:`longtail.recipes.decoupling`, where
the code lives, re-exported under their original path."""

from longtail.recipes.decoupling import (
    LWSClassifier,
    NCMClassifier,
    TauNormClassifier,
    TauSearchResult,
    balanced_accuracy,
    prepare_crt,
    search_tau,
    tau_normalize,
)

__all__ = [
    "LWSClassifier",
    "NCMClassifier",
    "TauNormClassifier",
    "TauSearchResult",
    "balanced_accuracy",
    "prepare_crt",
    "search_tau",
    "tau_normalize",
]
