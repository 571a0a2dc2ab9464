"""Resume after a disruption: the client reconnects with ?since=<epoch>:<seq> and receives the
changes it missed (updates and deletions, never a resync or snapshots), ending with the state
the REST API shows.

Usage: check_resume.py PORT DAEMON_PID kill9|hup
kill9: the worker holding the connection is killed with SIGKILL (the master respawns it);
hup: the daemon reloads (the old worker drains and closes with 1001).
"""

import asyncio
import os
import signal
import sys
import time

import websockets

from wslib import FINAL, check, connect, create_jobs, log, recv_json, rest, run

PORT, DAEMON, MODE = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]


def workers():
    with open("/proc/%d/task/%d/children" % (DAEMON, DAEMON)) as f:
        return [int(p) for p in f.read().split()]


class View:
    """What a dashboard keeps: the latest state of each job and the last seq seen."""

    def __init__(self):
        self.jobs, self.seq, self.epoch = {}, 0, None

    def apply(self, m, strict):
        if m["type"] in ("snapshot", "update", "deleted"):
            check(self.epoch in (None, m["epoch"]), "one epoch: %s" % m)
            self.epoch = m["epoch"]
            if strict:
                check(m["seq"] > self.seq, "seq only increases: %d after %d" % (m["seq"], self.seq))
            self.seq = max(self.seq, m["seq"])
        if m["type"] in ("snapshot", "update"):
            self.jobs[m["job"]["id"]] = (m["job"]["state"], m["job"]["version"])
        elif m["type"] == "deleted":
            self.jobs.pop(m["id"], None)


async def follow(ws, view, strict, seen, until):
    """Applies messages until `until()` is true or the connection ends. Returns the close code."""
    try:
        while not until():
            m = await recv_json(ws, timeout=30)
            seen.append(m["type"])
            view.apply(m, strict)
    except websockets.ConnectionClosed:
        return ws.close_code
    return None


def rest_view(ids):
    out = {}
    for i in ids:
        status, doc, _ = rest(PORT, "GET", "/api/v1/images/pull-jobs/" + i)
        if status == 200:
            out[i] = (doc["state"], doc["version"])
    return out


async def reconnect(path):
    deadline = time.monotonic() + 20
    while True:
        try:
            return await connect(PORT, path)
        except (OSError, websockets.InvalidStatusCode, websockets.InvalidHandshake):
            check(time.monotonic() < deadline, "no worker took the connection again")
            await asyncio.sleep(0.1)


async def main():
    view = View()
    ws = await connect(PORT, "/ws/image-pull-all")
    await ws.send('{"op":"subscribe_all"}')
    check((await recv_json(ws))["type"] == "ack", "ack")
    ids = create_jobs(PORT, ["registry.local/resume%d:1" % i for i in range(20)], nodes=("node-1", "node-2", "node-3"))
    seen = []
    await follow(ws, view, True, seen, lambda: len(seen) >= 25)
    before = workers()
    if MODE == "kill9":
        os.kill(before[0], signal.SIGKILL)
    else:
        os.kill(DAEMON, signal.SIGHUP)
    code = await follow(ws, view, True, seen, lambda: False)
    check(code == (1006 if MODE == "kill9" else 1001), "%s: the connection ended with %s" % (MODE, code))
    log("%s: connection ended with %s after %d messages, at seq %d" % (MODE, code, len(seen), view.seq))
    # Changes the client misses while it is away.
    ids += create_jobs(PORT, ["registry.local/away%d:1" % i for i in range(10)], nodes=("node-1", "node-2"))
    await asyncio.sleep(0.3)
    since = view.seq
    ws = await reconnect("/ws/image-pull-all?since=%s:%d" % (view.epoch, since))
    check(workers() != before, "another worker serves the client")
    await ws.send('{"op":"subscribe_all"}')
    first = await recv_json(ws)
    check(first["type"] == "ack", "no resync after a resume: %s" % first)
    after = []
    done = lambda: rest_view(ids) == {i: v for i, v in view.jobs.items() if i in ids} and all(
        s in FINAL for s, _ in view.jobs.values())
    deadline = time.monotonic() + 60
    while not done():
        check(time.monotonic() < deadline, "the client did not catch up: %s" % sorted(
            set(rest_view(ids).items()) ^ set(view.jobs.items()))[:4])
        try:
            m = await recv_json(ws, timeout=1)
        except asyncio.TimeoutError:
            continue
        after.append(m)
        check(m["type"] in ("update", "deleted"), "a resume replays changes, not %s" % m["type"])
        check(m["seq"] > since, "replayed changes are after since: %d <= %d" % (m["seq"], since))
        view.apply(m, True)
    await ws.close()
    log("%s: resumed from seq %d with %d replayed changes; final states of %d jobs match REST" % (
        MODE, since, len(after), len(ids)))


run(main)
