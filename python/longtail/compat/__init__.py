"""Drop-in replacements for the long-tail losses and samplers of other libraries.

Each module reproduces one peer's public signature, defaults, return types and behaviour,
running on longtail's kernels, so that a script changes one line:

* :mod:`longtail.compat.mmdet`: ``SeesawLoss``, ``EQLV2Loss``, ``FocalLoss`` (mmdetection 3.x);
* :mod:`longtail.compat.mmpretrain`: ``SeesawLoss``, ``FocalLoss`` (mmpretrain);
* :mod:`longtail.compat.detectron2`: ``RepeatFactorTrainingSampler``;
* :mod:`longtail.compat.torchvision`: ``sigmoid_focal_loss``;
* :mod:`longtail.compat.ldam`: ``LDAMLoss``, ``FocalLoss`` (LDAM-DRW);
* :mod:`longtail.compat.balms`: ``balanced_softmax_loss`` (Balanced Meta-Softmax).

The modules import lazily (``longtail.compat.mmdet`` is loaded on first use), and none needs
the peer installed, except :func:`register`, which needs mmengine.
"""

from __future__ import annotations

import importlib
from typing import Any

from longtail.compat._common import PeerAssertionError

__all__ = [
    "PeerAssertionError",
    "balms",
    "detectron2",
    "ldam",
    "mmdet",
    "mmpretrain",
    "register",
    "torchvision",
]

_MODULES = ("balms", "detectron2", "ldam", "mmdet", "mmpretrain", "torchvision")


def register(registry: Any = None) -> None:
    """Makes ``type="longtail.SeesawLoss"`` (and ``longtail.EQLV2Loss``, ``longtail.FocalLoss``)
    buildable from an OpenMMLab config.

    With ``registry=None``, mmdetection's forms go into ``mmdet.registry.MODELS`` and
    mmpretrain's classification forms into ``mmpretrain.registry.MODELS``, for whichever is
    installed (``ImportError`` if neither is). With an mmengine ``Registry``, mmdetection's forms
    go into it; use :func:`longtail.compat.mmpretrain.register` for mmpretrain's. Calling it
    again is a no-op.

    Example::

        >>> from mmengine.registry import Registry
        >>> MODELS = Registry("model", scope="myproject")  # e.g. mmdet.registry.MODELS
        >>> register(MODELS)
        >>> MODELS.build(dict(type="longtail.SeesawLoss", num_classes=3)).num_classes
        3
    """
    from longtail.compat import mmdet

    mmdet.register(registry)


def __getattr__(name: str) -> Any:
    if name in _MODULES:
        return importlib.import_module(f"longtail.compat.{name}")
    raise AttributeError(f"module 'longtail.compat' has no attribute {name!r}")
