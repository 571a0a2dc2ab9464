"""parallelism is a hard cap, counted in the cluster (issue 10, item 3).

20 jobs of 6 tasks each on 6 nodes, parallelism 2. The simulator's pods are sampled every
50 ms, not the daemon's table: at no sample may a job have more than 2 pods that have not
finished (Pending, Running, or being deleted). The upstream Job controller starts a resumed
Job's pod at once (pkg/controller/job/job_controller.go), so a resume is a pod.

Usage: check_parallelism.py DAEMON_PORT SIM_PORT
"""

import asyncio
import sys
import threading
import time

from wslib import FINAL, check, log, rest, run, sim

PORT, SIM_PORT = int(sys.argv[1]), int(sys.argv[2])
JOBS, PARALLELISM = 20, 2


def sample(peaks, samples, stop):
    while not stop.is_set():
        status, doc, _ = sim(SIM_PORT, "GET", "/api/v1/namespaces/imgpulld/pods?labelSelector=imgpulld.io%2Fjob")
        if status == 200:
            live = {}
            for pod in doc["items"]:
                if pod["status"].get("phase") in ("Succeeded", "Failed"):
                    continue
                jid = pod["metadata"]["labels"]["imgpulld.io/job"]
                live[jid] = live.get(jid, 0) + 1
            for jid, n in live.items():
                peaks[jid] = max(peaks.get(jid, 0), n)
            samples.append(sum(live.values()))
        time.sleep(0.05)


async def main():
    sim(SIM_PORT, "POST", "/_sim/pull", {"default_ms": 400})
    peaks, samples, stop = {}, [], threading.Event()
    sampler = threading.Thread(target=sample, args=(peaks, samples, stop), daemon=True)
    sampler.start()
    ids = []
    for i in range(JOBS):
        status, doc, _ = rest(PORT, "POST", "/api/v1/images/pull",
                              {"image": "registry.local/par/app%d:1" % i, "all_nodes": True,
                               "parallelism": PARALLELISM})
        check(status == 202, "POST answered %s: %s" % (status, doc))
        check(len(doc["jobs"][0]["tasks"]) == 6, "six tasks: %s" % doc["jobs"][0]["tasks"])
        ids.append(doc["jobs"][0]["id"])
    deadline = time.monotonic() + 120
    while True:
        docs = [rest(PORT, "GET", "/api/v1/images/pull-jobs/" + i)[1] for i in ids]
        if all(d["state"] in FINAL for d in docs):
            break
        check(time.monotonic() < deadline, "jobs did not finish: %s" % [d["state"] for d in docs])
        await asyncio.sleep(0.2)
    stop.set()
    sampler.join()
    check(all(d["state"] == "succeeded" for d in docs), "every job succeeded: %s" % [d["state"] for d in docs])
    over = {jid: n for jid, n in peaks.items() if n > PARALLELISM}
    check(not over, "more than %d pods of one job at once: %s" % (PARALLELISM, over))
    check(max(peaks.values()) == PARALLELISM, "the cap was reached at all: %s" % peaks)
    log("%d samples, at most %d pods per job, at most %d pods at once" % (len(samples), max(peaks.values()),
                                                                            max(samples)))


run(main)
