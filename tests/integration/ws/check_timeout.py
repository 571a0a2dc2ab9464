"""A per-attempt timeout is a failed attempt that counts against backoff_limit (issue 10, item 3).

An 8 s pull with timeout_seconds 2 and backoff_limit 1: each attempt's pod is failed by its
activeDeadlineSeconds (pkg/kubelet/active_deadline.go), the Job controller counts it
(pkg/controller/job/job_controller.go) and fails the Job after backoff_limit + 1 = 2 attempts;
the task fails with PullTimeout and the seconds in its message.

Usage: check_timeout.py DAEMON_PORT SIM_PORT
"""

import asyncio
import sys
import time

from wslib import FINAL, check, log, rest, run, sim

PORT, SIM_PORT = int(sys.argv[1]), int(sys.argv[2])


async def main():
    sim(SIM_PORT, "POST", "/_sim/pull", {"pattern": "^registry.local/slow8:", "ms": 8000})
    t0 = time.monotonic()
    status, doc, _ = rest(PORT, "POST", "/api/v1/images/pull",
                          {"image": "registry.local/slow8:1", "nodes": ["node-1"], "timeout_seconds": 2,
                           "backoff_limit": 1})
    check(status == 202, "POST answered %s: %s" % (status, doc))
    jid = doc["jobs"][0]["id"]
    while True:
        _, job, _ = rest(PORT, "GET", "/api/v1/images/pull-jobs/" + jid)
        if job["state"] in FINAL:
            break
        check(time.monotonic() - t0 < 30, "the job did not end: %s" % job)
        await asyncio.sleep(0.2)
    took = time.monotonic() - t0
    task = job["tasks"][0]
    check(job["state"] == "failed" and task["state"] == "failed", "failed: %s" % job)
    check(task["reason"] == "PullTimeout", "reason PullTimeout: %s" % task)
    check("2 s" in task["message"], "the message names the seconds: %s" % task["message"])
    check(task["attempts"] == 2, "backoff_limit + 1 = 2 attempts: %s" % task)
    check(task["cause"] == "timeout", "cause timeout: %s" % task)
    check(job["error"]["reason"] == "PullTimeout", "the job's error: %s" % job["error"])
    _, pods, _ = sim(SIM_PORT, "GET", "/api/v1/namespaces/imgpulld/pods?labelSelector=imgpulld.io%2Fjob%3D" + jid)
    reasons = sorted((p["status"].get("phase"), p["status"].get("reason")) for p in pods["items"])
    check(reasons == [("Failed", "DeadlineExceeded")] * 2, "two pods, both past their deadline: %s" % reasons)
    _, kjobs, _ = sim(SIM_PORT, "GET", "/apis/batch/v1/namespaces/imgpulld/jobs?labelSelector=imgpulld.io%2Fjob%3D"
                      + jid)
    st = kjobs["items"][0]["status"]
    check(st.get("failed") == 2, "the Job counted 2 failed pods: %s" % st)
    check(any(c["type"] == "Failed" and c["reason"] == "BackoffLimitExceeded" for c in st.get("conditions", [])),
          "the Job failed on its backoff limit: %s" % st)
    check(took < 15, "it took %.1f s" % took)
    log("failed after %d attempts in %.1f s: %s" % (task["attempts"], took, task["message"]))


run(main)
