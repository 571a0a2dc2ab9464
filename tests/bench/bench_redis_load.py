"""Apiserver load of one pull onto N simulated nodes, per daemon: a cluster-scope daemon against
a node-scope daemon linked through Redis, from the simulator's request log (requests, and the
response bytes of lists and watches it sent to that daemon).

Usage (from the repository root, after a build):
    /usr/bin/python3 tests/bench/bench_redis_load.py [NODES...] [--build DIR]

For each node count (default 10 and 50) and each mode, a fresh simulator (and Redis for node
scope) and one daemon are started on free loopback ports; the request log is cleared once the
daemon is ready; one pull job targets every node (created through the daemon's API); the run
ends 2 s after the simulator shows every Kubernetes Job complete. Then the request log is
cleared again and the daemon left idle for BENCH_IDLE seconds (default 15: three of the stand-in's
lists at the default redis_liveness_ttl), which shows what it asks of the apiserver when nothing
happens (BENCH_START_DELAY, default 1 s, is the wait between readiness and the pull). Node
scope runs twice: as the only daemon (the other nodes have none, so it stands in
for them, docs/architecture.md), and with every other node's liveness key set in Redis
beforehand, as when every node runs a daemon. Everything started is stopped by PID.
"""

import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request

from benchlib import free_port, stop_all

# Seconds between the daemon's readiness and the pull: 7 lets the stand-in's first list (and its
# watch) happen first, at the default redis_liveness_ttl.
START_DELAY = float(os.environ.get("BENCH_START_DELAY", "1"))
args = sys.argv[1:]
BUILD = "build"
if "--build" in args:
    i = args.index("--build")
    BUILD = args[i + 1]
    del args[i:i + 2]
NODE_COUNTS = [int(a) for a in args] or [10, 50]
IDLE = float(os.environ.get("BENCH_IDLE", "15"))


def http(port, method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), data=data, method=method,
                                 headers={"Content-Type": "application/json"} if data else {})
    with urllib.request.urlopen(req, timeout=30) as r:
        raw = r.read()
        return json.loads(raw) if raw else None


