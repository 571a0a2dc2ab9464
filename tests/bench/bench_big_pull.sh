#!/bin/bash
# A pull onto many simulated nodes: from the POST to every task `succeeded`, with the master's
# CPU time (utime + stime of /proc/PID/stat) per watch event it applied and per job change it
# published. Beside it, in the same run and against a fresh simulator of the same size, the
# peer: the same number of Kubernetes Jobs created by a plain loop (one Job per node, as the
# daemon creates them; one container running /bin/true) and polled to completion through the
# Job list, so that the simulator's own pace is known. Between the two, the daemon starts again
# with the pull's pods, Jobs and events in the simulator, first reattaching the table the first
# master left, then from an empty table: the time to /readyz 200 and the master's VmHWM, beside
# `kubectl get pods -A -o json` of the same pods.
# See docs/benchmarks.md "A pull onto 5 000 nodes".
#
#   tests/bench/bench_big_pull.sh [BUILD_DIR] [NODES] [PULL_MS]   # defaults: build 5000 100
set -euo pipefail
BUILD=${1:-build}
NODES=${2:-5000}
PULL_MS=${3:-100}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
root=$ROOT
bin=$ROOT/$BUILD/imgpulld
# shellcheck source=tests/common/sim_world.sh
. "$ROOT/tests/common/sim_world.sh"
now() { date +%s.%N; }
# utime + stime of a process, in seconds.
cpu_of() { awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) / hz}' "/proc/$1/stat"; }
SIM_ARGS=(--nodes "$NODES" --pull-ms "$PULL_MS" --history 1000000)

# ---- imgpulld ----
sim_world_start bench-bigpull "${SIM_ARGS[@]}"
DIR=$work
SP=$sim_port
sim_world_daemon main "stats_file $DIR/stats.json"
DAEMON=$daemon_pid
PORT=$daemon_port
stat_of() {
    curl -sf "http://127.0.0.1:$PORT/api/v1/stats" |
        python3 -c "import json,sys;m=json.load(sys.stdin)['master'];print(m['watch_events_total'],m['model_published_total'])"
}
read -r EV0 PUB0 < <(stat_of)
CPU0=$(cpu_of "$DAEMON")
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
T0=$(now)
ID=$(curl -sf -H 'Content-Type: application/json' -d '{"image":"busybox:1.36","all_nodes":true}' \
    "http://127.0.0.1:$PORT/api/v1/images/pull" | python3 -c 'import json,sys;print(json.load(sys.stdin)["jobs"][0]["id"])')
T_POST=$(now)
until curl -sf "http://127.0.0.1:$PORT/api/v1/images/pull-jobs/$ID" | python3 -c "
import json, sys
j = json.load(sys.stdin)
n = j['nodes']
sys.exit(0 if j['state'] == 'succeeded' and n['succeeded'] == $NODES else 1)"; do
    sleep 0.2
done
T1=$(now)
CPU1=$(cpu_of "$DAEMON")
read -r EV1 PUB1 < <(stat_of)
LOAD1=$(cut -d' ' -f1-3 /proc/loadavg)
# ---- start-up with the pull's pods, Jobs and events in the simulator: reattaching the table the
# first master left, then from an empty table (its shared memory removed) ----
# Starts the daemon, waits for /readyz 200; sets S (seconds to it), HWM, ANON, SHMEM (kB).
restart() {
    sim_world_stop "$DAEMON"
    [ "$1" = cold ] && rm -f /dev/shm/imgpulld."${instance}main"@*
    local s0
    s0=$(now)
    "$bin" -c "$DIR/main.conf" >>"$DIR/main.log" 2>&1 &
    DAEMON=$!
    pids+=("$DAEMON")
    until curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null; do sleep 0.05; done
    S=$(python3 -c "print($(now) - $s0)")
    HWM=$(awk '/VmHWM/ {print $2}' "/proc/$DAEMON/status")
    ANON=$(awk '/RssAnon/ {print $2}' "/proc/$DAEMON/status")
    SHMEM=$(awk '/RssShmem/ {print $2}' "/proc/$DAEMON/status")
}
restart warm
WARM="$S $HWM $ANON $SHMEM"
restart cold
COLD="$S $HWM $ANON $SHMEM"
K0=$(now)
kubectl --server "http://127.0.0.1:$SP" --cache-dir "$DIR/kube-cache" get pods -A -o json >"$DIR/pods.json"
K1=$(now)
PODS=$(python3 -c "import json;print(len(json.load(open('$DIR/pods.json'))['items']))")
python3 - <<PY
wall = $T1 - $T0
cpu = $CPU1 - $CPU0
ev = $EV1 - $EV0
pub = $PUB1 - $PUB0
print("imgpulld: %d nodes, POST answered in %.1f s, last task succeeded after %.1f s (load %s -> %s)"
      % ($NODES, $T_POST - $T0, wall, "$LOAD0", "$LOAD1"))
print("  master CPU %.2f s for %d watch events (%.0f us/event) and %d job changes published (%.0f us/change)"
      % (cpu, ev, cpu * 1e6 / max(ev, 1), pub, cpu * 1e6 / max(pub, 1)))
for what, fig in (("reattaching the table", "$WARM"), ("from an empty table", "$COLD")):
    t, hwm, anon, shmem = (float(x) for x in fig.split())
    print("start-up %s with these %d pods: /readyz 200 after %.2f s, master VmHWM %d kB (then RssAnon %d kB, "
          "RssShmem %d kB); kubectl get pods -A -o json %.2f s (%.2fx)"
          % (what, $PODS, t, hwm, anon, shmem, $K1 - $K0, t / ($K1 - $K0)))
PY
sim_world_stop "$DAEMON"
sim_world_stop "$sim_pid"

# ---- peer: the same Jobs from a plain loop, on a fresh simulator ----
sim_world_sim "${SIM_ARGS[@]}"
SP=$sim_port
P0=$(now)
python3 - "$SP" "$NODES" <<'PY'
import http.client, json, sys
port, nodes = int(sys.argv[1]), int(sys.argv[2])
c = http.client.HTTPConnection("127.0.0.1", port)
for i in range(1, nodes + 1):
    body = {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": "peer-%d" % i, "namespace": "default"},
            "spec": {"backoffLimit": 3, "template": {"spec": {
                "nodeName": "node-%d" % i, "restartPolicy": "Never",
                "containers": [{"name": "pull", "image": "busybox:1.36", "command": ["/bin/true"]}]}}}}
    c.request("POST", "/apis/batch/v1/namespaces/default/jobs", json.dumps(body),
              {"Content-Type": "application/json"})
    r = c.getresponse()
    r.read()
    if r.status != 201:
        sys.exit("job %d: HTTP %d" % (i, r.status))
PY
P_POST=$(now)
until curl -sf "http://127.0.0.1:$SP/apis/batch/v1/namespaces/default/jobs" | python3 -c "
import json, sys
items = json.load(sys.stdin)['items']
done = sum(1 for j in items if (j.get('status') or {}).get('succeeded', 0) >= 1)
sys.exit(0 if done == $NODES else 1)"; do
    sleep 0.2
done
P1=$(now)
PLOAD=$(cut -d' ' -f1-3 /proc/loadavg)

python3 - <<PY
peer = $P1 - $P0
print("peer: %d Jobs created by a plain loop in %.1f s, all succeeded after %.1f s (load %s)"
      % ($NODES, $P_POST - $P0, peer, "$PLOAD"))
print("ratio: %.2fx the peer" % (($T1 - $T0) / peer))
PY
