#!/bin/bash
# Redis CPU per parallelism slot script (master/redis_link.c, slot_script): a redis-server on a
# free loopback port, `redis-benchmark` sending the script as the link does (EVAL, one key), and
# `INFO commandstats` for the time Redis spent in it. CLAIMS spread over JOBS jobs' keys, each by
# one of NODES nodes, with parallelism PAR: the first PAR claims of a key are granted, the rest
# refused, as when a job's waiting nodes claim again every second. See docs/benchmarks.md
# "Parallelism slots in Redis".
#
#   tests/bench/bench_redis_slots.sh [CLAIMS] [JOBS] [PAR]      # defaults: 200000 1000 5
set -euo pipefail
CLAIMS=${1:-200000}
JOBS=${2:-1000}
PAR=${3:-5}
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d /tmp/ipd-bench-slots.XXXXXX)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$work" >"$work/redis.log" 2>&1 &
rpid=$!
trap 'kill "$rpid" 2>/dev/null; wait "$rpid" 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 50); do redis-cli -p "$port" PING >/dev/null 2>&1 && break; sleep 0.1; done
# The script's text, as the link sends it.
script=$(python3 - "$root/master/redis_link.c" <<'PY'
import re, sys
s = open(sys.argv[1]).read()
i = s.index("static const char slot_script[] =")
j = s.index(";", s.index("return {ARGV[5]", i))
print("".join(re.findall(r'"((?:[^"\\]|\\.)*)"', s[i:j])))
PY
)
# __rand_int__ is redis-benchmark's random number (0 .. JOBS-1 with -r JOBS): which job's key,
# and which node claims it; the parallelism refuses all but PAR nodes per key.
redis-benchmark -p "$port" -n "$CLAIMS" -c 4 -r "$JOBS" -q EVAL "$script" 1 '{imgpulld}:slots:pj-__rand_int__' \
    node-__rand_int__ c "$PAR" 604800000 pj-x imgpulld imgpull-pj-x >"$work/bench.txt" 2>&1
redis-cli -p "$port" INFO commandstats | tr -d '\r' | python3 -c '
import sys
for line in sys.stdin:
    if line.startswith("cmdstat_eval:"):
        f = dict(kv.split("=") for kv in line.split(":", 1)[1].split(","))
        print("slot script: %s calls, %.2f us of Redis CPU each" % (f["calls"], float(f["usec_per_call"])))'
held=$(redis-cli -p "$port" EVAL "local n = 0 for _, k in ipairs(redis.call('KEYS', '{imgpulld}:slots:*')) do n = n + tonumber(redis.call('HGET', k, '#')) end return n" 0)
keys=$(redis-cli -p "$port" EVAL "return #redis.call('KEYS', '{imgpulld}:slots:*')" 0)
echo "keys: $keys, slots held: $held (at most $PAR each)"
