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


def test_old_paths_re_export_the_recipes_objects():
    from longtail import recipes
    from longtail.recipes import bbn as recipes_bbn
    from longtail.recipes import decoupling as recipes_decoupling

    assert recipes.bbn is recipes_bbn and recipes.decoupling is recipes_decoupling
    for old, new in ((bbn, recipes_bbn), (decoupling, recipes_decoupling)):
        assert old.__all__ == new.__all__
        for name in new.__all__:
            assert getattr(old, name) is getattr(new, name), name
