"""The /ws/pod-logs cases, run against a live simulator and daemon by test_pod_logs.sh.

usage: cases.py --sim PORT --daemon PORT --daemon-pid PID [CASE...]

The daemon runs one worker with logs_pod_wait 2s and logs_client_write_timeout 2s. Each
case prints "ok NAME" or "FAIL NAME: why"; the exit status is the number of failures.
"""

import argparse
import asyncio
import datetime
import os
import re
import subprocess
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from wslog import Sim, collect, handshake_status, http_json, run  # noqa: E402

import websockets  # noqa: E402

A = None  # parsed arguments
sim = None


def url(query):
    return "ws://127.0.0.1:%d/ws/pod-logs?%s" % (A.daemon, query)


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def running_pod(name, **kw):
    sim.pod(name, **kw)
    return sim.wait_running(name)


def stats():
    st, doc = http_json(A.daemon, "GET", "/api/v1/stats")
    check(st == 200, "stats answered %s" % st)
    return doc["logs"]


def worker_pids():
    with open("/proc/%d/task/%d/children" % (A.daemon_pid, A.daemon_pid)) as f:
        return [int(p) for p in f.read().split()]


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))


def wait_for(pred, timeout, what):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError("timed out: " + what)


# ---- validation before the upgrade ----

def case_bad_parameters():
    sim.pod("twins", containers=("a", "b"))
    running_pod("val1")
    rfc = "2026-01-01T00:00:00Z"
    bad = [
        ("pod=val1&tailLines=-1", "tailLines"), ("pod=val1&tailLines=10001", "tailLines"),
        ("pod=val1&tailLines=x", "tailLines"), ("pod=val1&follow=maybe", "follow"),
        ("pod=val1&timestamps=2", "timestamps"), ("pod=val1&previous=yes", "previous"),
        ("pod=val1&sinceSeconds=0", "sinceSeconds"), ("pod=val1&sinceSeconds=1h", "sinceSeconds"),
        ("pod=val1&sinceTime=yesterday", "sinceTime"), ("pod=val1&sinceSeconds=5&sinceTime=" + rfc, "sinceTime"),
        ("pod=val1&limitBytes=0", "limitBytes"), ("pod=val1&limitBytes=-3", "limitBytes"),
        ("pod=val1&namespace=default", "namespace"), ("pod=val1&namespace=Bad_NS", "namespace"),
        ("pod=Bad_Pod", "pod"), ("pod=val1&container=UPPER", "container"), ("job=pj-00000001", "node"),
        ("node=node-1", "job"), ("pod=val1&job=pj-1&node=node-1", "pod"), ("", "pod"),
        ("pod=val1&colour=red", "colour"), ("pod=val1&pod=val1", "pod"),
        ("pod=val1&container=nope", "container"), ("pod=twins", "container"),
    ]
    for query, param in bad:
        st, body = handshake_status(A.daemon, query)
        check(st == 400, "%r answered %s, want 400" % (query, st))
        msg = body["error"]["message"]
        check(body["error"]["code"] == "invalid_argument" and msg.startswith(param + ":"),
              "%r: message %r does not name %s" % (query, msg, param))
    st, body = handshake_status(A.daemon, "pod=twins")
    check("a, b" in body["error"]["message"], "the containers are not listed: %r" % body)
    st, body = handshake_status(A.daemon, "job=pj-0badc0de&node=node-1")
    check(st == 404 and body["error"]["code"] == "not_found", "unknown job answered %s %r" % (st, body))
    st, body = http_json(A.daemon, "GET", "/ws/pod-logs?pod=val1")
    check(st == 400 and "WebSocket" in body["error"]["message"], "plain GET answered %s %r" % (st, body))


# ---- what the stream carries ----

