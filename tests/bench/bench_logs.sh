#!/usr/bin/env bash
# Pod-log streaming: one stream's throughput through imgpulld's /ws/pod-logs next to socat
# relaying the same simulator log over plain HTTP (and the simulator read directly), then 100
# concurrent streams, then the first-byte latency. The simulator's "blast" log is generated as
# it is read, so every reader gets the same bytes at the simulator's own speed.
#
# Usage (from the repository root): tests/bench/bench_logs.sh [BYTES_PER_STREAM] [STREAMS]
# Needs socat (apt-get install socat) and python3-websockets. BUILD selects the build dir.
set -euo pipefail
cd "$(dirname "$0")/../.."
one=${1:-200000000}
streams=${2:-100}
per=$((one / 40)) # bytes per stream when many run at once
build=${BUILD:-build}
py=/usr/bin/python3
command -v socat >/dev/null || { echo "socat is not installed (apt-get install socat)" >&2; exit 1; }
free_port() { $py -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
work=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done; rm -rf "$work"' EXIT

sim=$(free_port)
$py tests/kubesim/kubesim.py --port "$sim" --pull-ms 50 --log-rate 0 >"$work/sim.log" 2>&1 &
pids+=($!)
until grep -q "listening on" "$work/sim.log"; do sleep 0.1; done
api() { curl -sf -XPOST -H 'Content-Type: application/json' -d "$2" "http://127.0.0.1:$sim$1" >/dev/null; }
api /_sim/outcome '{"pattern":"(^|/)bench:","outcome":"Run","log_rate":0}'
api /api/v1/namespaces/imgpulld/pods \
    '{"metadata":{"name":"bench"},"spec":{"nodeName":"node-1","containers":[{"name":"main","image":"bench:1"}]}}'
sleep 1
api /_sim/logs "{\"namespace\":\"imgpulld\",\"pod\":\"bench\",\"bytes\":$((one * 4))}"

port=$(free_port)
IMGPULLD_LOGS_MAX_STREAMS_PER_WORKER=1000 IMGPULLD_LOGS_MAX_STREAMS=1000 \
    "$build/imgpulld" --kube-server "http://127.0.0.1:$sim" --instance "bench$$" --listen "127.0.0.1:$port" \
    --workers 2 --log-level warn >"$work/daemon.log" 2>&1 &
pids+=($!)
until curl -sf "http://127.0.0.1:$port/readyz" >/dev/null; do sleep 0.1; done

relay=$(free_port)
socat TCP-LISTEN:"$relay",bind=127.0.0.1,reuseaddr,fork,backlog=512 TCP:127.0.0.1:"$sim" &
pids+=($!)
sleep 0.3

log="/api/v1/namespaces/imgpulld/pods/bench/log?container=main&follow=true"
bench() { $py tests/bench/bench_logs.py "$@"; }
echo "machine: $(nproc) vCPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
for run in 1 2 3; do
    echo "run $run, one stream of $one bytes:"
    echo "  simulator direct: $(bench http "$sim" "$log&limitBytes=$one" 1)"
    echo "  socat relay:      $(bench http "$relay" "$log&limitBytes=$one" 1)"
    echo "  imgpulld ws:      $(bench ws "$port" "pod=bench&limitBytes=$one" 1)"
done
echo "$streams concurrent streams of $per bytes:"
echo "  socat relay: $(bench http "$relay" "$log&limitBytes=$per" "$streams")"
echo "  imgpulld ws: $(bench ws "$port" "pod=bench&limitBytes=$per" "$streams")"
echo "first log byte, 50 sequential connections (tailLines=10, follow=false):"
echo "  socat relay: $(bench first-http "$relay" "/api/v1/namespaces/imgpulld/pods/bench/log?container=main&tailLines=10" 50)"
echo "  imgpulld ws: $(bench first-ws "$port" "pod=bench&tailLines=10&follow=false" 50)"
