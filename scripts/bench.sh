#!/usr/bin/env bash
# Runs every benchmark in tests/bench/ against the Release-ish build; figures and the exact
# commands are recorded in docs/benchmarks.md. Benchmarks install what they need themselves.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD:-build}
echo "== shared-memory table =="
"$build/bench/bench_table"
echo "== watch throughput =="
BUILD=$build tests/bench/bench_watch.sh
echo "== one pod watch line: jansson, pruned decoder, skim =="
"$build/bench/bench_json_prune" tests/fuzz/corpus/fuzz_json_prune/sim_line \
    tests/fuzz/corpus/fuzz_json_prune/pod_managed_fields
for script in tests/bench/bench_http.sh tests/bench/bench_ws.sh tests/bench/bench_logs.sh tests/bench/bench_dashboard.sh; do
    if [ -x "$script" ]; then
        echo "== $(basename "$script" .sh) =="
        BUILD=$build "$script"
    fi
done
