#!/usr/bin/env bash
# Watch throughput: the simulator emits a burst of pod events into its watch history; then plain
# curl and imgpulld's watch path (bench_watch) each read the same stream from the burst's first
# resourceVersion. Usage: tests/bench/bench_watch.sh [EVENTS] [PODS]   (from the repository root)
set -euo pipefail
cd "$(dirname "$0")/../.."
events=${1:-200000}
pods=${2:-300}
build=${BUILD:-build}
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
log=$(mktemp)
/usr/bin/python3 tests/kubesim/kubesim.py --port "$port" --nodes 3 --history $((events + 10000)) >"$log" 2>&1 &
sim=$!
trap 'kill $sim 2>/dev/null; wait $sim 2>/dev/null; rm -f "$log" "${endf:-}"' EXIT
until grep -q "listening on" "$log"; do sleep 0.1; done

burst=$(curl -s -XPOST -H 'Content-Type: application/json' \
    -d "{\"count\":$events,\"rate\":0,\"pods\":$pods,\"synthetic\":true,\"wait\":true}" "http://127.0.0.1:$port/_sim/burst")
first=$(echo "$burst" | /usr/bin/python3 -c 'import json,sys; print(int(json.load(sys.stdin)["first_rv"]) - 1)')
last=$(echo "$burst" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["last_rv"])')
echo "burst: $burst"
# Bookmarks make curl notice, within a second, that head has stopped reading; the clock stops
# when head has the last event, so that second is not counted.
url="http://127.0.0.1:$port/api/v1/namespaces/imgpulld/pods?watch=1&allowWatchBookmarks=true&resourceVersion=$first&labelSelector=imgpulld.io%2Fjob"
endf=$(mktemp)

for run in 1 2 3; do
    start=$(date +%s.%N)
    curl -sN "$url" | { head -n "$events" >/dev/null; date +%s.%N >"$endf"; } || true  # curl ends on SIGPIPE
    end=$(cat "$endf")
    echo "curl run $run: $events events in $(echo "$end - $start" | bc) s: $(echo "$events / ($end - $start)" | bc) events/s"
    "$build/bench/bench_watch" "$port" "$first" "$last" | sed "s/^/imgpulld run $run: /"
done
