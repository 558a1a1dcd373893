"""Hypothesis profiles for the property tests: ``ci`` (the default; small, derandomised, so a CI
run is reproducible and stays well under a minute on 2 cores) and ``dev`` (many more examples,
for a local hunt). Pick one with ``HYPOTHESIS_PROFILE=dev pytest ...``."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    max_examples=75,
    deadline=None,
    derandomize=True,  # fixed seeds: the same examples on every run
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
)
settings.register_profile(
    "dev",
    max_examples=1500,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
