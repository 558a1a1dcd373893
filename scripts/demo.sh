#!/usr/bin/env bash
# Sets everything up (scripts/setup.sh), then runs the demo.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
. "$ROOT/scripts/setup.sh"
cd "$ROOT"
python -m longtail.examples.quickstart "$@"
