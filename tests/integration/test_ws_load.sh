#!/usr/bin/env bash
# WebSocket fan-out under load: 100 clients x more than 1 000 job changes converge on the final
# state of every job with seq only increasing; a client that stops reading does not grow the
# worker's memory and is closed after ws_write_timeout, also with a large table. Python clients
# live in tests/integration/ws/.
source "$(dirname "$0")/ws/env.sh"

ws_start_sim --pull-ms 30 || exit 1
# 100 clients in one Python process read slower than two workers write, the more so on a busy
# machine. A bounded kernel buffer (ws_send_buffer) makes the workers fold what a client has not
# taken rather than let the kernel hold megabytes of stale updates, so every client converges
# whatever its speed; ws_write_timeout is long because a starved client is still a reading one.
ws_start_daemon "workers 2
ws_send_buffer 64k
ws_write_timeout 1m" || exit 1
ws_check "100 clients x 1000 changes" check_fanout.py "$PORT" 100 1000
ws_stop_daemon
# The stuck-client phase starts from a clean cluster: nothing left over from the first phase.
ws_stop_sim
ws_start_sim --pull-ms 30 || exit 1

ws_start_daemon "table_jobs 64
ws_send_buffer 64k
ws_write_timeout 20s" || exit 1
ws_check "a client that stops reading" check_slow.py "$PORT" "$D_PID"
ws_stop_daemon
# Again with a large task capacity: the master's table-writer arrays grow with it (4 bytes a task
# slot, 1.5 MB here), and the worker drops them after fork. Freeing them must not change how the
# worker's malloc serves it afterwards (shared/pages.h): freeing a 1.5 MB malloc'd chunk raised
# glibc's mmap and trim thresholds past the Kubernetes client's buffers of a few hundred KB, and
# the worker kept megabytes of freed heap.
ws_stop_sim
ws_start_sim --pull-ms 30 || exit 1
ws_start_daemon "table_jobs 64
table_tasks 393216
ws_send_buffer 64k
ws_write_timeout 20s" || exit 1
ws_check "a client that stops reading, large task capacity" check_slow.py "$PORT" "$D_PID"
ws_stop_daemon
[ "$WS_FAILED" -eq 0 ] && echo "PASS"
exit $WS_FAILED
