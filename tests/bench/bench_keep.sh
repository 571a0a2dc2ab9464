#!/bin/bash
# How long a keep job takes to follow a node that joins: from POST /_sim/nodes (a node with the
# job's label) to the node's task `succeeded` in GET /api/v1/images/pull-jobs/{id}, polled every
# 20 ms. The simulator pulls in 100 ms. See docs/benchmarks.md "Keep jobs".
#
#   tests/bench/bench_keep.sh [BUILD_DIR] [NODES]      # defaults: build 10
set -euo pipefail
BUILD=${1:-build}
NODES=${2:-10}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
DIR=$(mktemp -d)
INSTANCE=bench-keep-$$
SIM=0
DAEMON=0
cleanup() {
    [ "$DAEMON" -gt 0 ] && kill "$DAEMON" 2>/dev/null && wait "$DAEMON" 2>/dev/null
    [ "$SIM" -gt 0 ] && kill "$SIM" 2>/dev/null && wait "$SIM" 2>/dev/null
    rm -f /dev/shm/imgpulld."$INSTANCE"* /dev/shm/imgpulld-stats."$INSTANCE"*
    rm -rf "$DIR"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }

python3 "$ROOT/tests/kubesim/kubesim.py" --port 0 --nodes 3 --pull-ms 100 >"$DIR/sim.out" 2>&1 &
SIM=$!
for _ in $(seq 100); do grep -q listening "$DIR/sim.out" && break; sleep 0.1; done
SP=$(grep -o '127.0.0.1:[0-9]*' "$DIR/sim.out" | head -1 | cut -d: -f2)
PORT=$(free_port)
cat >"$DIR/imgpulld.conf" <<CONF
kube_server http://127.0.0.1:$SP
instance $INSTANCE
listen 127.0.0.1:$PORT
workers 1
stats_file $DIR/stats.json
CONF
"$ROOT/$BUILD/imgpulld" -c "$DIR/imgpulld.conf" >"$DIR/daemon.log" 2>&1 &
DAEMON=$!
for _ in $(seq 200); do curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null && break; sleep 0.1; done
curl -sf -XPOST -d '{"labels":{"pool":"warm"}}' "http://127.0.0.1:$SP/_sim/nodes/node-1/labels" >/dev/null
ID=$(curl -sf -H 'Content-Type: application/json' \
    -d '{"image":"busybox:1.36","node_selector":{"pool":"warm"},"keep":true}' \
    "http://127.0.0.1:$PORT/api/v1/images/pull" | python3 -c 'import json,sys;print(json.load(sys.stdin)["jobs"][0]["id"])')
sleep 1
for n in $(seq "$NODES"); do
    t0=$(date +%s%N)
    curl -sf -XPOST -d "{\"name\":\"extra-$n\",\"labels\":{\"pool\":\"warm\"}}" "http://127.0.0.1:$SP/_sim/nodes" >/dev/null
    until curl -sf "http://127.0.0.1:$PORT/api/v1/images/pull-jobs/$ID" | python3 -c "
import json, sys
j = json.load(sys.stdin)
sys.exit(0 if any(t['node'] == 'extra-$n' and t['state'] == 'succeeded' for t in j['tasks']) else 1)"; do
        sleep 0.02
    done
    echo "extra-$n $(( ($(date +%s%N) - t0) / 1000000 ))"
done | python3 -c '
import sys
ms = []
for line in sys.stdin:
    node, t = line.split()
    ms.append(int(t))
    print("node %s: joined -> pulled in %s ms" % (node, t))
ms.sort()
print("nodes %d, median %d ms, max %d ms" % (len(ms), ms[(len(ms) - 1) // 2], ms[-1]))'
