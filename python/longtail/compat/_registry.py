"""Adding the compat losses to an mmengine ``Registry`` under the ``longtail`` scope.

mmengine reads ``type="longtail.SeesawLoss"`` as scope ``longtail``, key ``SeesawLoss``, and
looks the key up in the child registry of that scope (``Registry.get``), the way a downstream
OpenMMLab project registers its modules. So the losses go into a child registry with
``scope="longtail"`` under the given one, and a config only changes its ``type``.
"""

from __future__ import annotations

from typing import Any

SCOPE = "longtail"


def _child(registry: Any) -> Any:
    try:
        from mmengine.registry import Registry
    except ImportError:  # without mmengine nothing can be a Registry
        Registry = None

    if Registry is None or not isinstance(registry, Registry):
        raise TypeError(
            f"registry should be an mmengine.registry.Registry, but got registry of type "
            f"{type(registry).__name__}"
        )
    existing = registry.children.get(SCOPE)
    if existing is not None:
        return existing
    # The constructor adds the child to registry.children.
    return Registry(registry.name, parent=registry, scope=SCOPE)


def add(registry: Any, losses: dict[str, type]) -> None:
    """Registers each class under its peer name in ``registry``'s ``longtail`` child; calling
    it again is a no-op, and a different class already under a name is a ``KeyError``."""
    child = _child(registry)
    for name, cls in losses.items():
        if child.module_dict.get(name) is cls:
            continue
        child.register_module(name=name, module=cls)


def register_defaults() -> None:
    """mmdetection's forms into mmdetection's ``MODELS``, mmpretrain's into mmpretrain's,
    for whichever is installed."""
    from longtail.compat import mmdet, mmpretrain

    done = False
    try:
        from mmdet.registry import MODELS as mmdet_models
    except ImportError:
        pass
    else:
        add(mmdet_models, mmdet._LOSSES)
        done = True
    try:
        from mmpretrain.registry import MODELS as mmpretrain_models
    except ImportError:
        pass
    else:
        add(mmpretrain_models, mmpretrain._LOSSES)
        done = True
    if not done:
        raise ImportError(
            "register() without a registry needs mmdetection (mmdet.registry) or mmpretrain "
            "installed; pass an mmengine Registry explicitly otherwise"
        )
