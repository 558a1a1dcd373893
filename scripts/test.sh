#!/usr/bin/env bash
# Builds the wheels once (scripts/setup.sh), then runs the whole test suite in every supported
# environment from that one build: cargo test of the pure Rust core and of its libtorch
# formulations (against the accelerator's build of libtorch's bindings), then pytest against the
# installed wheel beside torch 2.13 (Python 3.11, with the CUDA accelerator), torch 2.15
# (Python 3.12) and torch 2.4 (Python 3.10). `LONGTAIL_TEST_ENVS=.venv` limits it to the
# development environment; pytest arguments are passed on.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
. "$ROOT/scripts/setup.sh"
cd "$ROOT"
cargo test --no-default-features --quiet
if accelerator_built; then
    test_tch --quiet
fi
"$ROOT/.venv/bin/python" -m pip install --quiet "${INTEGRATION_DEPS[@]}" \
    || echo "note: integration packages not installed; their tests skip"
selected="${LONGTAIL_TEST_ENVS:-.venv .venv-torch2.15 .venv-torch2.4}"
for spec in "${ENVS[@]}"; do
    read -r dir py torch_version accelerator <<<"$spec"
    case " $selected " in *" $dir "*) ;; *) continue ;; esac
    make_env "$dir" "$py" "$torch_version"
    install_wheels "$dir" "$accelerator"
    echo "== torch $torch_version, Python $py ($dir)"
    "$ROOT/$dir/bin/python" -c "import longtail; longtail.show_config()"
    "$ROOT/$dir/bin/python" -m pytest -q -p no:cacheprovider "$@"
done
