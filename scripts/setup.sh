#!/usr/bin/env bash
# Sets up everything on a fresh machine with Python 3.10+, pip and a Rust toolchain:
# a virtualenv in .venv with torch 2.13.0 from PyPI, then longtail's release wheel, built by
# maturin against that torch's libtorch and installed into the venv (what users install).
# Source it (`. scripts/setup.sh`) to keep the venv active afterwards.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-python3}"
TORCH_VERSION=2.13.0

if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
export VIRTUAL_ENV="$ROOT/.venv"
export PATH="$VIRTUAL_ENV/bin:$PATH"
# torch-sys locates libtorch through the venv's python (the torch wheel's own libtorch).
export LIBTORCH_USE_PYTORCH=1

if ! python -c "import torch, sys; sys.exit(torch.__version__.split('+')[0] != '$TORCH_VERSION')" 2>/dev/null; then
    python -m pip install --quiet --upgrade pip
    python -m pip install --quiet "torch==$TORCH_VERSION"
fi
python -m pip install --quiet "maturin>=1.7,<2" "numpy>=1.24" "pytest>=8" "scikit-learn>=1.3" "scipy>=1.10" "matplotlib>=3.7"

rm -rf dist
maturin build --release --out dist --quiet 2>&1 | grep -vE '^\s*(Compiling|Downloaded|Downloading)' || true
python -m pip install --quiet --force-reinstall --no-deps dist/longtail-*.whl
python -c "import longtail; print('longtail', longtail.__version__, 'installed with torch', __import__('torch').__version__)"