def wait(pred, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if pred():
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit("timed out: " + what)


def run(nodes, mode):
    d = tempfile.mkdtemp(prefix="ipd-bench-load.")
    procs, inst = [], "bench-load-%d-%s-%d" % (os.getpid(), mode, nodes)
    try:
        sim_port, port = free_port(), free_port()
        procs.append(subprocess.Popen(["/usr/bin/python3", "tests/kubesim/kubesim.py", "--port", str(sim_port),
                                       "--nodes", str(nodes), "--pull-ms", "200"],
                                      stdout=open(os.path.join(d, "sim.log"), "w"), stderr=subprocess.STDOUT))
        wait(lambda: http(sim_port, "GET", "/_sim/config") is not None, 20, "simulator")
        http(sim_port, "POST", "/_sim/outcome", {"pattern": ".", "outcome": "Run", "run_ms": 100, "exit_code": 0})
        extra = ""
        if mode != "cluster":
            rport = free_port()
            procs.append(subprocess.Popen(["redis-server", "--port", str(rport), "--bind", "127.0.0.1", "--save",
                                           "", "--appendonly", "no", "--dir", d],
                                          stdout=open(os.path.join(d, "redis.log"), "w"), stderr=subprocess.STDOUT))
            extra = "scope node\nnode_name node-1\nredis 127.0.0.1:%d\n" % rport
            wait(lambda: subprocess.run(["redis-cli", "-p", str(rport), "PING"], capture_output=True).stdout
                 == b"PONG\n", 10, "redis-server")
        if mode == "alive":
            # Every other node's daemon, as far as Redis tells: its liveness key (for an hour).
            cmds = "".join("SADD {imgpulld}:nodes node-%d\nSET {imgpulld}:alive:node-%d x PX 3600000\n" % (k, k)
                           for k in range(2, nodes + 1))
            subprocess.run(["redis-cli", "-p", str(rport)], input=cmds.encode(), check=True, capture_output=True)
        conf = os.path.join(d, "d.conf")
        with open(conf, "w") as f:
            f.write("kube_server http://127.0.0.1:%d\ninstance %s\nlisten 127.0.0.1:%d\nworkers 1\n"
                    "stats_file %s/stats.json\nlog_level warn\n%s" % (sim_port, inst, port, d, extra))
        procs.append(subprocess.Popen([os.path.join(BUILD, "imgpulld"), "-c", conf],
                                      stdout=open(os.path.join(d, "d.log"), "w"), stderr=subprocess.STDOUT))
        wait(lambda: urllib.request.urlopen("http://127.0.0.1:%d/readyz" % port, timeout=1).status == 200, 30,
             "daemon ready")
        time.sleep(START_DELAY)
        http(sim_port, "DELETE", "/_sim/requests")
        t0 = time.monotonic()
        doc = http(port, "POST", "/api/v1/images/pull", {"image": "registry.local/load:1", "all_nodes": True})
        jid = doc["jobs"][0]["id"]

        def all_complete():
            items = http(sim_port, "GET", "/apis/batch/v1/namespaces/imgpulld/jobs?labelSelector=imgpulld.io%%2Fjob%%3D%s"
                         % jid)["items"]
            done = [j for j in items if any(c["type"] == "Complete" and c["status"] == "True"
                                            for c in j.get("status", {}).get("conditions", []))]
            # The daemon deletes the Jobs of its own node's succeeded tasks: those are done too.
            return len(done) == len(items)
        wait(all_complete, 120, "all Jobs complete")
        time.sleep(2)
        rep = http(sim_port, "GET", "/_sim/requests")
        secs = time.monotonic() - t0
        b = rep.get("bytes_by_verb", {})
        by = rep.get("by_verb", {})
        api = sum(n for v, n in by.items() if v not in ("sim",))
        if os.environ.get("BENCH_DETAIL"):
            print(mode, nodes, json.dumps(by), json.dumps(b), json.dumps(
                [(x["method"], x["verb"], x["path"], x["count"]) for x in rep["by_path"] if x["verb"] == "list"]))
        http(sim_port, "DELETE", "/_sim/requests")
        time.sleep(IDLE)
        idle = http(sim_port, "GET", "/_sim/requests")
        idle_by, idle_b = idle.get("by_verb", {}), idle.get("bytes_by_verb", {})
        return {"requests": api, "watch_bytes": b.get("watch", 0), "list_bytes": b.get("list", 0),
                "watches": by.get("watch", 0), "lists": by.get("list", 0), "secs": secs,
                "idle_requests": sum(n for v, n in idle_by.items() if v not in ("sim",)),
                "idle_bytes": sum(n for v, n in idle_b.items() if v not in ("sim",))}
    finally:
        stop_all(procs, [inst], d)


print("%-6s %-28s %9s %8s %8s %12s %11s %14s %11s" % ("nodes", "daemon", "requests", "lists", "watches",
                                                       "watch bytes", "list bytes", "idle requests", "idle bytes"))
LABELS = {"cluster": "cluster scope", "node": "node scope + Redis, alone", "alive": "node scope + Redis, all alive"}
for n in NODE_COUNTS:
    res = {}
    for mode in ("cluster", "node", "alive"):
        r = run(n, mode)
        res[mode] = r
        print("%-6d %-28s %9d %8d %8d %12d %11d %14d %11d" % (n, LABELS[mode], r["requests"], r["lists"], r["watches"],
                                                              r["watch_bytes"], r["list_bytes"], r["idle_requests"],
                                                              r["idle_bytes"]), flush=True)
    if res["node"]["watch_bytes"]:
        print("%-6d watch bytes cluster / node: %.1fx" % (n, res["cluster"]["watch_bytes"] /
                                                            res["node"]["watch_bytes"]), flush=True)
