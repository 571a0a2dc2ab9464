"""Task deltas of one job watch: /ws/image-pull/{id}?updates=tasks (docs/api.md).

A delta subscriber applies each "tasks" message to the job it holds and must end with exactly
the job REST returns after a pull onto every node; at every seq both a delta subscriber and a
whole-job subscriber of the same worker saw, the job it rebuilt equals the whole job. Two delta
subscribers receive the same bytes (one frame per change). A subscriber that cannot take data
while the job changes gets the whole job in an "update" once it reads again; a resume point
answers with the whole job; another epoch answers with a resync. Bad values of `updates` are
refused before the upgrade.

Usage: check_deltas.py PORT SIM_PORT NODES
The daemon runs with workers 1 and ws_send_buffer 4k; the simulator has NODES nodes.
"""

import asyncio
import copy
import json
import sys
import time

import websockets

from wslib import FINAL, check, connect, expect, log, refused, rest, run, sim

PORT, SIM_PORT, NODES = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])


class DeltaView:
    """What a delta subscriber keeps: the job, rebuilt from snapshot, update and tasks messages."""

    def __init__(self):
        self.job, self.types, self.by_seq, self.raw = None, [], {}, {}

    def apply(self, text):
        m = json.loads(text)
        self.types.append(m["type"])
        if m["type"] in ("snapshot", "update"):
            self.job = m["job"]
        elif m["type"] == "tasks":
            check(self.job is not None, "a tasks message before the snapshot")
            check(m["from_version"] <= self.job["version"] <= m["version"],
                  "tasks from version %s to %s applied to version %s" % (m["from_version"], m["version"],
                                                                         self.job["version"]))
            check(m["ntasks"] == len(self.job["tasks"]), "task count %s in a delta of a job of %d tasks" %
                  (m["ntasks"], len(self.job["tasks"])))
            check("tasks" not in m["summary"], "the summary carries no tasks")
            check(m["version"] == m["summary"]["version"], "version and summary version agree: %s" % m)
            tasks = self.job["tasks"]
            self.job = dict(m["summary"], tasks=tasks)
            for c in m["changed"]:
                tasks[c["index"]] = c["task"]
        elif m["type"] == "resync":
            self.job = None
        else:
            check(False, "unexpected message %s" % m)
        if m["type"] != "resync":
            self.by_seq[m["seq"]] = copy.deepcopy(self.job)
            self.raw[m["seq"]] = text
        return m


async def follow(ws, view, timeout=60):
    """Applies messages until the server closes; returns the close code."""
    try:
        while True:
            view.apply(await asyncio.wait_for(ws.recv(), timeout))
    except websockets.ConnectionClosed:
        return ws.close_code


def job_doc(jid):
    status, doc, _ = rest(PORT, "GET", "/api/v1/images/pull-jobs/" + jid)
    check(status == 200, "GET job answered %s" % status)
    return doc


def create_all_nodes(image):
    status, doc, _ = rest(PORT, "POST", "/api/v1/images/pull", {"image": image, "all_nodes": True})
    check(status == 202, "POST pull answered %s: %s" % (status, doc))
    jid = doc["jobs"][0]["id"]
    check(len(doc["jobs"][0]["tasks"]) == NODES or doc["jobs"][0]["tasks"] == [], "one task per node: %s" % doc)
    return jid


def wait_final(jid, seconds=120):
    deadline = time.monotonic() + seconds
    while True:
        doc = job_doc(jid)
        if doc["state"] in FINAL:
            return doc
        check(time.monotonic() < deadline, "job %s did not finish: %s" % (jid, doc["state"]))
        time.sleep(0.1)


def refusals():
    for path in ("/ws/image-pull/pj-0000?updates=bogus", "/ws/image-pull/pj-0000?updates=",
                 "/ws/image-pull/pj-0000?updates=TASKS"):
        status, body = refused(PORT, path)
        check(status == 400 and body["error"]["code"] == "invalid_argument" and
              body["error"]["message"] == "updates must be job or tasks", "%s answered %s %s" % (path, status, body))
    status, body = refused(PORT, "/ws/image-pull-all?updates=tasks")
    check(status == 400 and body["error"]["code"] == "invalid_argument" and "only" in body["error"]["message"],
          "image-pull-all?updates=tasks answered %s %s" % (status, body))
    log("bad values of updates: 400 invalid_argument")


