#!/usr/bin/env bash
# Pod-log streaming: one stream's throughput through imgpulld's /ws/pod-logs next to socat
# relaying the same log over plain HTTP (and the source read directly), then 100 concurrent
# streams, then the first-byte latency of short and of follow streams.
#
# The log comes from tests/bench/bench_logsrc.c, a fast source that answers the pod log path
# itself (fixed-width 100-byte lines from memory, at socket speed) and relays every other
# request (the pod lookups, the master's lists and watches) to the Kubernetes simulator: the
# daemon and socat both talk to it, so both relay the same bytes from the same source.
#
# Usage (from the repository root): tests/bench/bench_logs.sh [BYTES_PER_STREAM] [STREAMS]
# Needs socat (apt-get install socat) and python3-websockets. BUILD selects the build dir;
# PARTS selects what runs (default "one many first": one stream, many streams, first byte);
# SAMPLES the first-byte samples per figure (default 50). The WebSocket side is read twice:
# "ws" with the websockets library, "raw ws" with bench_logs.py's plain-socket reader, whose
# work per byte is the HTTP client's; CONTAINER=named makes the WebSocket
# query of the one- and many-stream parts name the container (default: it names none and the
# apiserver picks the pod's only one; the first-byte part measures both).
set -euo pipefail
cd "$(dirname "$0")/../.."
one=${1:-200000000}
streams=${2:-100}
parts=" ${PARTS:-one many first} "
samples=${SAMPLES:-50}
case ${CONTAINER:-unnamed} in
named) wsq="pod=bench&container=main" ;;
unnamed) wsq="pod=bench" ;;
*) echo "CONTAINER is named or unnamed" >&2; exit 2 ;;
esac
per=$((one / 40)) # bytes per stream when many run at once
build=${BUILD:-build}
py=/usr/bin/python3
command -v socat >/dev/null || { echo "socat is not installed (apt-get install socat)" >&2; exit 1; }
free_port() { $py -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
work=$(mktemp -d)
pids=()
trap 'set +e; for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done; rm -f "/dev/shm/imgpulld.bench$$@"*; rm -rf "$work"' EXIT

sim=$(free_port)
$py tests/kubesim/kubesim.py --port "$sim" --pull-ms 50 --log-rate 0 >"$work/sim.log" 2>&1 &
pids+=($!)
until grep -q "listening on" "$work/sim.log"; do sleep 0.1; done
api() { curl -sf -XPOST -H 'Content-Type: application/json' -d "$2" "http://127.0.0.1:$sim$1" >/dev/null; }
api /_sim/outcome '{"pattern":"(^|/)bench:","outcome":"Run","log_rate":0}'
api /api/v1/namespaces/imgpulld/pods \
    '{"metadata":{"name":"bench"},"spec":{"nodeName":"node-1","containers":[{"name":"main","image":"bench:1"}]}}'
sleep 1
cmake --build "$build" -j2 --target bench_logsrc >/dev/null
"$build/bench/bench_logsrc" --upstream "$sim" >"$work/src.log" 2>&1 &
pids+=($!)
until grep -q "listening on" "$work/src.log"; do sleep 0.1; done
src=$(grep -o 'listening on 127.0.0.1:[0-9]*' "$work/src.log" | cut -d: -f2)

port=$(free_port)
IMGPULLD_LOGS_MAX_STREAMS_PER_WORKER=1000 IMGPULLD_LOGS_MAX_STREAMS=1000 \
    "$build/imgpulld" --kube-server "http://127.0.0.1:$src" --instance "bench$$" --listen "127.0.0.1:$port" \
    --workers 2 --log-level warn >"$work/daemon.log" 2>&1 &
pids+=($!)
until curl -sf "http://127.0.0.1:$port/readyz" >/dev/null; do sleep 0.1; done

relay=$(free_port)
socat TCP-LISTEN:"$relay",bind=127.0.0.1,reuseaddr,fork,backlog=512 TCP:127.0.0.1:"$src" &
pids+=($!)
sleep 0.3

daemon_pid=${pids[2]}
socat_pid=${pids[3]}
# CPU ticks (utime + stime, and of reaped children: socat forks one per connection) of PIDS.
ticks() { for p in "$@"; do cut -d' ' -f14-17 "/proc/$p/stat"; done | awk '{t += $1 + $2 + $3 + $4} END {print t}'; }
workers() { cat "/proc/$daemon_pid/task/$daemon_pid/children"; }
# cpu_run LABEL PIDS-COMMAND BENCH-ARGS...: runs the client, prints its line and the CPU ms per MB the PIDs spent.
cpu_run() {
    local label=$1 who=$2 out t0 t1
    shift 2
    t0=$(ticks $($who))
    out=$(bench "$@")
    t1=$(ticks $($who))
    echo "  $label $out, CPU $(awk -v d=$((t1 - t0)) -v hz="$(getconf CLK_TCK)" -v b="$(echo "$out" | sed 's/.*"bytes": \([0-9]*\).*/\1/')" \
        'BEGIN {printf "%.2f ms/MB", d * 1000 / hz / (b / 1e6)}')"
}
socat_self() { echo "$socat_pid"; }
log="/api/v1/namespaces/imgpulld/pods/bench/log?container=main&follow=true"
bench() { $py tests/bench/bench_logs.py "$@"; }
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg); WebSocket query of one/many: $wsq"
echo "machine: $(nproc) vCPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
if [[ $parts == *" one "* ]]; then
    for run in 1 2 3; do
        echo "run $run, one stream of $one bytes:"
        echo "  source direct:    $(bench http "$src" "$log&limitBytes=$one" 1)"
        cpu_run "socat relay:     " socat_self http "$relay" "$log&limitBytes=$one" 1
        cpu_run "imgpulld ws:     " workers ws "$port" "$wsq&limitBytes=$one" 1
        cpu_run "imgpulld raw ws: " workers rawws "$port" "$wsq&limitBytes=$one" 1
    done
fi
if [[ $parts == *" many "* ]]; then
    echo "$streams concurrent streams of $per bytes:"
    cpu_run "socat relay:" socat_self http "$relay" "$log&limitBytes=$per" "$streams"
    cpu_run "imgpulld ws:" workers ws "$port" "$wsq&limitBytes=$per" "$streams"
    cpu_run "imgpulld raw ws:" workers rawws "$port" "$wsq&limitBytes=$per" "$streams"
fi
if [[ $parts == *" first "* ]]; then
    # Both clients are plain asyncio sockets (first-pair: the WebSocket upgrade and frames read
    # by hand), one sample of each in turn, both naming the container.
    echo "first log byte, $samples connections of each in turn (tailLines=10, follow=false):"
    echo "  $(bench first-pair "$relay" "/api/v1/namespaces/imgpulld/pods/bench/log?container=main&tailLines=10" \
        "$port" "pod=bench&container=main&tailLines=10&follow=false" "$samples")"
    echo "first log byte of a follow stream, $samples connections of each in turn (tailLines=10, follow=true, limitBytes=1000):"
    echo "  $(bench first-pair "$relay" "$log&tailLines=10&limitBytes=1000" \
        "$port" "pod=bench&container=main&tailLines=10&limitBytes=1000" "$samples")"
    echo "the same, the container not named in the WebSocket query (the apiserver picks it):"
    echo "  $(bench first-pair "$relay" "$log&tailLines=10&limitBytes=1000" \
        "$port" "pod=bench&tailLines=10&limitBytes=1000" "$samples")"
fi
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
