#!/usr/bin/env bash
# WebSocket job watches: every message type, op, error and close code; the connection cap;
# the drain on SIGTERM; wss:// over TLS; tokens on a non-loopback listener (in a private network namespace).
# Python clients live in tests/integration/ws/.
source "$(dirname "$0")/ws/env.sh"

if [ "${1:-}" = "--auth" ]; then
    # Inside `unshare -n`: 0.0.0.0 reaches nothing but this namespace's loopback.
    ip link set lo up
    ws_start_sim --pull-ms 100
    printf 'reader-token-0123456789 read\nother-reader-0123456789+/= read\n' >"$WS_DIR/tokens"
    ws_start_daemon "tokens_file $WS_DIR/tokens" 0.0.0.0
    ws_check "tokens" check_auth.py "$PORT" reader-token-0123456789 'other-reader-0123456789+/='
    ws_stop_daemon
    exit $WS_FAILED
fi

ws_start_sim --pull-ms 100 || exit 1
ws_start_daemon "table_jobs 16
ws_max_subscriptions 4
ws_max_message 4k
ws_ping_interval 1s
ws_pong_timeout 2s" || exit 1
ws_check "messages, ops, errors, closes" check_messages.py "$PORT"
ws_stop_daemon

ws_start_daemon "ws_max_connections 3" || exit 1
ws_check "connection cap and drain" check_cap_drain.py "$PORT" "$D_PID"
ws_stop_daemon

# wss://: the same framing over h2o's TLS socket.
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$WS_DIR/key.pem" -out "$WS_DIR/cert.pem" -days 2 \
    -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 >/dev/null 2>&1 ||
    ws_fail "openssl req"
WS_SCHEME=https ws_start_daemon "tls_cert $WS_DIR/cert.pem
tls_key $WS_DIR/key.pem" || exit 1
ws_check "TLS" check_tls.py "$PORT" "$WS_DIR/cert.pem"
ws_stop_daemon

if unshare -n true 2>/dev/null; then
    unshare -n bash "$0" --auth || ws_fail "tokens"
else
    echo "== tokens: skipped (creating a network namespace needs CAP_SYS_ADMIN)"
fi
[ "$WS_FAILED" -eq 0 ] && echo "PASS"
exit $WS_FAILED
