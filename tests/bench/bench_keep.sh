#!/bin/bash
# How long a keep job takes to follow a node that joins: from POST /_sim/nodes (a node with the
# job's label) to the node's task `succeeded` in GET /api/v1/images/pull-jobs/{id}, polled every
# 20 ms. The simulator pulls in 100 ms. See docs/benchmarks.md "Keep jobs".
#
#   tests/bench/bench_keep.sh [BUILD_DIR] [NODES]      # defaults: build 10
set -euo pipefail
BUILD=${1:-build}
NODES=${2:-10}
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=$root/$BUILD/imgpulld
# shellcheck source=tests/common/sim_world.sh
. "$root/tests/common/sim_world.sh"
sim_world_start bench-keep --nodes 3 --pull-ms 100
sim_world_daemon keep "stats_file $work/stats.json"
SP=$sim_port
PORT=$daemon_port
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
