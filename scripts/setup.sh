#!/usr/bin/env bash
# Sets up the development environment on a fresh machine with Python 3.11 (pyenv or on the
# PATH), pip and a Rust toolchain: .venv with torch 2.13.0 from PyPI, then longtail's abi3
# wheel and its CUDA accelerator wheel (longtail-tch, built against that torch), both built by
# maturin into wheels/ and installed into the venv (what users install).
# Source it (`. scripts/setup.sh`) to keep the venv active afterwards.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
. "$ROOT/scripts/envs.sh"
make_env .venv 3.11 2.13.0
build_wheels
install_wheels .venv accelerator
export VIRTUAL_ENV="$ROOT/.venv"
export PATH="$VIRTUAL_ENV/bin:$PATH"
python -c "import longtail; longtail.show_config()"
