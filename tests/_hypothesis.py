"""Hypothesis profiles for the property tests (import this module before using ``given``).

``ci`` (the default) keeps the whole sampler property run well under 30 s; ``dev`` runs
many more examples: ``HYPOTHESIS_PROFILE=dev pytest tests/samplers/test_properties.py``.
Both are derandomized, so a run is reproducible and never depends on a global seed.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "dev",
    max_examples=1000,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