async def pull_with_deltas():
    # Spread the pulls so that the kubelet reports one task at a time.
    sim(SIM_PORT, "POST", "/_sim/pull", {"default_ms": 1500})
    jid = create_all_nodes("registry.local/delta/app:1")
    whole = await connect(PORT, "/ws/image-pull/%s?updates=job" % jid)
    d1 = await connect(PORT, "/ws/image-pull/%s?updates=tasks" % jid)
    d2 = await connect(PORT, "/ws/image-pull/%s?updates=tasks" % jid)
    wv, v1, v2 = DeltaView(), DeltaView(), DeltaView()
    codes = await asyncio.gather(follow(whole, wv), follow(d1, v1), follow(d2, v2))
    check(codes == [1000, 1000, 1000], "each watch closes with 1000 after the final state: %s" % codes)
    rest_job = wait_final(jid)
    check(rest_job["state"] == "succeeded", "the pull succeeded: %s" % rest_job["state"])
    check(len(rest_job["tasks"]) == NODES, "one task per node: %d" % len(rest_job["tasks"]))
    check(set(wv.types) <= {"snapshot", "update"}, "updates=job receives whole jobs only: %s" % set(wv.types))
    for v in (v1, v2):
        check(v.types[0] == "snapshot", "a delta watch starts with a snapshot: %s" % v.types[:3])
        check(v.job == rest_job, "the rebuilt job equals REST:\n%s\n%s" % (json.dumps(v.job), json.dumps(rest_job)))
    ntasks_msgs = [json.loads(t) for s, t in v1.raw.items() if json.loads(t)["type"] == "tasks"]
    # A change of several tasks is a delta too (one change record per task); only a client that
    # was owed a change when the next came gets whole jobs.
    check(len(ntasks_msgs) >= v1.types.count("update"), "most changes went as deltas: %d tasks messages of %s" %
          (len(ntasks_msgs), v1.types))
    check(any(len(m["changed"]) == 1 for m in ntasks_msgs), "a delta carries only the task that changed")
    common = sorted(set(wv.by_seq) & set(v1.by_seq))
    check(len(common) >= NODES // 2, "both watches saw most changes: %d seqs in common" % len(common))
    for s in common:
        check(v1.by_seq[s] == wv.by_seq[s], "at seq %d the rebuilt job equals the whole job" % s)
    # Either may have been sent the whole job instead (it was owed a change when the next came).
    shared = [s for s in sorted(set(v1.raw) & set(v2.raw)) if '"type":"tasks"' in v1.raw[s] + v2.raw[s]]
    for s in shared:
        both = '"type":"tasks"' in v1.raw[s] and '"type":"tasks"' in v2.raw[s]
        check(not both or v1.raw[s] == v2.raw[s], "two delta watches receive the same bytes at seq %d" % s)
    whole_bytes = sum(len(t) for t in wv.raw.values())
    delta_bytes = sum(len(t) for t in v1.raw.values())
    counts = {t: v1.types.count(t) for t in sorted(set(v1.types))}
    log("pull onto %d nodes: messages %s, %d seqs compared with the whole job, %d bytes against %d"
        % (NODES, counts, len(common), delta_bytes, whole_bytes))
    return jid, v1


async def slow_subscriber():
    """A client that reads nothing while the job changes owes no delta chain: it gets the whole job."""
    sim(SIM_PORT, "POST", "/_sim/pull", {"default_ms": 400})
    jid = create_all_nodes("registry.local/delta/slow:1")
    ws = await connect(PORT, "/ws/image-pull/%s?updates=tasks" % jid, rcvbuf=4096)
    rest_job = wait_final(jid)
    v = DeltaView()
    code = await follow(ws, v)
    check(code == 1000, "closed with 1000 after the final state: %s" % code)
    check(v.types[0] == "snapshot", "starts with a snapshot: %s" % v.types)
    check("update" in v.types[1:], "a client that missed changes receives the whole job: %s" % v.types)
    check(v.job == rest_job, "the rebuilt job equals REST:\n%s\n%s" % (json.dumps(v.job), json.dumps(rest_job)))
    log("a client that read nothing during the pull: %s" % ",".join(v.types))


async def resume(jid, first):
    """A resume point of a delta watch answers with the whole job; another epoch with a resync."""
    epoch = json.loads(next(iter(first.raw.values())))["epoch"]
    seq = min(first.raw)
    ws = await connect(PORT, "/ws/image-pull/%s?updates=tasks&since=%s:%d" % (jid, epoch, seq))
    m = await expect(ws, "update")
    check(m["job"] == job_doc(jid), "the resumed watch receives the whole job as REST has it")
    await ws.close()
    other = ("0" if epoch[0] != "0" else "1") + epoch[1:]
    ws = await connect(PORT, "/ws/image-pull/%s?updates=tasks&since=%s:%d" % (jid, other, seq))
    await expect(ws, "resync")
    m = await expect(ws, "snapshot")
    check(m["job"] == job_doc(jid), "the snapshot after a resync is the job as REST has it")
    await ws.close()
    log("resume answers the whole job; another epoch a resync and a snapshot")


async def main():
    refusals()
    jid, view = await pull_with_deltas()
    await slow_subscriber()
    await resume(jid, view)


run(main)
