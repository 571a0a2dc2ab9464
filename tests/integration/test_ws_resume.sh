#!/usr/bin/env bash
# WebSocket resume: ?since=<epoch>:<seq> after the worker holding the connection is killed with
# SIGKILL and after a SIGHUP reload replays what the client missed; a resume point older than the
# ring (table_ring 64) gets a resync. Python clients live in tests/integration/ws/.
source "$(dirname "$0")/ws/env.sh"

ws_start_sim --pull-ms 300 || exit 1
ws_start_daemon "respawn_backoff_initial 100ms" || exit 1
ws_check "resume after kill -9 of the worker" check_resume.py "$PORT" "$D_PID" kill9
ws_check "resume after SIGHUP" check_resume.py "$PORT" "$D_PID" hup
ws_stop_daemon

# A fresh cluster: the earlier phases' Jobs stay until their ttlSecondsAfterFinished, and the
# resync phase counts the jobs its table holds.
ws_stop_sim
ws_start_sim --pull-ms 300 || exit 1
ws_start_daemon "table_ring 64
respawn_backoff_initial 100ms" || exit 1
ws_check "resync from an old resume point" check_resync.py "$PORT" "$D_PID"
ws_stop_daemon
[ "$WS_FAILED" -eq 0 ] && echo "PASS"
exit $WS_FAILED
