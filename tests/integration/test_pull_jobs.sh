#!/usr/bin/env bash
# Pull jobs operators can trust (issue 10, items 1 and 3): terminal states that never change while
# the pods watch is throttled and dropped, 429s retried after their Retry-After, parallelism
# never exceeded in the cluster, and a timed-out attempt counted as a failed one.
# Python clients live in tests/integration/ws/.
source "$(dirname "$0")/ws/env.sh"

ws_check "the final-state observer orders by what the daemon served" check_final_observer.py
ws_start_sim --nodes 4 || exit 1
ws_start_daemon || exit 1
ws_check "terminal states stay final; Retry-After is honoured" check_final.py "$PORT" "$SIM_PORT"
ws_stop_daemon
ws_stop_sim

ws_start_sim --nodes 6 || exit 1
ws_start_daemon || exit 1
ws_check "parallelism 2, sampled from the simulator's pods" check_parallelism.py "$PORT" "$SIM_PORT"
ws_check "a timed-out attempt is a failed one" check_timeout.py "$PORT" "$SIM_PORT"
ws_stop_daemon
[ "$WS_FAILED" -eq 0 ] && echo "PASS"
exit $WS_FAILED
