#!/usr/bin/env bash
# WebSocket fan-out benchmark: builds tests/bench/bench_ws.c and runs it three times, the raw
# write loop and imgpulld's worker on the same 10 000 subscribers each time. Figures and their
# reading are in docs/benchmarks.md ("WebSocket fan-out").
#
#   tests/bench/bench_ws.sh [BUILD_DIR] [CLIENTS] [CHANGES]
#
# Needs RLIMIT_NOFILE above 2 x CLIENTS (bench_ws raises it to 200000, which needs root or a
# high enough hard limit). Loopback only.
set -euo pipefail
build=${1:-$(cd "$(dirname "$0")/../.." && pwd)/build}
clients=${2:-10000}
changes=${3:-200}
cmake --build "$build" -j2 --target bench_ws >/dev/null
ulimit -n 200000 2>/dev/null || true
echo "$(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), Linux $(uname -r)"
for run in 1 2 3; do
    echo "-- run $run"
    "$build/bench/bench_ws" --clients "$clients" --changes "$changes" --jobs 16 --gap-ms 20
done
