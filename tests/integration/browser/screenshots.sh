#!/usr/bin/env bash
# Takes the dashboard's screenshots in docs/ (dashboard-*.png) against the simulator and a
# daemon on free loopback ports, with chromium headless. Run it after changing the page:
#   tests/integration/browser/screenshots.sh [OUT_DIR]     (default: docs/)
source "$(dirname "$0")/../ws/env.sh"
out=${1:-$WS_SRC/docs}
mkdir -p "$out"
ws_start_sim --pull-ms 1200 --nodes 12 || exit 1
ws_start_daemon "workers 1" || exit 1
"$WS_PY" "$WS_SRC/tests/integration/browser/screenshots.py" --sim "$SIM_PORT" --daemon "$PORT" --out "$out" ||
    ws_fail "screenshots"
ws_stop_daemon
[ "$WS_FAILED" -eq 0 ] && ls -l "$out"/dashboard-*.png
exit $WS_FAILED
