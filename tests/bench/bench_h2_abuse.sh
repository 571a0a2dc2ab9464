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
    local name=$1 port daemon worker=""
    shift
    port=$(free_port)
    printf 'kube_server http://127.0.0.1:%s\ninstance %s%s\nlisten 127.0.0.1:%s\nworkers 1\n' \
        "$sim_port" "$instance" "$name" "$port" >"$work/$name.conf"
    "$bin" -c "$work/$name.conf" 2>"$work/$name.log" &
    daemon=$!
    pids+=("$daemon")
    for _ in $(seq 100); do
        curl -s -o /dev/null "http://127.0.0.1:$port/healthz" && break
        sleep 0.1
    done
    worker=$(pgrep -P "$daemon" | head -1)
    [ -n "$worker" ] || { echo "no worker" >&2; exit 1; }
    echo "== $name: python3 tests/bench/bench_h2_abuse.py $1 PORT WORKER_PID ${*:2}"
    python3 "$root/tests/bench/bench_h2_abuse.py" "$1" "$port" "$worker" "${@:2}"
    kill -TERM "$daemon"
    wait "$daemon"
}
measure trickle trickle "$conns" "$kib" "$seconds"
measure reset reset "$pairs"
