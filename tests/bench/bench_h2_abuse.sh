#!/usr/bin/env bash
# What hostile HTTP/2 clients make one worker hold, measured: unfinished header blocks trickled a
# byte a second, and a HEADERS + RST_STREAM flood (docs/operations.md, "Hostile HTTP clients").
# Not a test: run it by hand.
#
#   tests/bench/bench_h2_abuse.sh [BUILD_DIR]          (default: build)
#
# Environment: CONNS (default 100), KIB (384), HOLD (seconds, 15), PAIRS (100000).
# Starts the Kubernetes simulator and a daemon with one worker and the default configuration on
# free loopback ports, runs tests/bench/bench_h2_abuse.py trickle, then reset, against a fresh
# daemon each, and prints their lines. Every process it starts is stopped by its PID; its
# shared-memory segments and temporary files are removed.
set -uo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build}
bin=$build/imgpulld
[ -x "$bin" ] || { echo "no daemon at $bin; build it first" >&2; exit 1; }
conns=${CONNS:-100}
kib=${KIB:-384}
seconds=${HOLD:-15}
pairs=${PAIRS:-100000}

# shellcheck source=tests/common/sim_world.sh
. "$root/tests/common/sim_world.sh"
sim_world_start bench-h2

# measure NAME ARGS...: a fresh daemon with one worker, then bench_h2_abuse.py ARGS against it.
measure() {
    local name=$1 worker=""
    shift
    sim_world_daemon "$name"
    worker=$(pgrep -P "$daemon_pid" | head -1)
    [ -n "$worker" ] || { echo "no worker" >&2; exit 1; }
    echo "== $name: python3 tests/bench/bench_h2_abuse.py $1 PORT WORKER_PID ${*:2}"
    python3 "$root/tests/bench/bench_h2_abuse.py" "$1" "$daemon_port" "$worker" "${@:2}"
    sim_world_stop "$daemon_pid"
}
measure trickle trickle "$conns" "$kib" "$seconds"
measure reset reset "$pairs"
