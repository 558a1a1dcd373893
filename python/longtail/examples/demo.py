"""``python -m longtail.examples.demo`` is ``longtail demo``. The demo's code lives in
:mod:`longtail.cli.demo`, the ``demo`` command of the CLI package; its names are re-exported here
under their original path."""

from __future__ import annotations

import sys

from longtail.cli import demo as _demo
from longtail.cli.demo import (  # noqa: F401  (Net ... train: public, not in __all__)
    BALANCED_METHODS,
    METHODS,
    Config,
    DemoData,
    MethodResult,
    Net,
    NormedLinear,
    ProgressBar,
    format_table,
    load_cifar100,
    load_digits,
    make_model,
    predict,
    run,
    run_once,
    train,
    write_plots,
)

__all__ = _demo.__all__


def main(argv: list[str] | None = None) -> int:
    """``python -m longtail.examples.demo`` is ``longtail demo``."""
    from longtail.cli import main as cli_main

    return cli_main(["demo", *(argv if argv is not None else sys.argv[1:])])


if __name__ == "__main__":
    raise SystemExit(main())
