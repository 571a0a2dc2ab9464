#!/usr/bin/env bash
# The Redis link: remote ingestion beside a plain hiredis XREAD loop over the same pre-filled
# Stream, and Redis CPU per task change. Starts its own redis-server (no persistence) on a free
# loopback port and stops it by PID.
# Usage: tests/bench/bench_redis.sh [RECORDS] [JOBS]   (from the repository root)
# BENCH_NICE=-20 runs redis-server and the benchmark at that nice value (root only), so that on a
# loaded machine they are not preempted in the middle of a call: INFO commandstats counts the
# wall-clock time inside each call, preemption included.
set -euo pipefail
cd "$(dirname "$0")/../.."
records=${1:-200000}
jobs=${2:-20000}
build=${BUILD:-build}
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
dir=$(mktemp -d /tmp/ipd-bench-redis.XXXXXX)
nice=(nice -n "${BENCH_NICE:-0}")
"${nice[@]}" redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$dir" --daemonize no \
    >"$dir/redis.log" 2>&1 &
redis=$!
trap 'kill $redis 2>/dev/null; wait $redis 2>/dev/null; rm -rf "$dir"' EXIT
until redis-cli -p "$port" PING >/dev/null 2>&1; do sleep 0.05; done
echo "redis-server $(redis-server --version | awk '{print $3}'), $(nproc) CPUs"
"${nice[@]}" "$build/bench/bench_redis" "$port" "$records" "$jobs"
