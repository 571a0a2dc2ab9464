# Shared set-up of the WebSocket job-watch tests (tests/integration/test_ws_*.sh), sourced.
#
# Starts the Kubernetes simulator and build/imgpulld on free 127.0.0.1 ports with a private
# instance name and directory, and stops them by PID. Paths come from IPD_SOURCE_DIR and
# IPD_BUILD_DIR (set by ctest); both default to the tree this file is in and its build/.

set -uo pipefail

WS_SRC=${IPD_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)}
WS_BUILD=${IPD_BUILD_DIR:-$WS_SRC/build}
WS_PY=/usr/bin/python3
WS_DIR=$(mktemp -d /tmp/ipd-ws.XXXXXX)
WS_INSTANCE="${IPD_TEST_INSTANCE_PREFIX:-t}$$-ws" # tests/common/instance.h
SIM_PID= SIM_PORT= D_PID= PORT=
WS_FAILED=0

ws_free_port() {
    "$WS_PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

ws_fail() {
    echo "FAIL: $*" >&2
    WS_FAILED=1
}

# ws_start_sim [kubesim arguments...]
ws_start_sim() {
    SIM_PORT=$(ws_free_port)
    "$WS_PY" "$WS_SRC/tests/kubesim/kubesim.py" --port "$SIM_PORT" "$@" >"$WS_DIR/sim.log" 2>&1 &
    SIM_PID=$!
    for _ in $(seq 100); do
        grep -q "listening on" "$WS_DIR/sim.log" 2>/dev/null && return 0
        sleep 0.1
    done
    ws_fail "the simulator did not start"
    cat "$WS_DIR/sim.log" >&2
    return 1
}

# ws_start_daemon "extra configuration lines" [listen host]: writes the configuration and
# starts the daemon; waits for /readyz (over https when WS_SCHEME=https).
ws_start_daemon() {
    local extra=${1:-} host=${2:-127.0.0.1}
    PORT=$(ws_free_port)
    cat >"$WS_DIR/imgpulld.conf" <<EOF
kube_server http://127.0.0.1:$SIM_PORT
instance $WS_INSTANCE
stats_file $WS_DIR/stats.json
listen $host:$PORT
watch_backoff_max 1s
$extra
EOF
    grep -q '^workers ' "$WS_DIR/imgpulld.conf" || echo "workers 1" >>"$WS_DIR/imgpulld.conf"
    "$WS_BUILD/imgpulld" -c "$WS_DIR/imgpulld.conf" >>"$WS_DIR/daemon.log" 2>&1 &
    D_PID=$!
    for _ in $(seq 200); do
        curl -sfk "${WS_SCHEME:-http}://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && return 0
        kill -0 "$D_PID" 2>/dev/null || break
        sleep 0.1
    done
    ws_fail "the daemon did not become ready"
    tail -20 "$WS_DIR/daemon.log" >&2
    return 1
}

# ws_stop_daemon: SIGTERM, waits up to 20 s (then SIGKILL); fails the test unless it exits 0
# and its log holds no sanitizer report.
# ws_stop_sim: stops the simulator (by PID), so that a later phase starts from a clean cluster.
ws_stop_sim() {
    [ -n "$SIM_PID" ] || return 0
    kill -TERM "$SIM_PID" 2>/dev/null
    wait "$SIM_PID" 2>/dev/null
    SIM_PID=
}

ws_stop_daemon() {
    [ -n "$D_PID" ] || return 0
    kill -TERM "$D_PID" 2>/dev/null
    local rc
    for _ in $(seq 200); do
        kill -0 "$D_PID" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$D_PID" 2>/dev/null; then
        kill -KILL "$D_PID" 2>/dev/null
        ws_fail "the daemon did not stop within 20 s of SIGTERM"
    fi
    wait "$D_PID"
    rc=$?
    D_PID=
    [ "$rc" -eq 0 ] || ws_fail "the daemon exited with status $rc after SIGTERM"
    if grep -qE 'ERROR: (LeakSanitizer|AddressSanitizer)|runtime error:' "$WS_DIR/daemon.log"; then
        ws_fail "sanitizer report in the daemon log"
        grep -A30 -E 'ERROR: (LeakSanitizer|AddressSanitizer)|runtime error:' "$WS_DIR/daemon.log" | head -60 >&2
    fi
}

# ws_check NAME script.py [arguments...]: runs a Python check against the daemon.
ws_check() {
    local name=$1 script=$2
    shift 2
    echo "== $name"
    if ! "$WS_PY" "$WS_SRC/tests/integration/ws/$script" "$@"; then
        ws_fail "$name"
        tail -30 "$WS_DIR/daemon.log" >&2
    fi
}

ws_cleanup() {
    [ -n "$D_PID" ] && kill -KILL "$D_PID" 2>/dev/null && wait "$D_PID" 2>/dev/null
    [ -n "$SIM_PID" ] && kill -TERM "$SIM_PID" 2>/dev/null && wait "$SIM_PID" 2>/dev/null
    rm -f "/dev/shm/imgpulld.$WS_INSTANCE@"* # shared/shm.h
    if [ "$WS_FAILED" -ne 0 ]; then
        echo "daemon log tail:" >&2
        tail -40 "$WS_DIR/daemon.log" >&2
    fi
    # WS_KEEP=1 keeps the directory of a failed run (logs, configuration) for a look.
    [ "$WS_FAILED" -ne 0 ] && [ -n "${WS_KEEP:-}" ] && echo "kept $WS_DIR" >&2 || rm -rf "$WS_DIR"
}
trap ws_cleanup EXIT
