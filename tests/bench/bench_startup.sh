#!/bin/bash
# Start-up at scale: the time from starting imgpulld to /readyz 200 with a large cluster in the
# simulator (PODS pods, PULL_PODS of them pods of pull jobs that succeeded, with their Jobs and
# Events), and the master's peak RSS (VmHWM), beside `kubectl get pods -A -o json` of the same
# cluster in the same run. Each run starts the daemon from an empty table.
#
# The cluster is loaded through the simulator's POST /_sim/bulk (tests/bench/bench_startup_load.py):
# the pull's Job, pod and Events are copies of the ones a real pull onto one node left in the
# simulator, for every (job, node) pair; the other pods are copies of that pod as a Deployment's
# pods in other namespaces. Every pod carries managedFields of the size an apiserver writes.
# See docs/benchmarks.md "Start-up at scale".
#
#   tests/bench/bench_startup.sh [BUILD_DIR] [PODS] [PULL_PODS] [NODES] [RUNS]
#   defaults: build 100000 20000 5000 3
set -euo pipefail
BUILD=${1:-build}
PODS=${2:-100000}
PULL_PODS=${3:-20000}
NODES=${4:-5000}
RUNS=${5:-3}
root=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=tests/common/sim_world.sh
. "$root/tests/common/sim_world.sh"
sim_world_start bench-startup --nodes "$NODES" --history 1000
trap 'exit 1' TERM INT # through the EXIT trap: everything started is stopped
# A simulator holding 100 000 pods takes minutes to free its objects once told to stop: it gets
# 30 s, then SIGKILL (before sim_world_cleanup waits for it).
running() { # not gone, and not a zombie waiting for sim_world_cleanup
    local st
    st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) && [ -n "$st" ] && [ "$st" != Z ]
}
stop_sim() {
    kill -TERM "${pids[0]}" 2>/dev/null || return 0
    for _ in $(seq 300); do running "${pids[0]}" || return 0; sleep 0.1; done
    kill -KILL "${pids[0]}" 2>/dev/null || true
}
trap 'set +e; stop_sim; sim_world_cleanup' EXIT
SIM="http://127.0.0.1:$sim_port"
now() { date +%s.%N; }
load() { cut -d' ' -f1-3 /proc/loadavg; }

DAEMON=0
PORT=0
# Starts the daemon on a port chosen now (loading the cluster takes minutes, long enough for a
# port chosen earlier to be taken) and waits for /readyz 200; another port if it cannot listen.
start_daemon() {
    for _ in 1 2 3; do
        PORT=$(free_port)
        cat >"$work/imgpulld.conf" <<CONF
kube_server $SIM
instance ${instance}d
listen 127.0.0.1:$PORT
workers 1
stats_file $work/stats.json
CONF
        "$root/$BUILD/imgpulld" -c "$work/imgpulld.conf" >>"$work/daemon.log" 2>&1 &
        DAEMON=$!
        pids+=("$DAEMON") # stopped on exit while it runs
        until curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null; do
            kill -0 "$DAEMON" 2>/dev/null || break
            sleep 0.02
        done
        kill -0 "$DAEMON" 2>/dev/null && return 0
        wait "$DAEMON" 2>/dev/null || true
        pids=("${pids[0]}")
    done
    echo "the daemon did not start: $work/daemon.log" >&2
    tail -5 "$work/daemon.log" >&2
    exit 1
}
stop_daemon() {
    kill -TERM "$DAEMON" 2>/dev/null || true
    wait "$DAEMON" 2>/dev/null || true
    pids=("${pids[0]}") # the simulator only: a stopped daemon's PID may be reused
    rm -f /dev/shm/imgpulld."${instance}"d*
}

# ---- the template: a real pull onto one node ----
curl -sf -H 'Content-Type: application/json' -d '{"name":"tmpl-node"}' "$SIM/_sim/nodes" >/dev/null
start_daemon
TID=$(curl -sf -H 'Content-Type: application/json' -d '{"image":"busybox:1.36","nodes":["tmpl-node"]}' \
    "http://127.0.0.1:$PORT/api/v1/images/pull" | python3 -c 'import json,sys;print(json.load(sys.stdin)["jobs"][0]["id"])')
