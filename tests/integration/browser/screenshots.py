"""Takes the dashboard screenshots in docs/ (screenshots.sh starts the simulator and daemon).

usage: screenshots.py --sim PORT --daemon PORT --out DIR

Builds a small scene (succeeded, failed, cancelled and running jobs on twelve nodes, a task
with a log) and saves one PNG per view: dashboard-jobs.png, dashboard-job.png,
dashboard-new.png, dashboard-logs.png.
"""

import argparse
import asyncio
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cases  # noqa: E402
from cases import http, pull, sim, job  # noqa: E402
from cdp import Browser  # noqa: E402

NODES = ["node-%d" % i for i in range(1, 13)]


def wait_state(jid, states, timeout=30):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if job(jid)["state"] in states:
            return
        time.sleep(0.1)
    raise AssertionError("job %s did not reach %s" % (jid, states))


async def main(a):
    cases.A = a
    sim("/_sim/fail", {"pattern": "(^|/)team/missing", "message": "manifest unknown: manifest unknown"})
    sim("/_sim/pull", {"pattern": "(^|/)big-model", "ms": 600000})
    sim("/_sim/outcome", {"pattern": "(^|/)logger:", "outcome": "Run", "log_rate": 0})
    done = [pull(img, NODES) for img in ("docker.io/library/nginx:1.27", "quay.io/prometheus/node-exporter:v1.8.2",
                                         "ghcr.io/example/worker:0.9.1")]
    failed = pull("registry.example.com/team/missing:2.4", NODES[:6], backoff_limit=1)
    cancelled = pull("registry.example.com/ml/big-model:7", NODES[:4])
    for jid in done:
        wait_state(jid, ("succeeded",))
    wait_state(failed, ("failed",))
    http(a.daemon, "DELETE", "/api/v1/images/pull-jobs/" + cancelled)
    running = pull("registry.example.com/ml/big-model:8", NODES)
    retrying = pull("registry.example.com/team/missing:2.5", NODES[:8], backoff_limit=50)
    # A task with a log: the master's clean-up is refused for a while so that the pod stays.
    sim("/_sim/inject", {"count": 100000, "code": 503, "method": "DELETE", "path": "/jobs/"})
    logjob = pull("docker.io/library/logger:1", ["node-1"])
    wait_state(logjob, ("succeeded",))
    pod = job(logjob)["tasks"][0]["pod"]
    sim("/_sim/logs", {"pod": pod, "lines": ["%s level=info msg=\"step %d of 12: warming the cache\"" %
                                             (time.strftime("%H:%M:%S"), i) for i in range(1, 13)]})

    b = await Browser(width=1280, height=800).start()
    try:
        base = "http://127.0.0.1:%d/" % a.daemon
        await b.goto(base + "#/")
        await b.wait("window.imgpulld && window.imgpulld.stats().live && window.imgpulld.jobs().length >= 7", 15)
        await asyncio.sleep(2.5)  # a few retries of the failing job
        await b.screenshot(os.path.join(a.out, "dashboard-jobs.png"))

        await b.eval("location.hash = '#/job/%s'" % retrying)
        await b.wait("document.querySelectorAll('#tasks-body tr').length >= 8", 10)
        await asyncio.sleep(0.5)
        await b.screenshot(os.path.join(a.out, "dashboard-job-failing.png"))

        await b.eval("location.hash = '#/job/%s'" % done[0])
        await b.wait("document.querySelectorAll('#job-chart rect').length >= 12", 10)
        await asyncio.sleep(0.3)
        await b.screenshot(os.path.join(a.out, "dashboard-job.png"))

        await b.eval("location.hash = '#/new'")
        await cases.set_value(b, "#f-images", "docker.io/library/nginx:1.28")
        await cases.set_value(b, "#f-nodes", "node-1 node-99")
        await cases.click(b, "#pull-submit")
        await b.wait("document.querySelector('#err-nodes').textContent", 10)
        await b.screenshot(os.path.join(a.out, "dashboard-new.png"))

        await b.eval("location.hash = '#/logs/%s/node-1'" % logjob)
        await b.wait("document.querySelector('#logs-out').textContent.includes('step 12 of 12')", 10)
        sim("/_sim/logs", {"pod": pod, "lines": ["%s level=info msg=\"cache warm, serving\"" % time.strftime("%H:%M:%S")]})
        await b.wait("document.querySelector('#logs-out').textContent.includes('serving')", 10)
        await b.screenshot(os.path.join(a.out, "dashboard-logs.png"))
        del running
    finally:
        await b.close()
        http(a.sim, "DELETE", "/_sim/inject")


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--sim", type=int, required=True)
    p.add_argument("--daemon", type=int, required=True)
    p.add_argument("--out", required=True)
    asyncio.run(main(p.parse_args()))
