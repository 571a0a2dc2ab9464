"""Node-scope daemons linked through Redis: a WebSocket watch on daemon 1 follows a job created
through daemon 2 to the same tasks every daemon's REST shows, and a client that resumes on
another daemon (another table epoch) gets {"type":"resync"} and fresh snapshots.

Usage: check_redis_watch.py PORT1 PORT2 PORT3   (started by tests/integration/test_redis.c)
"""

import asyncio
import sys
import time

from wslib import FINAL, check, connect, expect, log, recv_json, rest, run

PORTS = [int(p) for p in sys.argv[1:4]]
KEYS = ("node", "state", "reason", "message", "pull_ms", "image_bytes", "attempts", "pod")


def tasks(job):
    return [{k: t.get(k) for k in KEYS} for t in job["tasks"]]


async def main():
    ws = await connect(PORTS[0], "/ws/image-pull-all")
    await ws.send('{"op":"subscribe_all"}')
    await expect(ws, "ack")
    status, doc, _ = rest(PORTS[1], "POST", "/api/v1/images/pull",
                          {"image": "registry.local/watched:1", "nodes": ["node-1", "node-2", "node-3"]})
    check(status == 202, "POST through daemon 2: %s %s" % (status, doc))
    jid = doc["jobs"][0]["id"]
    last, updates, seq, epoch = None, 0, 0, None
    deadline = time.monotonic() + 60
    # Figures of the last Pulled events may land after the final state: read until quiet.
    while True:
        check(time.monotonic() < deadline, "the watch on daemon 1 did not see the job finish: %s" % last)
        try:
            m = await recv_json(ws, timeout=2 if last and last["state"] in FINAL else 10)
        except asyncio.TimeoutError:
            if last is not None and last["state"] in FINAL:
                break
            continue
        if m.get("type") in ("snapshot", "update") and m["job"]["id"] == jid:
            last, updates = m["job"], updates + 1
            seq, epoch = m["seq"], m["epoch"]
    await ws.close()
    check(last["state"] == "succeeded", "the job ended %s" % last["state"])
    check(len(last["tasks"]) == 3, "the watch shows %d tasks" % len(last["tasks"]))
    for t in last["tasks"]:
        check(t["state"] == "succeeded" and t["pull_ms"] and t["image_bytes"], "task on the watch: %s" % t)
    for i, port in enumerate(PORTS):
        status, doc, _ = rest(port, "GET", "/api/v1/images/pull-jobs/" + jid)
        check(status == 200, "daemon %d: %s" % (i + 1, status))
        check(tasks(doc) == tasks(last), "daemon %d's REST differs from daemon 1's watch:\n%s\n%s" % (
            i + 1, tasks(doc), tasks(last)))
    log("watch on daemon 1: %d messages for the job, final tasks equal to every daemon's REST" % updates)

    # The resume point belongs to daemon 1's table: daemon 2 answers resync, then snapshots.
    other = await connect(PORTS[1], "/ws/image-pull-all?since=%s:%d" % (epoch, seq))
    await other.send('{"op":"subscribe","jobs":["%s"]}' % jid)
    first = await recv_json(other)
    check(first.get("type") == "resync", "resuming on daemon 2 gave %s" % first)
    snap = None
    while snap is None:
        m = await recv_json(other)
        if m.get("type") == "snapshot" and m["job"]["id"] == jid:
            snap = m["job"]
    check(tasks(snap) == tasks(last), "daemon 2's snapshot differs: %s" % snap)
    await other.close()
    log("resume on daemon 2 with daemon 1's epoch: resync, then a snapshot equal to the watch")


if __name__ == "__main__":
    run(main)
