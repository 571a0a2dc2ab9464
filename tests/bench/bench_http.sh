#!/usr/bin/env bash
# HTTP serving benchmark: imgpulld's workers against the h2o standalone server serving the same
# bytes as static files, with the same load (h2load, cleartext HTTP/2) and the same number of
# processes / threads, at several table sizes. Not a test: run it by hand.
#
#   tests/bench/bench_http.sh [BUILD_DIR]          (default: build)
#
# tests/bench/bench_http_feed.c plays the master: it writes SIZE pulling jobs and SIZE failed jobs
# (NODES tasks each) into a fresh table and forks the real workers on one port. For every size
# the script saves the workers' answers to GET pull-active and pull-failed?limit=1000, plain and
# gzip'd (Accept-Encoding: gzip), as files for h2o (pre-compressed .gz next to the plain file,
# served with file.send-compressed), checks that both servers answer the same bytes, and runs
# h2load on each. Last, one pulling job of BIG tasks, by id, the same way.
#
# Environment: SIZES ("10 100 1000 4000"), BIG (5000; 0 to skip), NODES (3), WORKERS ("1 2"),
# RUNS (7; the two servers alternate), REQUESTS (at most, 30000), BYTES (body bytes per h2load
# run, 500000000: a run of big bodies makes fewer requests, at least 500), CLIENTS (10),
# STREAMS (10), RESULTS (a file that receives one tab-separated line per figure: workers,
# figure, jobs, bytes, imgpulld req/s, h2o req/s, req/s ratio, imgpulld CPU µs per request, h2o
# CPU µs per request, CPU ratio h2o / imgpulld, load average at the figure's start;
# tests/bench/plot_http.py draws it).
# Prints one Markdown table row per figure: req/s (median of RUNS) and the p50 / p99 latency of
# the median run, computed from h2load's per-request log, and the ratio imgpulld / h2o: the
# median of the RUNS pairs of runs (their range in parentheses); then the CPU time (user +
# system, from the scheduler, every thread of every process: imgpulld's workers, h2o's) the
# servers spent per request, summed over the runs, and h2o's over imgpulld's with its range over
# the pairs of runs: on a shared machine the req/s of a run depend on the CPU share the other
# work leaves, the CPU time per request does not. Each row ends with the load average at the
# start of the figure.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build}
sizes=${SIZES:-10 100 1000 4000}
big=${BIG:-5000}
nodes=${NODES:-3}
workers_list=${WORKERS:-1 2}
runs=${RUNS:-7}
max_requests=${REQUESTS:-30000}
byte_budget=${BYTES:-500000000}
clients=${CLIENTS:-10}
streams=${STREAMS:-10}

