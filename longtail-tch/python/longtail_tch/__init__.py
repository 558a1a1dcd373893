"""longtail's CUDA accelerator: the loss formulas as libtorch ops, through tch.

The native module ``longtail_tch._tch`` links the libtorch of one torch release, so this package
never imports it itself: ``longtail`` compares :data:`BUILT_FOR_TORCH` with the installed torch
first and imports ``_tch`` only when they match (loading it beside another torch would fail on
undefined symbols, or worse).
"""

# tch 0.26 (pinned in Cargo.toml) binds exactly this torch release; the two move together.
BUILT_FOR_TORCH = "2.13"
