# The build and the test environments, shared by setup.sh and test.sh (source it).
#
# One abi3 `_core` wheel serves every environment; the CUDA accelerator wheel (longtail-tch)
# is built against torch 2.13 and installed only beside it.
#
#   name            python  torch   accelerator
#   .venv           3.11    2.13.0  yes   (the development environment; builds both wheels)
#   .venv-torch2.15 3.12    2.15.0  no
#   .venv-torch2.4  3.10    2.4.1   no
ROOT="${ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
ENVS=(".venv 3.11 2.13.0 accelerator" ".venv-torch2.15 3.12 2.15.0 -" ".venv-torch2.4 3.10 2.4.1 -")
TEST_DEPS=("numpy>=1.24" "pytest>=8" "hypothesis>=6.100" "scikit-learn>=1.3" "scipy>=1.10" "matplotlib>=3.7")
# The real packages the integration tests drive (pure Python), where they fit the torch.
INTEGRATION_DEPS=("mmengine==0.10.*" "pytorch-lightning==2.6.*" "torchdata==0.11.*")

# The interpreter for Python X.Y: pyenv's, else one on the PATH.
find_python() {
    local want="$1" candidate
    if command -v pyenv >/dev/null 2>&1; then
        for candidate in "$(pyenv root)"/versions/"$want".*/bin/python"$want"; do
            [ -x "$candidate" ] && { echo "$candidate"; return 0; }
        done
    fi
    command -v "python$want" || { echo "error: Python $want not found (pyenv install $want)" >&2; return 1; }
}

# make_env DIR PYTHON_VERSION TORCH_VERSION: a venv with that torch and the test dependencies.
make_env() {
    local dir="$1" py="$2" torch_version="$3"
    if [ ! -x "$ROOT/$dir/bin/python" ]; then
        "$(find_python "$py")" -m venv "$ROOT/$dir"
    fi
    local python="$ROOT/$dir/bin/python"
    if ! "$python" -c "import torch, sys; sys.exit(torch.__version__.split('+')[0] != '$torch_version')" 2>/dev/null; then
        "$python" -m pip install --quiet --upgrade pip
        "$python" -m pip install --quiet "torch==$torch_version"
    fi
    "$python" -m pip install --quiet "${TEST_DEPS[@]}"
}

# build_wheels: the abi3 `_core` wheel and the accelerator wheel into wheels/, with the
# development environment's maturin and torch (torch-sys finds libtorch through its python).
build_wheels() {
    local bin="$ROOT/.venv/bin"
    "$bin/python" -m pip install --quiet "maturin>=1.7,<2"
    rm -rf "$ROOT/wheels"
    (cd "$ROOT" && "$bin/maturin" build --release --out wheels --quiet 2>&1 \
        | grep -vE '^\s*(Compiling|Downloaded|Downloading)' || true)
    # Its own target dir: it builds the core crate (lib `_core`) without the binding, and a
    # shared dir would leave that build's lib_core.so where maturin picks up `_core`'s.
    (cd "$ROOT" && PATH="$bin:$PATH" VIRTUAL_ENV="$ROOT/.venv" LIBTORCH_USE_PYTORCH=1 \
        CARGO_TARGET_DIR="$ROOT/target/tch" \
        "$bin/maturin" build --release -m longtail-tch/Cargo.toml --out wheels --quiet 2>&1 \
        | grep -vE '^\s*(Compiling|Downloaded|Downloading)' || true)
    ls "$ROOT"/wheels/longtail-*.whl "$ROOT"/wheels/longtail_tch-*.whl >/dev/null
}

# accelerator_built: whether build_wheels built the accelerator here (its wheel and target/tch,
# against the development environment's torch 2.13).
accelerator_built() {
    compgen -G "$ROOT/wheels/longtail_tch-*.whl" >/dev/null && [ -d "$ROOT/target/tch/release" ] \
        && "$ROOT/.venv/bin/python" -c "import importlib.metadata as m, sys; \
sys.exit(not m.version('torch').startswith('2.13.'))" 2>/dev/null
}

# test_tch [CARGO_TEST_ARGS...]: cargo test of the core's libtorch formulations (feature `torch`,
# src/losses/*_tch.rs) against its CPU kernels, on CPU tensors. It builds where and as
# build_wheels built the accelerator (target/tch, release, tch's python-extension feature, the
# development environment's libtorch), so torch-sys and its C++ are not built again; the test
# binary loads libtorch from that torch's lib/ directory.
test_tch() {
    local bin="$ROOT/.venv/bin" torch_lib
    torch_lib="$("$bin/python" -c "import importlib.util, os; \
print(os.path.join(os.path.dirname(importlib.util.find_spec('torch').origin), 'lib'))")"
    (cd "$ROOT" && PATH="$bin:$PATH" VIRTUAL_ENV="$ROOT/.venv" LIBTORCH_USE_PYTORCH=1 \
        CARGO_TARGET_DIR="$ROOT/target/tch" LD_LIBRARY_PATH="$torch_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
        cargo test --release --no-default-features --features torch,tch/python-extension --lib "$@")
}

# install_wheels DIR WITH_ACCELERATOR: the built wheels into a venv (no rebuild, no download
# of their dependencies: the venv already has them).
install_wheels() {
    local python="$ROOT/$1/bin/python"
    "$python" -m pip install --quiet --force-reinstall --no-deps "$ROOT"/wheels/longtail-*.whl
    if [ "$2" = accelerator ]; then
        "$python" -m pip install --quiet --force-reinstall --no-deps "$ROOT"/wheels/longtail_tch-*.whl
    fi
}
