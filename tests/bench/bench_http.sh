#!/usr/bin/env bash
# HTTP serving benchmark: imgpulld's workers against the h2o standalone server serving the same
# bytes as static files, with the same load (h2load, cleartext HTTP/2) and the same number of
# processes / threads. Not a test: run it by hand.
#
#   tests/bench/bench_http.sh [BUILD_DIR]          (default: build)
#
# Environment: REQUESTS (default 200000), CLIENTS (10), STREAMS (10), JOBS (100), RUNS (3).
# Prints one Markdown table row per server, figure and worker count: req/s (median of RUNS) and
# the p50 / p99 request latency of the median run, computed from h2load's per-request log.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build}
requests=${REQUESTS:-200000}
clients=${CLIENTS:-10}
streams=${STREAMS:-10}
jobs=${JOBS:-100}
runs=${RUNS:-3}

need=()
command -v h2o >/dev/null || need+=(h2o)
command -v h2load >/dev/null || need+=(nghttp2-client)
command -v curl >/dev/null || need+=(curl)
if [ ${#need[@]} -gt 0 ]; then
    sudo=""
    [ "$(id -u)" = 0 ] || sudo=sudo
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
if [ ! -x "$build/imgpulld" ]; then
    cmake -S "$root" -B "$build" >/dev/null
    cmake --build "$build" -j "$(nproc)" --target imgpulld >/dev/null
fi

work=$(mktemp -d /tmp/ipd-bench-http.XXXXXX)
instance="bench-http-$$"
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -f "/dev/shm/imgpulld.$instance@"* # shared/shm.h
    rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_http() { # url
    for _ in $(seq 200); do curl -sf -o /dev/null "$1" && return 0; sleep 0.05; done
    echo "no answer from $1" >&2
    return 1
}

# The simulator, with pulls that never finish: the jobs stay active.
python3 -u "$root/tests/kubesim/kubesim.py" --port 0 --nodes 3 --pull-ms 86400000 >"$work/sim.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do grep -q 'listening on' "$work/sim.log" && break; sleep 0.05; done
sim_port=$(grep -o 'listening on 127.0.0.1:[0-9]*' "$work/sim.log" | cut -d: -f2)

start_daemon() { # workers -> sets daemon_pid, port
    port=$(free_port)
    cat >"$work/imgpulld.conf" <<EOF
kube_server http://127.0.0.1:$sim_port
instance $instance
listen 127.0.0.1:$port
workers $1
request_rate_per_conn 1000000
log_level warn
stats_file $work/stats.json
EOF
    "$build/imgpulld" -c "$work/imgpulld.conf" >>"$work/daemon.log" 2>&1 &
    daemon_pid=$!
    pids+=("$daemon_pid")
    for _ in $(seq 200); do
        [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/readyz")" = 200 ] && return 0
        sleep 0.05
    done
    echo "imgpulld not ready" >&2
    return 1
}
stop_pid() { kill "$1"; wait "$1" 2>/dev/null || true; }

# Fill the table: JOBS pull jobs through the API, one node each.
start_daemon 1
for i in $(seq 1 "$jobs"); do
    curl -sf -o /dev/null -H 'Content-Type: application/json' \
        -d "{\"image\":\"registry.example.com/team-$i/service-$i:v1.$i.0\",\"nodes\":[\"node-$(( i % 3 + 1 ))\"]}" \
        "http://127.0.0.1:$port/api/v1/images/pull"
done
sleep 1
mkdir -p "$work/www/api/v1/images/pull-jobs"
curl -sf "http://127.0.0.1:$port/api/v1/images/pull-active" >"$work/www/api/v1/images/pull-active"
job_id=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["jobs"][0]["id"])' \
    "$work/www/api/v1/images/pull-active")
curl -sf "http://127.0.0.1:$port/api/v1/images/pull-jobs/$job_id" >"$work/www/api/v1/images/pull-jobs/$job_id"
stop_pid "$daemon_pid"
active_bytes=$(stat -c %s "$work/www/api/v1/images/pull-active")
job_bytes=$(stat -c %s "$work/www/api/v1/images/pull-jobs/$job_id")
[ "$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["jobs"]))' \
    "$work/www/api/v1/images/pull-active")" = "$jobs" ] || { echo "the table does not hold $jobs active jobs" >&2; exit 1; }

# One h2load run; prints "req/s p50_ms p99_ms" (latencies from the per-request log).
run_load() { # url
    local log="$work/h2load.log" out
    out=$(h2load -n "$requests" -c "$clients" -m "$streams" --log-file="$log" "$1" 2>&1)
    if ! grep -q "$requests succeeded, 0 failed, 0 errored" <<<"$out"; then
        echo "h2load reported failures against $1:" >&2
        echo "$out" >&2
        exit 1
    fi
    local rps
    rps=$(grep -o 'finished in [^,]*, [0-9.]* req/s' <<<"$out" | awk '{print $(NF-1)}')
    awk -v rps="$rps" '{print $3}' "$log" | sort -n | awk -v rps="$rps" '
        {v[NR] = $1}
        END {printf "%.0f %.3f %.3f\n", rps, v[int(NR * 0.50)] / 1000, v[int(NR * 0.99)] / 1000}'
}

# Median of RUNS runs, by req/s.
median_run() { # url
    local i
    for i in $(seq "$runs"); do run_load "$1"; done | sort -n | sed -n "$(( (runs + 1) / 2 ))p"
}

echo "pull-active: $active_bytes bytes ($jobs jobs); one job: $job_bytes bytes"
echo "h2load -n $requests -c $clients -m $streams (h2c, prior knowledge), median of $runs runs"
echo
echo "| processes or threads | figure | server | req/s | p50 ms | p99 ms |"
echo "|---|---|---|---|---|---|"
for n in 1 2; do
    start_daemon "$n"
    ipd_port=$port
    h2o_port=$(free_port)
    # As root, h2o would switch to nobody, who cannot read the private work directory.
    h2o_user=""
    [ "$(id -u)" = 0 ] && h2o_user="user: root"
    cat >"$work/h2o.conf" <<EOF
$h2o_user
listen:
  host: 127.0.0.1
  port: $h2o_port
num-threads: $n
pid-file: $work/h2o.pid
error-log: $work/h2o-error.log
hosts:
  default:
    paths:
      /:
        file.dir: $work/www
        file.send-compressed: OFF
EOF
    h2o -c "$work/h2o.conf" >>"$work/h2o.log" 2>&1 &
    h2o_pid=$!
    pids+=("$h2o_pid")
    wait_http "http://127.0.0.1:$h2o_port/api/v1/images/pull-active"
    cmp -s <(curl -s "http://127.0.0.1:$h2o_port/api/v1/images/pull-active") \
        <(curl -s "http://127.0.0.1:$ipd_port/api/v1/images/pull-active") ||
        { echo "the two servers do not serve the same bytes" >&2; exit 1; }
    for fig in "pull-active:/api/v1/images/pull-active" "one job:/api/v1/images/pull-jobs/$job_id"; do
        name=${fig%%:*}
        path=${fig#*:}
        read -r r1 p50a p99a <<<"$(median_run "http://127.0.0.1:$ipd_port$path")"
        read -r r2 p50b p99b <<<"$(median_run "http://127.0.0.1:$h2o_port$path")"
        echo "| $n | $name | imgpulld | $r1 | $p50a | $p99a |"
        echo "| $n | $name | h2o | $r2 | $p50b | $p99b |"
        echo "| $n | $name | ratio imgpulld / h2o | $(awk -v a="$r1" -v b="$r2" 'BEGIN{printf "%.2f", a / b}') | | |"
    done
    stop_pid "$h2o_pid"
    stop_pid "$daemon_pid"
done
echo
echo "machine: nproc $(nproc), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