until curl -sf "http://127.0.0.1:$PORT/api/v1/images/pull-jobs/$TID" |
    python3 -c 'import json,sys;sys.exit(0 if json.load(sys.stdin)["state"]=="succeeded" else 1)'; do
    sleep 0.2
done
stop_daemon
python3 - "$SIM" "$TID" "$work" <<'PY'
import json, sys, urllib.request
sim, tid, work = sys.argv[1:]
get = lambda path: json.load(urllib.request.urlopen(sim + path))
jobs = get("/apis/batch/v1/jobs?labelSelector=imgpulld.io/job%3D" + tid)["items"]
pods = get("/api/v1/pods?labelSelector=imgpulld.io/job%3D" + tid)["items"]
assert len(jobs) == 1 and len(pods) == 1, (len(jobs), len(pods))
names = {jobs[0]["metadata"]["name"], pods[0]["metadata"]["name"]}
events = [e for e in get("/api/v1/events")["items"] if e["involvedObject"]["name"] in names]
for name, obj in (("job", jobs[0]), ("pod", pods[0]), ("events", events)):
    with open("%s/%s.json" % (work, name), "w") as f:
        json.dump(obj, f)
PY
JOBNAME=$(python3 -c "import json;print(json.load(open('$work/job.json'))['metadata']['name'])")
NS=$(python3 -c "import json;print(json.load(open('$work/job.json'))['metadata']['namespace'])")
curl -sf -X DELETE "$SIM/apis/batch/v1/namespaces/$NS/jobs/$JOBNAME?propagationPolicy=Background" >/dev/null
sleep 1

# ---- the cluster ----
L0=$(now)
python3 "$root/tests/bench/bench_startup_load.py" "$sim_port" "$NODES" "$PULL_PODS" "$((PODS - PULL_PODS))" \
    "$work" >"$work/ids"
L1=$(now)
echo "loaded $PODS pods ($PULL_PODS pull pods of $(wc -l <"$work/ids") jobs, their Jobs and Events) on $NODES nodes" \
    "in $(python3 -c "print('%.1f' % ($L1 - $L0))") s"

for run in $(seq "$RUNS"); do
    L=$(load)
    s0=$(now)
    start_daemon
    s1=$(now)
    HWM=$(awk '/VmHWM/ {print $2}' "/proc/$DAEMON/status")
    # The master's CPU time to that point (utime + stime): the rest of the wait is the simulator's.
    CPU=$(awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) / hz}' "/proc/$DAEMON/stat")
    # Every pull job is there, succeeded on every node.
    while read -r id; do
        curl -sf "http://127.0.0.1:$PORT/api/v1/images/pull-jobs/$id" | python3 -c "
import json, sys
j = json.load(sys.stdin)
want = min($NODES, $PULL_PODS)
if j['state'] != 'succeeded' or j['nodes']['succeeded'] != want:
    sys.exit('job %s: %s, %s' % (j['id'], j['state'], j['nodes']))"
    done <"$work/ids"
    stop_daemon
    # kubectl's wall time and peak RSS (kB), writing the list to a file.
    read -r KT KHWM < <(python3 - "$SIM" "$work" <<'PY'
import resource, subprocess, sys, time
sim, work = sys.argv[1:]
t0 = time.monotonic()
with open(work + "/pods.json", "wb") as out:
    subprocess.run(["kubectl", "--server", sim, "--cache-dir", work + "/kube-cache", "get", "pods", "-A", "-o",
                    "json"], stdout=out, check=True)
print("%.3f %d" % (time.monotonic() - t0, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))
PY
)
    N=$(python3 -c "import json;print(len(json.load(open('$work/pods.json'))['items']))")
    rm -f "$work/pods.json"
    python3 - <<PY
t, k = $s1 - $s0, $KT
print("run $run (load $L -> $(load)): imgpulld /readyz 200 after %.2f s (master CPU %.2f s), master VmHWM %d MB; "
      "kubectl get pods -A -o json of $N pods %.2f s (its max RSS %d MB): %.2fx"
      % (t, $CPU, $HWM / 1024, k, $KHWM / 1024, t / k))
PY
done
