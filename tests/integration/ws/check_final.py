"""A terminal state is published once and never changes (issue 10, item 1).

The case that broke it: the pods watch falls behind (four 429s with Retry-After, then a dropped
watch) while the Jobs watch does not, so a Job's Failed or Complete condition arrives before the
pods that led to it. Three jobs: one that pulls and completes, one whose container cannot start
after the pull (its Job fails: what every pull Job did when the pod ran a command from the
image), one whose pull fails. For the whole run every WebSocket message and a REST poll every
100 ms are recorded; once a job or a task is seen in a terminal state, every later observation
must show the same state. "Later" is what the daemon served later (a higher version, a request
sent after the earlier answer arrived, the order of one stream), not what this process happened
to record later: see final_observer.py. The 429s must be retried after their Retry-After, not sooner,
and the failed pull's error still names the registry's answer.

Usage: check_final.py DAEMON_PORT SIM_PORT
"""

import asyncio
import json
import sys
import threading
import time

from final_observer import Observer
from wslib import check, connect, log, rest, run, sim

PORT, SIM_PORT = int(sys.argv[1]), int(sys.argv[2])
RETRY_AFTER = 2
PODS_WATCH = r"/pods\?.*watch=(true|1)"


def poll_rest(obs, ids, stop):
    while not stop.is_set():
        for jid in ids:
            sent = obs.clock()
            status, doc, _ = rest(PORT, "GET", "/api/v1/images/pull-jobs/" + jid)
            if status == 200:
                obs.add_rest(sent, doc)
        time.sleep(0.1)


async def follow(obs, jid):
    """Records every snapshot and update of one job until the server closes the stream."""
    ws = await connect(PORT, "/ws/image-pull/" + jid)
    try:
        async for raw in ws:
            m = json.loads(raw)
            if m.get("type") in ("snapshot", "update"):
                obs.add_ws(jid, m["type"], m["job"])
    except Exception:  # noqa: BLE001 - a closed stream ends the record
        pass
    return ws.close_code


def pods_watch_429s():
    _, doc, _ = sim(SIM_PORT, "GET", "/_sim/requests")
    return [r for r in doc["recent"] if r["code"] == 429 and r["verb"] == "watch" and "pods" in r["path"]]


async def main():
    sim(SIM_PORT, "POST", "/_sim/pull", {"default_ms": 1500})
    sim(SIM_PORT, "POST", "/_sim/outcome", {"pattern": "^docker.io/team/nostart:", "outcome": "StartError"})
    sim(SIM_PORT, "POST", "/_sim/fail", {"pattern": "^registry.invalid/"})
    sim(SIM_PORT, "DELETE", "/_sim/requests")
    jobs = {}
    for image, want, extra in (("docker.io/library/nginx:1.27", "succeeded", {}),
                               ("docker.io/team/nostart:1", "failed", {"backoff_limit": 0}),
                               ("registry.invalid/team/app:2", "failed", {"backoff_limit": 1})):
        status, doc, _ = rest(PORT, "POST", "/api/v1/images/pull", dict({"image": image, "all_nodes": True}, **extra))
        check(status == 202, "POST answered %s: %s" % (status, doc))
        jobs[doc["jobs"][0]["id"]] = want
    obs = Observer()
    stop = threading.Event()
    poller = threading.Thread(target=poll_rest, args=(obs, list(jobs), stop), daemon=True)
    poller.start()
    watchers = [asyncio.ensure_future(follow(obs, jid)) for jid in jobs]
    # The pods watch falls behind: its next four requests are throttled, then every watch drops.
    sim(SIM_PORT, "POST", "/_sim/inject", {"count": 4, "code": 429, "path": PODS_WATCH,
                                           "retry_after": RETRY_AFTER})
    sim(SIM_PORT, "POST", "/_sim/watches/drop")
    codes = await asyncio.wait_for(asyncio.gather(*watchers), 90)
    check(all(c == 1000 for c in codes), "the job streams closed with %s" % codes)
    # Everything the lagging pods watch still had to say arrives after the terminal states.
    deadline = time.monotonic() + 60
    while len(pods_watch_429s()) < 4 and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    await asyncio.sleep(3)
    stop.set()
    poller.join()
    bad = obs.contradictions()
    check(not bad, "; ".join(bad[:3]))
    last = obs.last_states()
    for jid, want in jobs.items():
        check(last.get(jid) == want, "job %s ended %s, expected %s" % (jid, last.get(jid), want))
    # The failed pull's error keeps the registry's words, although the pods watch that was behind
    # delivered the pod's ErrImagePull status only merged into its later back-off: the kubelet's
    # Failed Event ("Failed to pull image ...: <error>", pkg/kubelet/images/image_manager.go)
    # still says it.
    for jid, want in jobs.items():
        _, doc, _ = rest(PORT, "GET", "/api/v1/images/pull-jobs/" + jid)
        if doc["image"].startswith("registry.invalid/"):
            err = doc["error"] or {}
            check(err.get("cause") == "not_found" and "not found" in (err.get("message") or ""),
                  "the failed pull's error lost the registry's words: %s" % err)
    throttled = pods_watch_429s()
    check(len(throttled) == 4, "the pods watch met %d of the 4 injected 429s" % len(throttled))
    gaps = [b["time"] - a["time"] for a, b in zip(throttled, throttled[1:])]
    check(all(g >= RETRY_AFTER - 0.1 for g in gaps), "429s retried sooner than Retry-After: %s" % gaps)
    log("states stayed final; 429 retries %s s apart" % ", ".join("%.1f" % g for g in gaps))


run(main)
