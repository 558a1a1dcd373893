"""Where :class:`~longtail.samplers.MetaSampler` lived before the samplers became a package:
kept so that objects pickled by earlier versions still load."""

from longtail.samplers.meta import MetaSampler

__all__ = ["MetaSampler"]
