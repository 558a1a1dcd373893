#!/usr/bin/env bash
# Sets everything up (scripts/setup.sh), then runs the demo: `longtail demo` compares the
# package's methods with plain cross-entropy on a long-tailed data set. Arguments are passed on
# (e.g. `bash scripts/demo.sh --quick`).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
. "$ROOT/scripts/setup.sh"
cd "$ROOT"
longtail demo "$@"
