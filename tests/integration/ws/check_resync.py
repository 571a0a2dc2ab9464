"""A resume point older than the ring (table_ring 64) gets {"type":"resync"} and snapshots;
a client connected through a burst ends with the REST state whether or not its worker overran.

Usage: check_resync.py PORT DAEMON_PID
A worker knows every change it has seen, so the old resume point is asked of a worker started
after the burst (the first one is killed): it knows the ring's window only.
"""

import asyncio
import os
import signal
import sys
import time

from wslib import FINAL, check, connect, create_jobs, expect, log, recv_json, rest, run

PORT, DAEMON = int(sys.argv[1]), int(sys.argv[2])


async def main():
    live = await connect(PORT, "/ws/image-pull-all")
    await live.send('{"op":"subscribe_all"}')
    await expect(live, "ack")
    ids = create_jobs(PORT, ["registry.local/burst%d:1" % i for i in range(40)], nodes=("node-1", "node-2", "node-3"))
    deadline = time.monotonic() + 60
    while True:
        docs = [rest(PORT, "GET", "/api/v1/images/pull-jobs/" + i)[1] for i in ids]
        if all(d["state"] in FINAL for d in docs):
            break
        check(time.monotonic() < deadline, "jobs did not finish")
        await asyncio.sleep(0.2)
    want = {d["id"]: (d["state"], d["version"]) for d in docs}
    status, stats, _ = rest(PORT, "GET", "/api/v1/stats")
    check(stats["table"]["ring_head"] > 64 + 2, "more changes than the ring holds")
    epoch = stats["table"]["epoch"]
    view, resyncs = {}, 0
    deadline = time.monotonic() + 30
    while view != want:
        check(time.monotonic() < deadline, "the live client did not converge")
        try:
            m = await recv_json(live, timeout=1)
        except asyncio.TimeoutError:
            continue
        if m["type"] == "resync":
            resyncs += 1
            view = {}
        elif m["type"] in ("snapshot", "update"):
            view[m["job"]["id"]] = (m["job"]["state"], m["job"]["version"])
    await live.close()
    log("live client through %d changes: converged (%d resyncs, ring overruns %d)" % (
        stats["table"]["ring_head"], resyncs, stats["ring_overruns"]))
    with open("/proc/%d/task/%d/children" % (DAEMON, DAEMON)) as f:
        os.kill(int(f.read().split()[0]), signal.SIGKILL)
    deadline = time.monotonic() + 20
    while True:
        try:
            ws = await connect(PORT, "/ws/image-pull-all?since=%s:%d" % (epoch, stats["table"]["ring_head"] - 20))
            break
        except OSError:
            check(time.monotonic() < deadline, "no worker came back")
            await asyncio.sleep(0.1)
    await ws.send('{"op":"subscribe_all"}')
    await expect(ws, "ack")
    m = await recv_json(ws)
    check(m["type"] in ("update", "deleted") and m["seq"] > stats["table"]["ring_head"] - 20,
          "a resume point inside the ring window of a new worker replays changes: %s" % m)
    await ws.close()
    log("new worker: resume inside the ring window replays changes")
    ws = await connect(PORT, "/ws/image-pull-all?since=%s:1" % epoch)
    await expect(ws, "resync")
    await ws.send('{"op":"subscribe_all"}')
    await expect(ws, "ack", subscriptions=len(want))
    got = {}
    while len(got) < len(want):
        m = await expect(ws, "snapshot")
        got[m["job"]["id"]] = (m["job"]["state"], m["job"]["version"])
    # A finished job may still change (a late Pulled event brings its figures): the snapshots,
    # and the updates that follow them, end at what REST answers now.
    deadline = time.monotonic() + 10
    while True:
        now = {i: (d["state"], d["version"]) for i, d in
               ((i, rest(PORT, "GET", "/api/v1/images/pull-jobs/" + i)[1]) for i in ids)}
        if got == now:
            break
        check(time.monotonic() < deadline, "snapshots and updates match REST: %s against %s" % (
            {k: v for k, v in got.items() if now.get(k) != v}, {k: v for k, v in now.items() if got.get(k) != v}))
        try:
            m = await recv_json(ws, timeout=0.5)
        except asyncio.TimeoutError:
            continue
        if m["type"] in ("snapshot", "update"):
            got[m["job"]["id"]] = (m["job"]["state"], m["job"]["version"])
    check(all(st in FINAL for st, _ in got.values()), "every job is final")
    await ws.close()
    log("since older than the ring: resync, then %d snapshots" % len(got))


run(main)
