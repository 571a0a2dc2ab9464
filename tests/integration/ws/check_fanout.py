"""100 clients follow all jobs while the table takes more than 1 000 changes: every client sees
seq only increase and ends with the final state (and version) of every job, as REST shows it.

Usage: check_fanout.py PORT [CLIENTS] [CHANGES]
"""

import asyncio
import sys
import time

from wslib import FINAL, check, connect, create_jobs, expect, log, recv_json, rest, run

PORT = int(sys.argv[1])
CLIENTS = int(sys.argv[2]) if len(sys.argv) > 2 else 100
CHANGES = int(sys.argv[3]) if len(sys.argv) > 3 else 1000
STALL_S = 30.0


class Client:
    def __init__(self):
        self.jobs, self.seq, self.messages, self.coalesced_gaps = {}, 0, 0, 0

    async def run(self, ws, stop):
        while not stop.is_set():
            try:
                m = await recv_json(ws, timeout=0.5)
            except asyncio.TimeoutError:
                continue
            self.messages += 1
            if m["type"] not in ("snapshot", "update", "deleted"):
                raise AssertionError("unexpected %s" % m)
            check(m["seq"] > self.seq, "seq only increases: %d after %d" % (m["seq"], self.seq))
            self.seq = m["seq"]
            if m["type"] == "deleted":
                self.jobs.pop(m["id"], None)
            else:
                self.jobs[m["job"]["id"]] = (m["job"]["state"], m["job"]["version"])


def head():
    return rest(PORT, "GET", "/api/v1/stats")[1]["table"]["ring_head"]


async def main():
    # 100 clients in one Python process read slower than the worker writes, the more so on a busy
    # machine: with the kernel's autotuned buffers each would be owed megabytes of stale updates
    # and converge only after reading all of them. A 64 KB window lets the worker fold what a
    # client has not taken yet, as it does for any slow reader, so every client converges
    # whatever its speed; the folded count says how much was folded.
    conns = [await connect(PORT, "/ws/image-pull-all", rcvbuf=65536) for _ in range(CLIENTS)]
    for ws in conns:
        await ws.send('{"op":"subscribe_all"}')
        await expect(ws, "ack")
    clients = [Client() for _ in conns]
    stop = asyncio.Event()
    tasks = [asyncio.create_task(c.run(ws, stop)) for c, ws in zip(clients, conns)]
    start, ids, t0 = head(), [], time.monotonic()
    n = 0
    while head() - start < CHANGES:
        ids += await asyncio.to_thread(create_jobs, PORT, ["registry.local/fan%d:%d" % (n, i) for i in range(50)],
                                       ("node-1", "node-2", "node-3"))
        n += 1
        await asyncio.sleep(0.3)
    # One list call a round, not one call per job: this process also reads 100 clients.
    deadline = time.monotonic() + 120
    pending = set(ids)
    while True:
        active = await asyncio.to_thread(rest, PORT, "GET", "/api/v1/images/pull-active")
        if not any(j["id"] in pending for j in active[1]["jobs"]):
            break
        check(time.monotonic() < deadline, "jobs did not finish")
        await asyncio.sleep(0.5)
    docs = await asyncio.to_thread(lambda: [rest(PORT, "GET", "/api/v1/images/pull-jobs/" + i)[1] for i in ids])
    check(all(d["state"] in FINAL for d in docs), "jobs did not finish: %s" % [
        (d["id"], d["state"]) for d in docs if d["state"] not in FINAL][:5])
    want = {d["id"]: (d["state"], d["version"]) for d in docs}
    changes = head() - start

    def converged(c):
        return all(c.jobs.get(i) == v for i, v in want.items())

    # The clients converge as fast as this one process reads them: on a loaded machine it gets a
    # sliver of a core while the workers wait on its full receive windows. A time limit would
    # measure the machine; what must not happen is that the clients stop receiving while some
    # are behind, so the check fails when no client has read anything for STALL_S.
    last_read, last_progress = -1, time.monotonic()
    while True:
        behind = [c for c in clients if not converged(c)]
        if not behind:
            break
        for t in tasks:
            if t.done():
                t.result()
        now, read = time.monotonic(), sum(c.messages for c in clients)
        if read != last_read:
            last_read, last_progress = read, now
        elif now - last_progress >= STALL_S:
            c = behind[0]
            log("a client behind: seq %d of head %d after %d messages, %d jobs not final; workers: %s" % (
                c.seq, head(), c.messages, sum(c.jobs.get(i) != want[i] for i in want),
                rest(PORT, "GET", "/api/v1/stats")[1]["websocket"]))
            check(False, "clients stopped receiving: nothing read for %.0f s with %d of %d converged" % (
                now - last_progress, len(clients) - len(behind), len(clients)))
        await asyncio.sleep(1.0)
    stop.set()
    for t in tasks:
        await t
    for ws in conns:
        await ws.close()
    msgs = sum(c.messages for c in clients)
    folded = rest(PORT, "GET", "/api/v1/stats")[1]["websocket"]["coalesced"]
    log("%d clients x %d changes (%d jobs) in %.1f s: all converged on the final states; %d messages, "
        "%.0f per client, %d updates folded" % (CLIENTS, changes, len(ids), time.monotonic() - t0, msgs,
                                               msgs / len(clients), folded))


run(main)
