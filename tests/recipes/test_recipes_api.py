"""The recipes are reachable from the top-level package and listed in ``__all__``."""

from __future__ import annotations

import longtail
from longtail import bbn, decoupling, samplers, weights


def test_public_names():
    for name in (
        "bbn",
        "decoupling",
        "BBNClassifier",
        "BilateralDataset",
        "BilateralSampler",
        "DeferredReweighting",
        "LWSClassifier",
        "MetaSampler",
        "NCMClassifier",
        "TauNormClassifier",
    ):
        assert name in longtail.__all__
        assert hasattr(longtail, name)
    assert longtail.MetaSampler is samplers.MetaSampler and "MetaSampler" in samplers.__all__
    assert longtail.DeferredReweighting is weights.DeferredReweighting
    for module in (bbn, decoupling):
        for name in module.__all__:
            assert callable(getattr(module, name))
