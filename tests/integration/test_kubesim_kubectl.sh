#!/usr/bin/env bash
# Fidelity of the Kubernetes simulator as seen by the real kubectl: discovery,
# tables, watch (-w and --raw), logs -f, plus list pagination, 410 on an old
# resourceVersion and an injected 429, checked with curl.  kubectl being
# unusable is a failure, not a skip: the simulator is only as good as this check.
set -euo pipefail

src="${IPD_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}"
work="$(mktemp -d)"
sim_pid=""
tls_pid=""
bg_pids=()
cleanup() {
    for p in "${bg_pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "$sim_pid" "$tls_pid"; do
        if [[ -n "$p" ]]; then kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; fi
    done
    rm -rf "$work"
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; [[ -f "$work/sim.err" ]] && tail -20 "$work/sim.err" >&2; exit 1; }
step() { echo "--- $*"; }

KUBECTL=${KUBECTL:-/usr/bin/kubectl}
[[ -x "$KUBECTL" ]] || fail "$KUBECTL is not installed"
command -v curl >/dev/null || fail "curl is not installed"

/usr/bin/python3 "$src/tests/kubesim/kubesim.py" --port 0 --pull-ms 200 --log-rate 20 \
    >"$work/sim.out" 2>"$work/sim.err" &
sim_pid=$!
for _ in $(seq 100); do
    grep -q '^listening on ' "$work/sim.out" 2>/dev/null && break
    kill -0 "$sim_pid" 2>/dev/null || fail "simulator exited early"
    sleep 0.1
