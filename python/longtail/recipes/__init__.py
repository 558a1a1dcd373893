"""Two-stage and two-branch training recipes for long-tailed recognition.

* :mod:`longtail.recipes.decoupling`: decoupling representation and classifier (cRT,
  τ-normalisation, LWS, NCM; Kang et al. ICLR 2020, facebookresearch/classifier-balancing);
* :mod:`longtail.recipes.bbn`: the Bilateral-Branch Network with cumulative learning (Zhou et
  al. CVPR 2020, Megvii-Nanjing/BBN).

Both are also importable as :mod:`longtail.decoupling` and :mod:`longtail.bbn`. The deferred
re-weighting schedule of LDAM-DRW is :class:`longtail.weights.DeferredReweighting`.
"""

from longtail.recipes import bbn, decoupling

__all__ = ["bbn", "decoupling"]
