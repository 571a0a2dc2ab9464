#!/usr/bin/env bash
# Task deltas of a job watch (/ws/image-pull/{id}?updates=tasks): a delta subscriber rebuilds the
# job REST returns after a pull onto every node, a client that missed changes and a resumed one
# get the whole job, bad values are refused. Python clients live in tests/integration/ws/.
source "$(dirname "$0")/ws/env.sh"

NODES=24
ws_start_sim --nodes "$NODES" || exit 1
ws_start_daemon "ws_send_buffer 4k" || exit 1
ws_check "task deltas" check_deltas.py "$PORT" "$SIM_PORT" "$NODES"
ws_stop_daemon
[ "$WS_FAILED" -eq 0 ] && echo "PASS"
exit $WS_FAILED
