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
DIR=$(mktemp -d)
INSTANCE=bench-bigpull-$$
SIM=0
DAEMON=0
stop() { [ "$1" -gt 0 ] && kill "$1" 2>/dev/null && wait "$1" 2>/dev/null || true; }
cleanup() {
    stop "$DAEMON"
    stop "$SIM"
    rm -f /dev/shm/imgpulld."$INSTANCE"* /dev/shm/imgpulld-stats."$INSTANCE"*
    rm -rf "$DIR"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
now() { date +%s.%N; }
# utime + stime of a process, in seconds.
cpu_of() { awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) / hz}' "/proc/$1/stat"; }

start_sim() {
    python3 "$ROOT/tests/kubesim/kubesim.py" --port 0 --nodes "$NODES" --pull-ms "$PULL_MS" \
        --history 1000000 >"$DIR/sim.out" 2>&1 &
    SIM=$!
    for _ in $(seq 600); do grep -q listening "$DIR/sim.out" && break; sleep 0.1; done
    SP=$(grep -o '127.0.0.1:[0-9]*' "$DIR/sim.out" | head -1 | cut -d: -f2)
}

# ---- imgpulld ----
start_sim
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
for _ in $(seq 600); do curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null && break; sleep 0.1; done
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
    stop "$DAEMON"
    DAEMON=0
    [ "$1" = cold ] && rm -f /dev/shm/imgpulld."$INSTANCE"@*
    local s0
    s0=$(now)
    "$ROOT/$BUILD/imgpulld" -c "$DIR/imgpulld.conf" >>"$DIR/daemon.log" 2>&1 &
    DAEMON=$!
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
stop "$DAEMON"
DAEMON=0
stop "$SIM"
SIM=0

# ---- peer: the same Jobs from a plain loop, on a fresh simulator ----
start_sim
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
