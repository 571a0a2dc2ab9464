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

work=$(mktemp -d /tmp/ipd-bench-h2.XXXXXX)
instance="bench-h2-$$-"
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
    rm -f /dev/shm/imgpulld."$instance"*
    rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

python3 -u "$root/tests/kubesim/kubesim.py" --port 0 --nodes 2 >"$work/sim.out" 2>"$work/sim.err" &
pids+=("$!")
for _ in $(seq 100); do
    grep -q '^listening on ' "$work/sim.out" 2>/dev/null && break
    sleep 0.1
done
sim_port=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$work/sim.out")
[ -n "$sim_port" ] || { echo "the simulator did not start" >&2; exit 1; }

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
