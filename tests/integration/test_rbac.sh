#!/usr/bin/env bash
# deploy/rbac.yaml's ClusterRole allows every request the daemon makes: checked against the
# Kubernetes simulator's request log (tests/integration/deps/rbac_check.py). Runs at the end of
# every ctest run (a cleanup test of the suite's fixture), over the requests of all the run's
# integration tests (KUBESIM_REQUEST_LOG, emptied when the run starts), plus a short scenario of
# its own (a pull on every node, its cancellation, a pod-log stream) so that a partial run checks
# something too.
set -uo pipefail
: "${IPD_SOURCE_DIR:?set by ctest}" "${IPD_BUILD_DIR:?set by ctest}"
py=/usr/bin/python3
work=$(mktemp -d /tmp/ipd-rbac.XXXXXX)
instance="${IPD_TEST_INSTANCE_PREFIX:-t}$$-rbac" # tests/common/instance.h
sim_pid="" daemon_pid=""
cleanup() {
    for p in $daemon_pid $sim_pid; do
        kill -TERM "$p" 2>/dev/null
        wait "$p" 2>/dev/null
    done
    rm -f "/dev/shm/imgpulld.$instance@"* # shared/shm.h
    rm -rf "$work"
}
trap cleanup EXIT
free_port() { $py -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

KUBESIM_REQUEST_LOG=$work/own.jsonl $py -u "$IPD_SOURCE_DIR/tests/kubesim/kubesim.py" --port 0 --nodes 2 \
    --pull-ms 100 --log-rate 20 >"$work/sim.out" 2>"$work/sim.err" &
sim_pid=$!
for _ in $(seq 100); do grep -q '^listening on ' "$work/sim.out" 2>/dev/null && break; sleep 0.1; done
sim=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$work/sim.out")
[ -n "$sim" ] || { cat "$work/sim.err" >&2; echo "FAIL: the simulator did not start" >&2; exit 1; }
port=$(free_port)
"$IPD_BUILD_DIR/imgpulld" --kube-server "http://127.0.0.1:$sim" --instance "$instance" --listen "127.0.0.1:$port" \
    --workers 1 >"$work/daemon.log" 2>&1 &
daemon_pid=$!
for _ in $(seq 150); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
api() { curl -sS --max-time 10 "$@"; }
id=$(api -XPOST -H 'Content-Type: application/json' -d '{"image":"docker.io/library/busybox:1.36","all_nodes":true}' \
    "http://127.0.0.1:$port/api/v1/images/pull" | $py -c 'import json,sys; print(json.load(sys.stdin)["jobs"][0]["id"])')
[ -n "$id" ] || { tail -20 "$work/daemon.log" >&2; echo "FAIL: the pull was not accepted" >&2; exit 1; }
# A pod-log stream: the daemon's worker asks the API server for pods/log.
pod=""
for _ in $(seq 50); do
    pod=$(api "http://127.0.0.1:$sim/api/v1/namespaces/imgpulld/pods" |
        $py -c 'import json,sys; i=json.load(sys.stdin)["items"]; print(i[0]["metadata"]["name"] if i else "")')
    [ -n "$pod" ] && break
    sleep 0.1
done
if [ -n "$pod" ]; then
    $py -c '
import asyncio, sys, websockets
async def main():
    uri = "ws://127.0.0.1:%s/ws/pod-logs?pod=%s&tailLines=1" % (sys.argv[1], sys.argv[2])
    try:
        async with websockets.connect(uri, open_timeout=5) as ws:
            await asyncio.wait_for(ws.recv(), 3)
    except Exception:
        pass
asyncio.run(main())' "$port" "$pod"
fi
api -XDELETE "http://127.0.0.1:$port/api/v1/images/pull-jobs/$id" >/dev/null
sleep 1

logs=("$work/own.jsonl")
[ -n "${KUBESIM_REQUEST_LOG:-}" ] && [ -s "$KUBESIM_REQUEST_LOG" ] && logs+=("$KUBESIM_REQUEST_LOG")
echo "request logs: ${logs[*]}"
$py "$IPD_SOURCE_DIR/tests/integration/deps/rbac_check.py" "$IPD_SOURCE_DIR/deploy/rbac.yaml" "${logs[@]}"
