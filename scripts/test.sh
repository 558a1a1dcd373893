#!/usr/bin/env bash
# Sets everything up (scripts/setup.sh), then runs the whole test suite: cargo test of the pure
# Rust core and pytest against the installed wheel.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
. "$ROOT/scripts/setup.sh"
cd "$ROOT"
cargo test --no-default-features --quiet
python -m pytest -q "$@"
