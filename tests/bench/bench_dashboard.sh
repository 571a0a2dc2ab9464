#!/usr/bin/env bash
# Dashboard benchmark: 1 000 jobs of 16 nodes and 100 job changes per second for 30 s, shown by
# the dashboard in chromium headless; records long tasks and frame intervals from the browser's
# performance data (target: no long task over 50 ms). Figures in docs/benchmarks.md.
#
#   tests/bench/bench_dashboard.sh [BUILD_DIR] [JOBS] [RATE] [SECONDS]
#
# The feeder (bench_dashboard_feed.c) plays the master: a table, a real worker, the changes.
# Loopback only; it stops the worker and removes the table when it ends.
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-${BUILD:-$src/build}}
cmake --build "$build" -j2 --target bench_dashboard_feed >/dev/null
echo "$(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), Linux $(uname -r), $(/usr/bin/chromium --version 2>/dev/null | head -1)"
/usr/bin/python3 "$src/tests/bench/bench_dashboard.py" --feed "$build/bench/bench_dashboard_feed" \
    --jobs "${2:-1000}" --rate "${3:-100}" --seconds "${4:-30}"
