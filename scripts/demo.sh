#!/usr/bin/env bash
# Runs imgpulld against the bundled Kubernetes simulator: a few nodes and a scenario that keeps
# creating pull jobs, some of which fail. Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

sim_port=${SIM_PORT:-$(free_port)}
http_port=${HTTP_PORT:-8080}
instance=${INSTANCE:-demo}
logdir=$(mktemp -d /tmp/imgpulld-demo.XXXXXX)

/usr/bin/python3 tests/kubesim/kubesim.py --port "$sim_port" --nodes "${NODES:-3}" --scenario demo >"$logdir/kubesim.log" 2>&1 &
sim_pid=$!
daemon_pid=""

stop() {
    trap - INT TERM EXIT
    echo
    echo "stopping..."
    [ -n "$daemon_pid" ] && kill -TERM "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null
    kill -TERM "$sim_pid" 2>/dev/null && wait "$sim_pid" 2>/dev/null
    echo "logs kept in $logdir"
}
trap 'stop; exit 0' INT TERM
trap stop EXIT

for _ in $(seq 100); do
    grep -q "listening on" "$logdir/kubesim.log" 2>/dev/null && break
    kill -0 "$sim_pid" 2>/dev/null || { cat "$logdir/kubesim.log"; exit 1; }
    sleep 0.1
done

build/imgpulld --kube-server "http://127.0.0.1:$sim_port" --listen "127.0.0.1:$http_port" \
    --instance "$instance" 2>"$logdir/imgpulld.log" &
daemon_pid=$!
sleep 1
kill -0 "$daemon_pid" 2>/dev/null || { cat "$logdir/imgpulld.log"; exit 1; }

cat <<MSG
imgpulld is running against the Kubernetes simulator.

  dashboard       http://127.0.0.1:$http_port/
  active jobs     curl -s http://127.0.0.1:$http_port/api/v1/images/pull-active
  failed jobs     curl -s 'http://127.0.0.1:$http_port/api/v1/images/pull-failed?limit=10'
  start a pull    curl -s -XPOST -H 'Content-Type: application/json' \\
                    -d '{"image":"docker.io/library/nginx:1.27","all_nodes":true}' \\
                    http://127.0.0.1:$http_port/api/v1/images/pull
  metrics         curl -s http://127.0.0.1:$http_port/metrics
  simulator       kubectl --server http://127.0.0.1:$sim_port get pods -n imgpulld
  logs            $logdir/imgpulld.log, $logdir/kubesim.log

Press Ctrl-C to stop.
MSG
wait "$daemon_pid"
