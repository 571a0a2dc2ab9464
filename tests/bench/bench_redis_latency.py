"""Cross-node latency: a pod change on node-3 to the update on daemon 1's WebSocket (node scope,
linked through Redis), beside a cluster-scope daemon that sees the same change itself.

Usage (from the repository root, after a build):
    /usr/bin/python3 tests/bench/bench_redis_latency.py [CHANGES] [BUILD_DIR]

Starts the simulator (3 nodes), a redis-server (no persistence), three node-scope daemons and
one cluster-scope daemon on free loopback ports, and stops them all by PID. CHANGES pull jobs
run on node-3, one after the other; the latency is from the change that makes node-3's task final
to the moment each WebSocket delivers the task as succeeded.

A task is final when its pod's container has exited. The simulator's outcome for every image is
"Run" with run_ms 0: the kubelet starts the container and schedules its exit with no delay, so
the exit follows the container's "Started" Event by one turn of the simulator's scheduler. The
change is thus timed by the last "Started" Event of the pod (its eventTime, microseconds); the
container's own finishedAt has whole seconds only, as in Kubernetes. A run_ms above 0 would add
that many milliseconds between the Event and the change to every figure.
"""

import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration", "ws"))
from wslib import connect, recv_json, rest  # noqa: E402
from benchlib import free_port, stop_all  # noqa: E402

CHANGES = int(sys.argv[1]) if len(sys.argv) > 1 else 200
BUILD = sys.argv[2] if len(sys.argv) > 2 else "build"


def wait_http(url, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise SystemExit("no answer from " + url)


def rfc3339(text):
    # 2026-12-03T17:40:01.123456Z
    base, frac = text.rstrip("Z").split(".")
    t = time.mktime(time.strptime(base, "%Y-%m-%dT%H:%M:%S")) - time.timezone
    return t + float("0." + frac)


async def follow(port, want, seen):
    """Records when each job id in `want` is first delivered with node-3's task succeeded."""
    ws = await connect(port, "/ws/image-pull-all")
    await ws.send('{"op":"subscribe_all"}')
    while True:
        m = await recv_json(ws, timeout=120)
        if m.get("type") not in ("snapshot", "update"):
            continue
        job = m["job"]
        if job["id"] in seen:
            continue
        for t in job["tasks"]:
            if t["node"] == "node-3" and t["state"] == "succeeded":
                seen[job["id"]] = (time.time(), t.get("pod"))


async def main(ports, cluster_port, sim_port):
    print("load average at the start: %s" % " ".join(open("/proc/loadavg").read().split()[:3]))
    seen_node, seen_cluster = {}, {}
    tasks = [asyncio.create_task(follow(ports[0], None, seen_node)),
             asyncio.create_task(follow(cluster_port, None, seen_cluster))]
    await asyncio.sleep(1)
    ids = []
    for k in range(CHANGES):
        status, doc, _ = rest(ports[2], "POST", "/api/v1/images/pull",
                              {"image": "registry.local/lat%d:1" % k, "nodes": ["node-3"]})
        assert status == 202, (status, doc)
        jid = doc["jobs"][0]["id"]
        ids.append(jid)
        deadline = time.monotonic() + 30
        while jid not in seen_node or jid not in seen_cluster:
            assert time.monotonic() < deadline, "job %s not seen on both" % jid
            await asyncio.sleep(0.01)
    for t in tasks:
        t.cancel()
    # The last "Started" Event of each of node-3's pods (its main container's, after the init
    # container's): the container exits one scheduler turn later, which makes the task final.
    with urllib.request.urlopen("http://127.0.0.1:%d/api/v1/namespaces/imgpulld/events?fieldSelector=reason%%3DStarted"
                                % sim_port) as r:
        events = json.load(r)["items"]
    started = {}
    for e in events:
        pod, t = e["involvedObject"]["name"], rfc3339(e["eventTime"])
        started[pod] = max(t, started.get(pod, t))
    lat_node, lat_cluster = [], []
    for jid in ids:
        (t1, pod1), (tc, podc) = seen_node[jid], seen_cluster[jid]
        if pod1 in started and podc in started:
            lat_node.append((t1 - started[pod1]) * 1000)
            lat_cluster.append((tc - started[podc]) * 1000)

    def pct(xs, p):
        xs = sorted(xs)
        return xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))]

    for name, xs in (("node scope via Redis (daemon 1)", lat_node), ("cluster scope", lat_cluster)):
        print("%-32s n=%d  p50 %.1f ms  p99 %.1f ms  mean %.1f ms" % (name, len(xs), pct(xs, 50), pct(xs, 99),
                                                                      statistics.mean(xs)))
    print("p99 ratio node/cluster: %.2f" % (pct(lat_node, 99) / pct(lat_cluster, 99)))
    print("load average at the end: %s" % " ".join(open("/proc/loadavg").read().split()[:3]))


def run():
    d = tempfile.mkdtemp(prefix="ipd-bench-lat.")
    procs = []
    instances = []
    try:
        sim_port, redis_port = free_port(), free_port()
        procs.append(subprocess.Popen(["/usr/bin/python3", "tests/kubesim/kubesim.py", "--port", str(sim_port),
                                       "--nodes", "3", "--pull-ms", "50"],
                                      stdout=open(os.path.join(d, "sim.log"), "w"), stderr=subprocess.STDOUT))
        procs.append(subprocess.Popen(["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "",
                                       "--appendonly", "no", "--dir", d],
                                      stdout=open(os.path.join(d, "redis.log"), "w"), stderr=subprocess.STDOUT))
        wait_http("http://127.0.0.1:%d/healthz" % sim_port)
        req = urllib.request.Request("http://127.0.0.1:%d/_sim/outcome" % sim_port, method="POST",
                                     data=b'{"pattern": ".", "outcome": "Run", "run_ms": 0, "exit_code": 0}',
                                     headers={"Content-Type": "application/json"})
        urllib.request.urlopen(req).read()
        ports = []
        for i in range(4):
            port = free_port()
            inst = "bench-lat-%d-%d" % (os.getpid(), i)
            instances.append(inst)
            scope = ("scope node\nnode_name node-%d\nredis 127.0.0.1:%d\n" % (i + 1, redis_port)) if i < 3 else ""
            conf = os.path.join(d, "d%d.conf" % i)
            with open(conf, "w") as f:
                f.write("kube_server http://127.0.0.1:%d\ninstance %s\nlisten 127.0.0.1:%d\nworkers 1\n"
                        "stats_file %s/stats-%d.json\nlog_level warn\n%s" % (sim_port, inst, port, d, i, scope))
            procs.append(subprocess.Popen([os.path.join(BUILD, "imgpulld"), "-c", conf],
                                          stdout=open(os.path.join(d, "d%d.log" % i), "w"),
                                          stderr=subprocess.STDOUT))
            ports.append(port)
        for p in ports:
            wait_http("http://127.0.0.1:%d/readyz" % p)
        time.sleep(1)
        asyncio.run(main(ports[:3], ports[3], sim_port))
    finally:
        stop_all(procs, instances, d)


if __name__ == "__main__":
    run()
