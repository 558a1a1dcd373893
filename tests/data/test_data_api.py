"""The data package's names at the top level of longtail (longtail/data/__init__.py)."""

from __future__ import annotations


def test_public_names() -> None:
    import longtail

    assert longtail.class_counts is longtail.data.class_counts
    for name in ("data", "metrics", "stats", "class_counts"):
        assert name in longtail.__all__