def case_tail_and_follow():
    running_pod("tail1")
    sim.logs("tail1", lines=["one", "two", "three"])

    async def go():
        async def more(ws):
            await asyncio.sleep(0.3)
            sim.logs("tail1", lines=["four", "five"])
            await asyncio.sleep(0.3)
            sim.delete_pod("tail1")
        return await collect(url("pod=tail1&tailLines=2"), on_open=more, timeout=10)
    s = run(go())
    check(s.types()[0] == "started", "first message %r" % s.texts[:1])
    st = s.text("started")
    # No container named: "main" when the pod read answered first, null when the log's answer did.
    check(st in ({"type": "started", "namespace": "imgpulld", "pod": "tail1", "container": c} for c in ("main", None)),
          "started %r" % st)
    check(bytes(s.data) == b"two\nthree\nfour\nfive\n", "log bytes %r" % bytes(s.data))
    check(s.texts[-1] == {"type": "end", "reason": "pod_deleted"}, "last message %r" % s.texts[-1])
    check(s.code == 1000, "close code %s" % s.code)
    check(all(kind == "text" or n > 0 for kind, n in s.events), "empty frame")


def case_named_container_starts_without_the_pod_read():
    # With the container named, the log request's first 2xx bytes (the apiserver has checked the
    # pod and the container) start the stream: a pod read held 6 s does not hold the log.
    running_pod("early1")
    sim.logs("early1", lines=["one", "two"])
    st, _ = sim.post("/_sim/inject", {"count": 1, "delay_ms": 6000, "path": "/pods/early1$", "method": "GET"})
    check(st == 200, "inject answered %s" % st)
    try:
        t0 = time.monotonic()
        s = run(collect(url("pod=early1&container=main&follow=false"), timeout=15))
        took = time.monotonic() - t0
    finally:
        http_json(A.sim, "DELETE", "/_sim/inject")
    check(s.types() == ["started", "end"], "messages %r" % s.texts)
    check(s.text("started") == {"type": "started", "namespace": "imgpulld", "pod": "early1", "container": "main"},
          "started %r" % s.text("started"))
    check(bytes(s.data) == b"one\ntwo\n" and s.code == 1000, "log %r, close %s" % (bytes(s.data), s.code))
    check(took < 5.0, "the stream waited %.1f s for the held pod read" % took)


def case_unnamed_container_starts_without_the_pod_read():
    # With no container named, the apiserver serves the pod's only container
    # (pkg/registry/core/pod/strategy.go, validateContainer): its first 2xx bytes start the
    # stream, a pod read held 6 s does not hold it, and the end still reads the pod.
    running_pod("early2")
    sim.logs("early2", lines=["one", "two"])
    sim.pod("twins2", containers=("a", "b"))
    st, _ = sim.post("/_sim/inject", {"count": 2, "delay_ms": 6000, "path": "/pods/early2$", "method": "GET"})
    check(st == 200, "inject answered %s" % st)
    try:
        t0 = time.monotonic()
        s = run(collect(url("pod=early2&follow=false"), timeout=15))
        took = time.monotonic() - t0
        # Several containers and none named: the apiserver's 400 does not tell this from a
        # container not started yet, so the pod read decides, with the same 400 as before.
        st, _ = sim.post("/_sim/inject", {"count": 1, "delay_ms": 1000, "path": "/pods/twins2$", "method": "GET"})
        check(st == 200, "inject answered %s" % st)
        st, body = handshake_status(A.daemon, "pod=twins2")
    finally:
        http_json(A.sim, "DELETE", "/_sim/inject")
    check(took < 5.0, "the stream waited %.1f s for the held pod read" % took)
    check(s.types() == ["started", "end"], "messages %r" % s.texts)
    check(s.text("started") == {"type": "started", "namespace": "imgpulld", "pod": "early2", "container": None},
          "started %r" % s.text("started"))
    check(bytes(s.data) == b"one\ntwo\n" and s.code == 1000, "log %r, close %s" % (bytes(s.data), s.code))
    check(st == 400 and body["error"]["message"].startswith("container:") and "a, b" in body["error"]["message"],
          "pod=twins2 answered %s %r" % (st, body))


def case_init_container_named():
    # The apiserver serves the log of an init or ephemeral container named in the request
    # (pkg/registry/core/pod/strategy.go, validateContainer), and lists them when none is named.
    sim.pod("inits1", init=("setup",), containers=("a", "b"))
    st, body = handshake_status(A.daemon, "pod=inits1&container=setup")
    check(st == 101, "container=setup answered %s %r" % (st, body))
    st, body = handshake_status(A.daemon, "pod=inits1")
    check(st == 400 and body["error"]["message"].endswith("choose one of: setup, a, b"), "answered %s %r" % (st, body))

