#!/usr/bin/env bash
# /ws/pod-logs end to end: the real daemon against the Kubernetes simulator, driven by a real
# WebSocket client (python3-websockets). Starts both on free loopback ports, runs the cases of
# tests/integration/logs/cases.py (validation, tail/follow, timestamps, previous, since,
# limitBytes, framing, waiting, the 4404 timeout, upstream errors, backpressure and memory,
# the client write timeout, disconnects, metrics), then a second daemon for the stream limits.
# Every process is stopped by its PID; the daemons must exit 0 on SIGTERM.
set -uo pipefail
: "${IPD_BUILD_DIR:?set by ctest}" "${IPD_SOURCE_DIR:?set by ctest}"
bin=$IPD_BUILD_DIR/imgpulld
py=/usr/bin/python3
here=$IPD_SOURCE_DIR/tests/integration/logs
work=$(mktemp -d)
pids=()
failures=0
# Instance names: tests/common/instance.h. A stopped daemon keeps its segments (a restarted master
# reattaches them), so the test removes them.
instance_base="${IPD_TEST_INSTANCE_PREFIX:-t}$$-logs-"

cleanup() {
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
    rm -f /dev/shm/imgpulld."$instance_base"*
    rm -rf "$work"
}
trap cleanup EXIT
fail() {
    echo "FAIL: $*" >&2
    failures=$((failures + 1))
}
free_port() { $py -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

$py -c 'import websockets' 2>/dev/null || { echo "FAIL: python3-websockets is not installed" >&2; exit 1; }

$py -u "$IPD_SOURCE_DIR/tests/kubesim/kubesim.py" --port 0 --pull-ms 100 --log-rate 0 >"$work/sim.out" 2>"$work/sim.err" &
sim_pid=$!
pids+=("$sim_pid")
for _ in $(seq 100); do
    grep -q '^listening on ' "$work/sim.out" 2>/dev/null && break
    sleep 0.1
done
sim_port=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$work/sim.out")
[ -n "$sim_port" ] || { echo "FAIL: the simulator did not start" >&2; cat "$work/sim.err" >&2; exit 1; }

# start_daemon NAME WORKERS [VAR=VALUE...] [- ARGS...]: starts a daemon against the simulator
# (or with ARGS after "-", which then name the apiserver) and waits until it serves (ready,
# when it has an apiserver to list from); sets $port and $pid.
start_daemon() {
    local name=$1 workers=$2 vars=() args=("--kube-server" "http://127.0.0.1:$sim_port") probe=readyz
    shift 2
    while [ $# -gt 0 ] && [ "$1" != - ]; do vars+=("$1"); shift; done
    if [ $# -gt 0 ]; then
        shift
        args=("$@")
        probe=healthz
    fi
    port=$(free_port)
    # Under ASan a small quarantine keeps freed memory from counting as growth in the RSS check.
    env ${ASAN_OPTIONS:+ASAN_OPTIONS=$ASAN_OPTIONS:quarantine_size_mb=1} "${vars[@]}" "$bin" "${args[@]}" \
        --instance "$instance_base$name" --listen "127.0.0.1:$port" --workers "$workers" --log-level info \
        >"$work/$name.log" 2>&1 &
    pid=$!
    pids+=("$pid")
    for _ in $(seq 100); do
        curl -sf "http://127.0.0.1:$port/$probe" >/dev/null && return 0
        sleep 0.1
    done
    fail "daemon $name did not become ready"
    cat "$work/$name.log" >&2
    return 1
}

# stop_daemon PID NAME: SIGTERM, then the exit status must be 0.
stop_daemon() {
    kill -TERM "$1" 2>/dev/null # (a case may have stopped it already)
    wait "$1"
    local st=$?
    [ "$st" = 0 ] || { fail "daemon $2 exited with $st"; tail -20 "$work/$2.log" >&2; }
}

if start_daemon main 1 IMGPULLD_LOGS_POD_WAIT=2s IMGPULLD_LOGS_CLIENT_WRITE_TIMEOUT=2s; then
    main_pid=$pid
    $py "$here/cases.py" --sim "$sim_port" --daemon "$port" --daemon-pid "$main_pid" "$@" || {
        fail "pod-log cases"
        tail -30 "$work/main.log" >&2
    }
    stop_daemon "$main_pid" main
fi

# Limits: two workers, at most 3 streams each and 3 in total; the fourth is refused with 503
# before the upgrade, whichever worker takes it (the total is the stats segment's gauge).
if [ $# = 0 ] && start_daemon limits 2 IMGPULLD_LOGS_MAX_STREAMS_PER_WORKER=3 IMGPULLD_LOGS_MAX_STREAMS=3; then
    $py "$here/limits.py" --sim "$sim_port" --daemon "$port" || fail "stream limits"
    stop_daemon "$pid" limits
fi

# Errors before the upgrade: an apiserver that refuses connections, one whose certificate is
# not trusted. The handshake is answered 503 with the cause; the daemon still serves.
check_503() { # NAME EXPECTED-TEXT
    $py - "$here" "$port" "$2" <<'PY' || fail "$1: the handshake was not refused with 503 naming the cause"
import sys
sys.path.insert(0, sys.argv[1])
from wslog import handshake_status
st, body = handshake_status(int(sys.argv[2]), "pod=anything")
ok = st == 503 and sys.argv[3] in body["error"]["message"]
print("    %s: %s %s" % ("ok" if ok else "unexpected", st, body["error"]["message"] if body else body))
sys.exit(0 if ok else 1)
PY
}
if [ $# = 0 ]; then
    dead=$(free_port)
    if start_daemon refused 1 - --kube-server "http://127.0.0.1:$dead"; then
        check_503 refused "connection refused"
        stop_daemon "$pid" refused
    fi
    $py -u "$IPD_SOURCE_DIR/tests/kubesim/kubesim.py" --port 0 --tls >"$work/tls.out" 2>"$work/tls.err" &
    pids+=("$!")
    for _ in $(seq 100); do grep -q '^listening on ' "$work/tls.out" 2>/dev/null && break; sleep 0.1; done
    tls_port=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$work/tls.out")
    if [ -n "$tls_port" ] && start_daemon untrusted 1 - --kube-server "https://127.0.0.1:$tls_port"; then
        check_503 untrusted "TLS failure"
        stop_daemon "$pid" untrusted
    fi
fi

[ "$failures" = 0 ] && echo "pod logs: all passed"
exit "$failures"