need=()
command -v h2o >/dev/null || need+=(h2o)
command -v h2load >/dev/null || need+=(nghttp2-client)
command -v curl >/dev/null || need+=(curl)
if [ ${#need[@]} -gt 0 ]; then
    sudo=""
    [ "$(id -u)" = 0 ] || sudo=sudo
    DEBIAN_FRONTEND=noninteractive $sudo apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
        --no-install-recommends "${need[@]}" >/dev/null
fi
cmake --build "$build" -j2 --target bench_http_feed >/dev/null

work=$(mktemp -d /tmp/ipd-bench-http.XXXXXX)
results=${RESULTS:-$work/results.tsv}
: >"$results"
pids=()
feed_pid=""
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    # A feeder removes its table when it stops; one that was killed leaves it (shared/shm.h names).
    for p in "${pids[@]}"; do rm -f "/dev/shm/imgpulld.benchhttp$p@"*; done
    rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_http() { # url
    for _ in $(seq 200); do curl -sf -o /dev/null "$1" && return 0; sleep 0.05; done
    echo "no answer from $1" >&2
    return 1
}

# Starts the feeder (args passed on); sets feed_pid, ipd_port and big_id. Its stdin is a FIFO
# held open by this shell: closing fd 7 stops it.
start_feed() {
    rm -f "$work/feed.in"
    mkfifo "$work/feed.in"
    "$build/bench/bench_http_feed" "$@" <"$work/feed.in" >"$work/feed.out" 2>"$work/feed.err" &
    feed_pid=$!
    pids+=("$feed_pid")
    exec 7>"$work/feed.in"
    for _ in $(seq 600); do grep -q 'listening on' "$work/feed.out" && break; sleep 0.05; done
    ipd_port=$(grep -o 'listening on 127.0.0.1:[0-9]*' "$work/feed.out" | cut -d: -f2)
    [ -n "$ipd_port" ] || { cat "$work/feed.err" >&2; echo "the feeder did not start" >&2; exit 1; }
    big_id=$(sed -n 's/^big job //p' "$work/feed.out")
    wait_http "http://127.0.0.1:$ipd_port/healthz"
}
stop_feed() { exec 7>&-; wait "$feed_pid" 2>/dev/null || true; }

start_h2o() { # threads -> sets h2o_pid, h2o_port
    h2o_port=$(free_port)
    # As root, h2o would switch to nobody, who cannot read the private work directory.
    local h2o_user=""
    [ "$(id -u)" = 0 ] && h2o_user="user: root"
    cat >"$work/h2o.conf" <<EOF
$h2o_user
listen:
  host: 127.0.0.1
  port: $h2o_port
num-threads: $1
pid-file: $work/h2o.pid
error-log: $work/h2o-error.log
hosts:
  default:
    paths:
      /:
        file.dir: $work/www
        file.send-compressed: ON
EOF
    h2o -c "$work/h2o.conf" >>"$work/h2o.log" 2>&1 &
    h2o_pid=$!
    pids+=("$h2o_pid")
    wait_http "http://127.0.0.1:$h2o_port/api/v1/images/pull-active"
}
stop_pid() { kill "$1"; wait "$1" 2>/dev/null || true; }

# Saves the worker's answer to PATH (plain and gzip'd) under www/ for h2o; prints the plain size.
save() { # path-with-query file-name
    local dir="$work/www/api/v1/images"
    mkdir -p "$dir/pull-jobs"
    curl -sf "http://127.0.0.1:$ipd_port$1" >"$dir/$2"
    curl -sf -H 'Accept-Encoding: gzip' "http://127.0.0.1:$ipd_port$1" >"$dir/$2.gz"
    gzip -t <"$dir/$2.gz" || { echo "$1: the gzip'd answer is not gzip" >&2; exit 1; }
    cmp -s <(gzip -dc <"$dir/$2.gz") "$dir/$2" || { echo "$1: gzip'd and plain answers differ" >&2; exit 1; }
    stat -c %s "$dir/$2"
}

# Both servers must answer the same bytes, plain and gzip'd.
same_bytes() { # path
    local enc
    for enc in identity gzip; do
        cmp -s <(curl -s -H "Accept-Encoding: $enc" "http://127.0.0.1:$h2o_port$1") \
            <(curl -s -H "Accept-Encoding: $enc" "http://127.0.0.1:$ipd_port$1") ||
            { echo "$1 ($enc): the two servers do not serve the same bytes" >&2; exit 1; }
    done
}

# One h2load run; prints "req/s p50_ms p99_ms" (latencies from the per-request log).
run_load() { # url requests [header]
    local log="$work/h2load.log" out hdr=()
    [ -n "${3:-}" ] && hdr=(-H "$3")
    rm -f "$log" # h2load appends to its log: without this, each run's latencies were all the runs' so far
    out=$(h2load -n "$2" -c "$clients" -m "$streams" "${hdr[@]}" --log-file="$log" "$1" 2>&1)
    if ! grep -q "$2 succeeded, 0 failed, 0 errored" <<<"$out"; then
        echo "h2load reported failures against $1:" >&2
        echo "$out" >&2
        exit 1
    fi
    local rps
    rps=$(grep -o 'finished in [^,]*, [0-9.]* req/s' <<<"$out" | awk '{print $(NF-1)}')
    awk '{print $3}' "$log" | sort -n | awk -v rps="$rps" '
        {v[NR] = $1}
        END {printf "%.0f %.3f %.3f\n", rps, v[int(NR * 0.50)] / 1000, v[int(NR * 0.99)] / 1000}'
}

# Median of a list of "req/s p50 p99" lines, by req/s.
median_of() { sort -n | sed -n "$(( (runs + 1) / 2 ))p"; }

# Runs one figure against both servers, alternating RUNS times (so that both see the same load
# on a shared machine), and prints its row with the median run of each.
figure() { # workers jobs name path bytes [header]
    local n=$1 jobs=$2 name=$3 path=$4 bytes=$5 hdr=${6:-} i
    local req=$(( byte_budget / bytes ))
    [ "$req" -gt "$max_requests" ] && req=$max_requests
    [ "$req" -lt 500 ] && req=500
    : >"$work/runs.ipd"
    : >"$work/runs.h2o"
    local ipd_pids c0 load
    ipd_pids=$(pgrep -P "$feed_pid" | tr '\n' ' ')
    load=$(cut -d' ' -f1 /proc/loadavg)
    for i in $(seq "$runs"); do
        c0=$(cpu_ns $ipd_pids)
        echo "$(run_load "http://127.0.0.1:$ipd_port$path" "$req" "$hdr") $(( $(cpu_ns $ipd_pids) - c0 ))" \
            >>"$work/runs.ipd"
        c0=$(cpu_ns "$h2o_pid")
        echo "$(run_load "http://127.0.0.1:$h2o_port$path" "$req" "$hdr") $(( $(cpu_ns "$h2o_pid") - c0 ))" \
            >>"$work/runs.h2o"
    done
    read -r r1 p50a p99a _ <<<"$(median_of <"$work/runs.ipd")"
    read -r r2 p50b p99b _ <<<"$(median_of <"$work/runs.h2o")"
    # The ratio is the median of the ratios of the pairs of runs made one right after the other:
    # on a loaded machine a pair sees about the same load, consecutive pairs often do not.
    local ratio range
    ratio=$(paste "$work/runs.ipd" "$work/runs.h2o" | awk '{printf "%.4f\n", $1 / $5}' | median_of)
    range=$(paste "$work/runs.ipd" "$work/runs.h2o" | awk '{printf "%.2f\n", $1 / $5}' | sort -n |
        awk 'NR == 1 {lo = $1} {hi = $1} END {print lo "-" hi}')
    ratio=$(printf '%.2f' "$ratio")
    # CPU time of the servers' processes per request, summed over the runs: what a request costs
    # each server whatever share of the CPUs the machine's other work left it.
    local cpu_a cpu_b cpu_ratio cpu_range
    read -r cpu_a cpu_b cpu_ratio <<<"$(paste "$work/runs.ipd" "$work/runs.h2o" |
        awk -v req="$req" '
        {a += $4; b += $8; n++}
        END {printf "%.1f %.1f %.2f\n", a / (n * req) / 1e3, b / (n * req) / 1e3, (a > 0 ? b / a : 0)}')"
    cpu_range=$(paste "$work/runs.ipd" "$work/runs.h2o" | awk '$4 > 0 {printf "%.2f\n", $8 / $4}' | sort -n |
        awk 'NR == 1 {lo = $1} {hi = $1} END {print lo "-" hi}')
    echo "| $n | $jobs | $name | $bytes | $req | $r1 | $p50a / $p99a | $r2 | $p50b / $p99b | **$ratio** ($range) |" \
        "$cpu_a / $cpu_b | **$cpu_ratio** ($cpu_range) | $load |"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$n" "$name" "$jobs" "$bytes" "$r1" "$r2" "$ratio" \
        "$cpu_a" "$cpu_b" "$cpu_ratio" "$load" >>"$results"
}

# CPU time (user + system, ns) of the processes so far, all their threads: the scheduler's own
# account in /proc/PID/task/TID/schedstat, exact where /proc/PID/stat counts 10 ms ticks (a few
# ticks per run for a 1 KB answer).
cpu_ns() {
    local p
    for p in "$@"; do cat /proc/"$p"/task/*/schedstat; done | awk '{t += $1} END {printf "%.0f\n", t}'
}

gzsize() { stat -c %s "$work/www/api/v1/images/$1.gz"; }

echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "h2load -c $clients -m $streams (h2c, prior knowledge), -n: $byte_budget bytes / body, within 500..$max_requests; median of $runs alternating runs"
echo
echo "| workers / threads | jobs | figure | body bytes | requests | imgpulld req/s | imgpulld p50 / p99 ms | h2o req/s | h2o p50 / p99 ms | ratio | CPU µs per request imgpulld / h2o | CPU ratio h2o / imgpulld (range over the pairs) | load |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
for n in $workers_list; do
    for size in $sizes; do
        rm -rf "$work/www"
        start_feed --active "$size" --failed "$size" --nodes "$nodes" --workers "$n"
        active_bytes=$(save /api/v1/images/pull-active pull-active)
        failed_bytes=$(save '/api/v1/images/pull-failed?limit=1000' pull-failed)
        start_h2o "$n"
        same_bytes /api/v1/images/pull-active
        same_bytes '/api/v1/images/pull-failed?limit=1000'
        figure "$n" "$size" pull-active /api/v1/images/pull-active "$active_bytes"
        figure "$n" "$size" "pull-failed?limit=1000" '/api/v1/images/pull-failed?limit=1000' "$failed_bytes"
        figure "$n" "$size" "pull-active gzip" /api/v1/images/pull-active "$(gzsize pull-active)" \
            'accept-encoding: gzip'
        figure "$n" "$size" "pull-failed?limit=1000 gzip" '/api/v1/images/pull-failed?limit=1000' \
            "$(gzsize pull-failed)" 'accept-encoding: gzip'
        stop_pid "$h2o_pid"
        stop_feed
    done
    if [ "$big" -gt 0 ]; then
        rm -rf "$work/www"
        start_feed --active 0 --failed 0 --big "$big" --workers "$n"
        active_bytes=$(save /api/v1/images/pull-active pull-active)
        job_bytes=$(save "/api/v1/images/pull-jobs/$big_id" "pull-jobs/$big_id")
        start_h2o "$n"
        same_bytes "/api/v1/images/pull-jobs/$big_id"
        figure "$n" "1 of $big tasks" "one job by id" "/api/v1/images/pull-jobs/$big_id" "$job_bytes"
        figure "$n" "1 of $big tasks" "one job by id gzip" "/api/v1/images/pull-jobs/$big_id" \
            "$(gzsize "pull-jobs/$big_id")" 'accept-encoding: gzip'
        stop_pid "$h2o_pid"
        stop_feed
    fi
done
echo
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "machine: nproc $(nproc), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
[ -n "${RESULTS:-}" ] && echo "results: $results"
exit 0
