#!/usr/bin/env bash
# The dashboard in a real browser: Debian's chromium, headless, driven over the DevTools
# protocol (tests/integration/browser/cdp.py, python3-websockets), against the daemon and the
# Kubernetes simulator on free loopback ports. The cases (browser/cases.py): a pull started from
# the form ends succeeded with its node grid changing colour, without a reload; validation errors
# next to their field; a failing image's kubelet reason; cancel reflected in REST; SIGHUP while
# the page is open (it reconnects and misses nothing, compared with REST); a task's log as the
# simulator writes it; markup in a message shown as text; a rebuild after a resync (a daemon
# with a ring of 64 changes); and, in a private network namespace,
# a listener that needs tokens. Every process is stopped by its PID.
source "$(dirname "$0")/ws/env.sh"
here=$WS_SRC/tests/integration/browser

if [ "${1:-}" = "--auth" ]; then
    # Inside `unshare -n`: 0.0.0.0 reaches nothing but this namespace's loopback, and a listener
    # whose configured address is not loopback requires tokens.
    ip link set lo up
    ws_start_sim --pull-ms 100 || exit 1
    printf 'reader-token-0123456789 read\nadmin/token+0123456789== admin\n' >"$WS_DIR/tokens"
    ws_start_daemon "tokens_file $WS_DIR/tokens" 0.0.0.0 || exit 1
    echo "== dashboard with tokens"
    "$WS_PY" "$here/cases.py" --sim "$SIM_PORT" --daemon "$PORT" --token reader-token-0123456789 \
        --admin-token 'admin/token+0123456789==' token || ws_fail "dashboard with tokens"
    ws_stop_daemon
    exit $WS_FAILED
fi

[ -x /usr/bin/chromium ] || { echo "FAIL: /usr/bin/chromium is missing (scripts/install-deps.sh --test)" >&2; exit 1; }
"$WS_PY" -c 'import websockets' 2>/dev/null || { echo "FAIL: python3-websockets is missing" >&2; exit 1; }

ws_start_sim --pull-ms 200 --nodes 3 || exit 1
ws_start_daemon "workers 2" || exit 1
echo "== dashboard cases"
"$WS_PY" "$here/cases.py" --sim "$SIM_PORT" --daemon "$PORT" --daemon-pid "$D_PID" "$@" || ws_fail "dashboard cases"
ws_stop_daemon

# A ring of 64 changes and 16 jobs: a page kept away for more than that must rebuild from a
# resync, without the jobs evicted meanwhile. A fresh simulator: the jobs of the cases above
# that still run would take the small table's slots.
if [ $# = 0 ]; then
    ws_stop_sim
    ws_start_sim --pull-ms 200 --nodes 3 || exit 1
fi
if [ $# = 0 ] && ws_start_daemon "workers 1
table_ring 64
table_jobs 16"; then
    "$WS_PY" "$here/cases.py" --sim "$SIM_PORT" --daemon "$PORT" --daemon-pid "$D_PID" resync_after_overrun ||
        ws_fail "dashboard resync"
    ws_stop_daemon
fi

if [ $# = 0 ]; then
    if unshare -n true 2>/dev/null; then
        unshare -n bash "$0" --auth || ws_fail "dashboard with tokens"
    else
        echo "== dashboard with tokens: skipped (creating a network namespace needs CAP_SYS_ADMIN)"
    fi
fi
[ "$WS_FAILED" -eq 0 ] && echo "PASS"
exit $WS_FAILED
