"""``python -m longtail`` runs the ``longtail`` command line (:mod:`longtail.cli`)."""

from longtail.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
