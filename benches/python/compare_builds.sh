#!/usr/bin/env bash
# Before/after: runs each benchmark script with two longtail builds, interleaved A B A B, so
# that a slow baseline in one run cannot pass for a speed-up. Each run prints its ratios
# against the alternatives measured in that same run.
#
#   bash benches/python/compare_builds.sh /path/to/old/site-packages [script args...]
#
# A is the build found under the given directory (e.g. `pip install --no-deps --target DIR
# old.whl`), B the one installed in the current Python. Output: bench-results/<script>.<A|B><n>.txt
set -euo pipefail
OLD="$1"
shift
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PYTHON="${PYTHON:-python}"
mkdir -p "$ROOT/bench-results"
for script in bench_losses bench_detection_losses bench_samplers; do
    for round in 1 2; do
        echo "== $script round $round: A (old)"
        PYTHONPATH="$OLD" "$PYTHON" "$ROOT/benches/python/$script.py" "$@" \
            | tee "$ROOT/bench-results/$script.A$round.txt"
        echo "== $script round $round: B (new)"
        "$PYTHON" "$ROOT/benches/python/$script.py" "$@" \
            | tee "$ROOT/bench-results/$script.B$round.txt"
    done
done