def case_container_terminated():
    sim.post("/_sim/outcome", {"pattern": "(^|/)shortlived:", "outcome": "Run", "run_ms": 1500, "exit_code": 0,
                               "log_rate": 20})
    sim.pod("short1", image="shortlived:1", restart="Never")
    s = run(collect(url("pod=short1"), timeout=15))
    check(s.text("started") is not None, "no started: %r" % s.texts)
    lines = bytes(s.data).decode().splitlines()
    check(len(lines) >= 10 and all(re.fullmatch(r"line \d+ of short1", x) for x in lines), "lines %r" % lines[:5])
    check(s.texts[-1] == {"type": "end", "reason": "container_terminated"} and s.code == 1000,
          "end %r code %s" % (s.texts[-1], s.code))


def case_timestamps():
    running_pod("ts1")
    sim.logs("ts1", lines=["alpha", "beta"])
    s = run(collect(url("pod=ts1&timestamps=true&follow=false"), timeout=10))
    lines = bytes(s.data).decode().splitlines()
    check(len(lines) == 2, "lines %r" % lines)
    for line, word in zip(lines, ("alpha", "beta")):
        check(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z " + word, line), "line %r" % line)
    check(s.texts[-1] == {"type": "end", "reason": "complete"} and s.code == 1000, "end %r" % s.texts[-1:])


def case_previous():
    sim.post("/_sim/outcome", {"pattern": "(^|/)crashy:", "outcome": "Run", "run_ms": 400, "exit_code": 1,
                               "log_rate": 20})
    sim.pod("crash1", image="crashy:1")
    sim.wait_running("crash1", timeout=15, restarts=1)
    s = run(collect(url("pod=crash1&previous=true"), timeout=10))
    lines = bytes(s.data).decode().splitlines()
    check(lines and all(re.fullmatch(r"line \d+ of crash1", x) for x in lines), "previous log %r" % lines[:3])
    check(s.texts[-1] == {"type": "end", "reason": "complete"} and s.code == 1000, "end %r" % s.texts[-1:])
    running_pod("noprev")
    s = run(collect(url("pod=noprev&previous=true"), timeout=10))
    err = s.text("error")
    check(err and err["code"] == "upstream_400" and "previous terminated container" in err["message"],
          "error %r" % err)
    check(s.code == 4400, "close code %s" % s.code)


def case_crash_loop_shows_last_run():
    # A container in CrashLoopBackOff that has run before: the kubelet serves its last run's log
    # (pkg/kubelet/kubelet_pods.go, validateContainerLogStatus), so the stream starts at once
    # instead of waiting logs_pod_wait for the next run, as `kubectl logs` does.
    sim.post("/_sim/backoff", {"base_ms": 30000, "max_ms": 30000})
    try:
        sim.post("/_sim/outcome", {"pattern": "(^|/)crashloop:", "outcome": "Run", "run_ms": 300, "exit_code": 1,
                                   "log_rate": 20})
        sim.pod("loop1", image="crashloop:1")

        def backing_off():
            st, pod = sim.get_pod("loop1")
            cs = (pod or {}).get("status", {}).get("containerStatuses", [{}])[0] if st == 200 else {}
            return (cs.get("state", {}).get("waiting", {}).get("reason") == "CrashLoopBackOff"
                    and "terminated" in cs.get("lastState", {}))
        wait_for(backing_off, 10, "loop1 in CrashLoopBackOff")
        t0 = time.monotonic()
        s = run(collect(url("pod=loop1"), timeout=10))
        took = time.monotonic() - t0
        check(s.types()[:1] == ["started"], "messages %r (a crash-looping container was waited for)" % s.texts)
        lines = bytes(s.data).decode().splitlines()
        check(lines and all(re.fullmatch(r"line \d+ of loop1", x) for x in lines), "last run's log %r" % lines[:3])
        check(s.texts[-1] == {"type": "end", "reason": "container_terminated"} and s.code == 1000,
              "end %r code %s" % (s.texts[-1:], s.code))
        check(took < 1.5, "the last run's log took %.1f s" % took)
    finally:
        sim.post("/_sim/backoff", {"base_ms": 200, "max_ms": 2000})
        sim.delete_pod("loop1")


def case_since():
    running_pod("since1")
    sim.logs("since1", lines=["old-1", "old-2"])
    time.sleep(1.5)
    mark = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    time.sleep(0.3)
    sim.logs("since1", lines=["new-1"])
    s = run(collect(url("pod=since1&sinceSeconds=1&follow=false"), timeout=10))
    check(bytes(s.data) == b"new-1\n", "sinceSeconds gave %r" % bytes(s.data))
    s = run(collect(url("pod=since1&follow=false&sinceTime=" + mark), timeout=10))
    check(bytes(s.data) == b"new-1\n", "sinceTime gave %r" % bytes(s.data))


def case_limit_bytes():
    running_pod("limit1")
    sim.logs("limit1", lines=["0123456789", "abcdefghij"])
    s = run(collect(url("pod=limit1&limitBytes=13"), timeout=10))
    check(bytes(s.data) == b"0123456789\nab", "limitBytes gave %r" % bytes(s.data))
    check(s.texts[-1] == {"type": "end", "reason": "limit_bytes"} and s.code == 1000, "end %r" % s.texts[-1:])


def case_frames_cut_at_lines():
    running_pod("frames1")
    long_line = "L" * 100000
    sim.logs("frames1", lines=["short-%d" % i for i in range(3000)] + [long_line, "tail"])
    s = run(collect(url("pod=frames1&follow=false"), timeout=10))
    data = bytes(s.data)
    check(data.endswith((long_line + "\ntail\n").encode()), "bytes were lost or reordered")
    check(max(s.frames) <= 65536, "a frame of %d bytes" % max(s.frames))
    # Every frame ends at a line end except those holding the line longer than a frame.
    pos = 0
    for n in s.frames:
        frame = data[pos:pos + n]
        pos += n
        if not frame.endswith(b"\n"):
            check(n == 65536 and b"\n" not in frame[-1000:], "a frame cut a short line: %r" % frame[-40:])


# ---- discovery ----

def case_waiting_then_started():
    async def go():
        async def create_later(ws):
            await asyncio.sleep(0.4)
            sim.pod("late1")
        return await collect(url("pod=late1"), until=lambda s: "started" in s.types(), on_open=create_later,
                             timeout=10)
    s = run(go())
    check(s.types()[:2] == ["waiting", "started"], "messages %r" % s.texts)
    check(s.texts[0]["timeout_s"] == 2, "waiting %r" % s.texts[0])


def case_pod_not_found_4404():
    t0 = time.monotonic()
    s = run(collect(url("pod=never1"), timeout=10))
    took = time.monotonic() - t0
    check(s.types() == ["waiting", "error"], "messages %r" % s.texts)
    check(s.texts[1]["code"] == "pod_not_found", "error %r" % s.texts[1])
    check(s.code == 4404 and 1.5 <= took <= 4.5, "close %s after %.1f s" % (s.code, took))


def case_late_pod_with_two_containers():
    async def go():
        async def create_later(ws):
            await asyncio.sleep(0.3)
            sim.pod("latetwins", containers=("x", "y"))
        return await collect(url("pod=latetwins"), on_open=create_later, timeout=10)
    s = run(go())
    check(s.types() == ["waiting", "error"], "messages %r" % s.texts)
    check(s.texts[1]["code"] == "invalid_container" and "x, y" in s.texts[1]["message"], "error %r" % s.texts[1])
    check(s.code == 4400, "close code %s" % s.code)


def pull_job(image, **extra):
    st, ans = http_json(A.daemon, "POST", "/api/v1/images/pull",
                        dict({"image": image, "nodes": ["node-1"], "backoff_limit": 10}, **extra))
    check(st == 202, "POST pull answered %s %r" % (st, ans))
    return ans["jobs"][0]["id"]


def task_of(job):
    """The job's task and state; ({}, None) until the master has put the job in the table."""
    st, doc = http_json(A.daemon, "GET", "/api/v1/images/pull-jobs/" + job)
    check(st in (200, 404), "GET job answered %s" % st)
    return (doc["tasks"][0], doc["state"]) if st == 200 else ({}, None)


def case_pull_task_pod():
    # A task whose pull keeps failing: the stream finds the task's pod through the table, waits
    # for its container, then relays the apiserver's reason at the end of logs_pod_wait.
    sim.post("/_sim/fail", {"pattern": "(^|/)taskfail:", "message": "no such image"})
    job = pull_job("taskfail:1")
    wait_for(lambda: task_of(job)[1] is not None, 5, "the master to put the job in the table")
    s = run(collect(url("job=%s&node=node-1" % job), timeout=10))
    task, _ = task_of(job)
    started = s.text("started")
    check(started and started["pod"] == task["pod"] and started["namespace"] == "imgpulld", "messages %r" % s.texts)
    err = s.text("error")
    check(err and err["code"] == "upstream_400" and "trying and failing to pull image" in err["message"],
          "error %r" % err)
    check(s.types()[0] == "waiting" and s.code == 4400, "messages %r close %s" % (s.types(), s.code))

    # A task that succeeded and whose Job's TTL (0 s here) removed the Job and its pod: there is
    # nothing to follow.
    job = pull_job("donepull:2", ttl_seconds_after_finished=0)
    wait_for(lambda: task_of(job)[1] == "succeeded" and sim.get_pod(task_of(job)[0]["pod"])[0] == 404, 10,
             "the pull to succeed and its pod to be cleaned up")
    st, body = handshake_status(A.daemon, "job=%s&node=node-1" % job)
    check(st == 404 and "is gone" in body["error"]["message"], "answered %s %r" % (st, body))
    st, body = handshake_status(A.daemon, "job=%s&node=node-9" % job)
    check(st == 404 and body["error"]["message"].startswith("job:"), "unknown node answered %s %r" % (st, body))


# ---- upstream errors ----

def case_upstream_errors():
    running_pod("err1")
    cases = [(500, "upstream_500", 1011), (404, "upstream_404", 4404), (403, "upstream_403", 4403)]
    for code, want, close in cases:
        st, _ = sim.post("/_sim/inject", {"count": 1, "code": code, "path": "pods/err1/log",
                                          "message": "injected %d" % code})
        check(st in (200, 201), "inject answered %s" % st)
        s = run(collect(url("pod=err1"), timeout=10))
        err = s.text("error")
        check(err and err["code"] == want and ("answered %d: injected %d" % (code, code)) in err["message"],
              "error %r" % err)
        check(s.code == close, "%d: close code %s, want %s" % (code, s.code, close))


# ---- backpressure and resources ----

def case_slow_client_memory_bound():
    running_pod("flood1")
    pid = worker_pids()[0]
    base = rss_kb(pid)

    async def go():
        ws = await websockets.connect(url("pod=flood1"), max_size=1 << 24, max_queue=1, read_limit=1 << 16)
        await ws.recv()  # started
        sim.logs("flood1", nbytes=200_000_000)
        got, peak, t0 = 0, base, time.monotonic()
        while time.monotonic() - t0 < 5:
            m = await ws.recv()
            got += len(m)
            peak = max(peak, rss_kb(pid))
            await asyncio.sleep(0.02)
        ws.transport.abort()
        return got, peak
    got, peak = run(go())
    check(got < 60_000_000, "the slow client was sent %d bytes" % got)
    check(peak - base < 16 * 1024, "worker RSS grew from %d kB to %d kB" % (base, peak))
    print("    slow client: read %d bytes in 5 s; worker RSS %d kB -> peak %d kB" % (got, base, peak))


def case_client_write_timeout():
    running_pod("stall1")
    before = stats()["errors"]

    async def go():
        ws = await websockets.connect(url("pod=stall1"), max_size=1 << 20, max_queue=1, read_limit=1 << 16)
        sim.logs("stall1", nbytes=100_000_000)
        t0 = time.monotonic()
        await asyncio.sleep(1.0)
        # Reads nothing: the server must drop it about logs_client_write_timeout after its socket filled.
        wait_for(lambda: stats()["streams"] == 0, 15, "the stalled stream to be dropped")
        took = time.monotonic() - t0
        ws.transport.abort()
        return took
    took = run(go())
    check(took >= 2.0, "dropped after %.1f s, before the 2 s write timeout" % took)
    check(stats()["errors"] == before + 1, "the error counter did not move")


def sim_side_sockets():
    out = subprocess.run(["ss", "-Htn", "state", "all", "( sport = :%d )" % A.sim], capture_output=True, text=True)
    return [line.split()[0] for line in out.stdout.splitlines() if "LISTEN" not in line]


def case_disconnect_cancels_upstream():
    running_pod("gone1")
    sim.logs("gone1", rate=100)

    async def go():
        ws = await websockets.connect(url("pod=gone1"))
        for _ in range(3):
            await ws.recv()
        during = sim_side_sockets()
        ws.transport.abort()
        return during
    during = run(go())
    established = during.count("ESTAB")
    # The simulator's end of the log request must close (not linger in CLOSE-WAIT) at once.
    wait_for(lambda: sim_side_sockets().count("ESTAB") < established and "CLOSE-WAIT" not in sim_side_sockets(),
             3, "the simulator to see the log connection closed (%r -> %r)" % (during, sim_side_sockets()))
    wait_for(lambda: stats()["streams"] == 0, 3, "the stream to be freed")
    sim.logs("gone1", rate=0)


def case_apiserver_cut():
    running_pod("cut1")
    sim.logs("cut1", rate=100)

    async def go():
        async def cut(ws):
            await asyncio.sleep(0.3)
            sim.post("/_sim/restart", {"bump": 1000})
        return await collect(url("pod=cut1"), on_open=cut, timeout=10)
    s = run(go())
    sim.logs("cut1", rate=0)
    err = s.text("error")
    check(s.text("started") and len(s.data) > 0, "nothing streamed before the cut: %r" % s.texts)
    check(err and err["code"] == "upstream_reset" and "connection lost" in err["message"], "error %r" % err)
    check(s.code == 1011, "close code %s" % s.code)


def case_shutdown_drains_streams():
    running_pod("drain1")

    async def go():
        async def term(ws):
            await asyncio.sleep(0.2)
            os.kill(A.daemon_pid, 15)
        return await collect(url("pod=drain1"), on_open=term, timeout=10)
    s = run(go())
    check(s.types() == ["started", "end"] and s.texts[-1]["reason"] == "server_shutdown", "messages %r" % s.texts)
    check(s.code == 1001, "close code %s" % s.code)


def case_metrics():
    st, _ = http_json(A.daemon, "GET", "/api/v1/stats")
    text = subprocess.run(["curl", "-s", "http://127.0.0.1:%d/metrics" % A.daemon], capture_output=True,
                          text=True).stdout
    for name in ("imgpulld_log_streams ", "imgpulld_log_bytes_total ", "imgpulld_log_stream_errors_total "):
        check(name in text, "%s missing from /metrics" % name)
    logs = stats()
    check(logs["bytes"] > 0 and logs["errors"] > 0 and "streams" in logs, "stats logs %r" % logs)
    check(re.search(r'route="pod-logs"', text), "no pod-logs route in /metrics")


CASES = [name[5:] for name in dir(sys.modules[__name__]) if name.startswith("case_")]


def main():
    global A, sim
    p = argparse.ArgumentParser()
    p.add_argument("--sim", type=int, required=True)
    p.add_argument("--daemon", type=int, required=True)
    p.add_argument("--daemon-pid", type=int, required=True)
    p.add_argument("cases", nargs="*")
    A = p.parse_args()
    sim = Sim(A.sim)
    # Pods of "logger" images run until deleted and log only what /_sim/logs appends.
    sim.post("/_sim/outcome", {"pattern": "(^|/)logger:", "outcome": "Run", "log_rate": 0})
    # The apiserver cut disturbs the daemon's watches, the metrics read what the others did, and
    # the drain stops the daemon: those go last.
    last = ("apiserver_cut", "metrics", "shutdown_drains_streams")
    order = A.cases or sorted(CASES, key=lambda c: last.index(c) + 1 if c in last else 0)
    failures = 0
    for name in order:
        t0 = time.monotonic()
        try:
            globals()["case_" + name]()
            print("ok %s (%.1f s)" % (name, time.monotonic() - t0), flush=True)
        except Exception as e:  # a failed check or an unexpected error: report it, go on
            failures += 1
            print("FAIL %s: %s" % (name, e), flush=True)
            traceback.print_exc()
    return failures


if __name__ == "__main__":
    sys.exit(main())