done
port="$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$work/sim.out")"
[[ -n "$port" ]] || fail "simulator did not print its port"
base="http://127.0.0.1:$port"
k() { timeout 20 "$KUBECTL" --server "$base" --cache-dir "$work/cache" "$@"; }
api() { curl -sS --max-time 10 "$@"; }
json() { /usr/bin/python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

job_json() { # name image
    cat <<JSON
{"apiVersion":"batch/v1","kind":"Job","metadata":{"name":"$1","namespace":"imgpulld",
 "labels":{"imgpulld.io/job":"pj-0000test","imgpulld.io/node":"node-1"}},
 "spec":{"backoffLimit":1,"template":{"metadata":{"labels":{"imgpulld.io/job":"pj-0000test"}},
 "spec":{"nodeName":"node-1","restartPolicy":"Never","tolerations":[{"operator":"Exists"}],
 "containers":[{"name":"pull","image":"$2","imagePullPolicy":"IfNotPresent","command":["/imgpulld-noop"]}]}}}}
JSON
}
create_job() { api -X POST -H 'Content-Type: application/json' --data "$(job_json "$1" "$2")" \
    "$base/apis/batch/v1/namespaces/imgpulld/jobs" >/dev/null; }
pod_of() { api "$base/api/v1/namespaces/imgpulld/pods?labelSelector=job-name%3D$1" | json 'd["items"][0]["metadata"]["name"] if d["items"] else ""'; }

step "kubectl version talks to the simulator"
k version >"$work/version" 2>&1 || { cat "$work/version"; fail "kubectl version"; }
grep -Eq "Server Version: (v1.31.0|version.Info\{.*GitVersion:\"v1.31.0\")" "$work/version" || fail "kubectl did not report the server version"

step "kubectl get pods -A / nodes / namespaces"
k get pods -A >"$work/pods" 2>&1 || { cat "$work/pods"; fail "get pods -A"; }
grep -q 'No resources found' "$work/pods" || fail "expected no pods: $(cat "$work/pods")"
k get nodes >"$work/nodes" || fail "get nodes"
[[ "$(grep -c ' Ready ' "$work/nodes")" == 3 ]] || fail "expected 3 Ready nodes: $(cat "$work/nodes")"
k get namespaces >"$work/ns" || fail "get namespaces"
grep -q '^imgpulld ' "$work/ns" || fail "namespace imgpulld missing"

step "kubectl get pods -w sees a pod created through a Job"
timeout 15 "$KUBECTL" --server "$base" --cache-dir "$work/cache" get pods -n imgpulld -w >"$work/watch" 2>&1 &
bg_pids+=($!)
sleep 1.5
create_job watched docker.io/library/busybox:1.36
pod=""
for _ in $(seq 50); do pod="$(pod_of watched)"; [[ -n "$pod" ]] && break; sleep 0.1; done
[[ "$pod" =~ ^watched-[bcdfghjklmnpqrstvwxz2456789]{5}$ ]] || fail "job pod name: '$pod'"
for _ in $(seq 60); do grep -q "^$pod .*StartError\|^$pod .*RunContainerError" "$work/watch" && break; sleep 0.1; done
grep -q "^$pod " "$work/watch" || fail "watch did not print $pod: $(cat "$work/watch")"
grep -q "^$pod .*\(StartError\|RunContainerError\)" "$work/watch" || fail "watch missed the start error: $(cat "$work/watch")"
# (Output goes to files: grep -q closing a pipe early would fail the pipeline.)
k get jobs -n imgpulld >"$work/jobs" || fail "get jobs"
grep -q '^watched ' "$work/jobs" || fail "get jobs: $(cat "$work/jobs")"
k get events -n imgpulld >"$work/events" || fail "get events"
grep -q 'Successfully pulled image "docker.io/library/busybox:1.36"' "$work/events" || fail "Pulled event"

step "kubectl logs -f follows a running container to its end"
api -X POST --data '{"pattern":"logger","outcome":"Run","run_ms":2000,"log_rate":20}' "$base/_sim/outcome" >/dev/null
create_job logs docker.io/library/logger:1
for _ in $(seq 50); do lpod="$(pod_of logs)"; [[ -n "$lpod" ]] && break; sleep 0.1; done
for _ in $(seq 50); do
    phase="$(api "$base/api/v1/namespaces/imgpulld/pods/$lpod" | json 'd["status"]["phase"]')"
    [[ "$phase" == Running ]] && break; sleep 0.1
done
[[ "$phase" == Running ]] || fail "log pod is $phase"
k logs -f -n imgpulld "$lpod" >"$work/logs" || fail "logs -f"
lines="$(wc -l <"$work/logs")"
(( lines >= 20 )) || fail "logs -f returned $lines lines"
head -1 "$work/logs" | grep -qx "line 1 of $lpod" || fail "first log line: $(head -1 "$work/logs")"

step "kubectl get --raw of a watch URL prints one JSON event per line"
rv="$(api "$base/api/v1/namespaces/imgpulld/pods" | json 'd["metadata"]["resourceVersion"]')"
# The server ends the watch after timeoutSeconds=2; the outer timeout only bounds a hang, and is
# long enough for a loaded machine (kubectl's own start-up can take seconds there).
timeout 30 "$KUBECTL" --server "$base" --cache-dir "$work/cache" get --raw \
    "/api/v1/namespaces/imgpulld/pods?watch=true&resourceVersion=0&allowWatchBookmarks=true&timeoutSeconds=2" \
    >"$work/raw" || fail "get --raw watch"
/usr/bin/python3 - "$work/raw" "$pod" "$lpod" <<'PY' || fail "raw watch lines"
import json, sys
events = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
names = {e["object"]["metadata"].get("name") for e in events if e["type"] == "ADDED"}
assert {sys.argv[2], sys.argv[3]} <= names, names
assert all(e["type"] in ("ADDED", "MODIFIED", "DELETED", "BOOKMARK") for e in events)
assert any(e["type"] == "BOOKMARK" for e in events), "no bookmark"
PY

step "list pagination: limit=2 pages share one resourceVersion and cover every item"
for i in 1 2 3 4 5; do
    api -X POST -H 'Content-Type: application/json' --data \
        "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"page-$i\"},\"spec\":{\"nodeName\":\"gone\",\"containers\":[{\"name\":\"c\",\"image\":\"busybox\"}]}}" \
        "$base/api/v1/namespaces/default/pods" >/dev/null
done
url="$base/api/v1/namespaces/default/pods?limit=2"
: >"$work/pages"
cont=""
for _ in $(seq 10); do
    api "$url${cont:+&continue=$cont}" >"$work/page.json"
    json '"%s %s" % (d["metadata"]["resourceVersion"], " ".join(i["metadata"]["name"] for i in d["items"]))' \
        <"$work/page.json" >>"$work/pages"
    cont="$(json 'd["metadata"].get("continue", "")' <"$work/page.json")"
    [[ -z "$cont" ]] && break
    # Changes between pages must not show up in the paginated list.
    api -X DELETE "$base/api/v1/namespaces/default/pods/page-5" >/dev/null 2>&1 || true
done
[[ "$(cut -d' ' -f1 "$work/pages" | sort -u | wc -l)" == 1 ]] || fail "pages differ in resourceVersion: $(cat "$work/pages")"
[[ "$(cut -d' ' -f2- "$work/pages" | tr ' \n' '  ' | xargs)" == "page-1 page-2 page-3 page-4 page-5" ]] \
    || fail "pages: $(cat "$work/pages")"

step "a watch from a compacted resourceVersion answers 410 Expired"
old_rv="$rv"
api -X POST --data '{"keep":0}' "$base/_sim/compact" >/dev/null
code="$(api -o "$work/gone.json" -w '%{http_code}' "$base/api/v1/pods?watch=true&resourceVersion=$old_rv")"
[[ "$code" == 410 ]] || fail "old resourceVersion gave $code"
json 'd["kind"], d["reason"], d["code"], d["message"]' <"$work/gone.json" | grep -qF "Status Expired 410 too old resource version: $old_rv (" \
    || fail "410 body: $(cat "$work/gone.json")"

step "an injected 429 carries Retry-After, then requests succeed again"
api -X POST --data '{"count":1,"code":429,"path":"^/api/v1/pods","retry_after":3}' "$base/_sim/inject" >/dev/null
hdr="$(api -D - -o "$work/429.json" "$base/api/v1/pods")"
grep -q '^HTTP/1.1 429' <<<"$hdr" || fail "no 429: $hdr"
grep -qi '^Retry-After: 3' <<<"$hdr" || fail "no Retry-After: $hdr"
[[ "$(json 'd["reason"]' <"$work/429.json")" == TooManyRequests ]] || fail "429 body"
[[ "$(api -o /dev/null -w '%{http_code}' "$base/api/v1/pods")" == 200 ]] || fail "request after 429"
count="$(api "$base/_sim/requests" | json 'd["by_verb"].get("watch", 0)')"
(( count >= 2 )) || fail "request log counted $count watches"

step "kubectl over TLS with a bearer token (kubeconfig)"
/usr/bin/python3 "$src/tests/kubesim/kubesim.py" --port 0 --tls --token t0ken --nodes 2 \
    >"$work/tls.out" 2>"$work/tls.err" &
tls_pid=$!
for _ in $(seq 100); do grep -q '^listening on ' "$work/tls.out" 2>/dev/null && break; sleep 0.1; done
tls_port="$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$work/tls.out")"
ca="$(sed -n 's/^ca-file //p' "$work/tls.out")"
[[ -n "$tls_port" && -f "$ca" ]] || fail "TLS simulator did not start: $(cat "$work/tls.out" "$work/tls.err")"
cat >"$work/kubeconfig" <<YAML
apiVersion: v1
kind: Config
clusters: [{name: sim, cluster: {server: "https://127.0.0.1:$tls_port", certificate-authority: "$ca"}}]
users: [{name: sim, user: {token: t0ken}}]
contexts: [{name: sim, context: {cluster: sim, user: sim, namespace: imgpulld}}]
current-context: sim
YAML
timeout 20 "$KUBECTL" --kubeconfig "$work/kubeconfig" --cache-dir "$work/cache-tls" get nodes >"$work/tls-nodes" \
    || fail "kubectl over TLS: $(cat "$work/tls-nodes")"
[[ "$(grep -c ' Ready ' "$work/tls-nodes")" == 2 ]] || fail "TLS nodes: $(cat "$work/tls-nodes")"
[[ "$(curl -sS --cacert "$ca" -o /dev/null -w '%{http_code}' "https://127.0.0.1:$tls_port/api/v1/pods")" == 401 ]] \
    || fail "a request without the token was not refused"

echo "PASS: kubectl and curl agree with the simulator"
