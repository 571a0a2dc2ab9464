"""A client that stops reading does not grow the worker's memory: it is owed the latest state of
each job, not a backlog. After ws_write_timeout without progress it is closed and counted.

Usage: check_slow.py PORT DAEMON_PID
The daemon runs with workers 1, table_jobs 64 (a bounded job set, so the worker's own view stops
growing), ws_send_buffer 64k and ws_write_timeout 20s.
"""

import asyncio
import json
import os
import socket
import sys
import time

from wslib import FINAL, RawWs, check, connect, create_jobs, expect, log, recv_json, rest

PORT, DAEMON = int(sys.argv[1]), int(sys.argv[2])


def worker_rss_kb():
    with open("/proc/%d/task/%d/children" % (DAEMON, DAEMON)) as f:
        pid = int(f.read().split()[0])
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])


def churn(rounds, tag):
    """Rounds of 32 short jobs on 3 nodes, each waited for: the table (64 jobs) stays full and cycles."""
    ids = []
    for r in range(rounds):
        batch = create_jobs(PORT, ["registry.local/%s%d:%d" % (tag, r, i) for i in range(32)],
                            ("node-1", "node-2", "node-3"))
        # Generous for sanitizer builds, which run the daemon several times slower.
        deadline = time.monotonic() + 120
        while True:
            answers = {i: rest(PORT, "GET", "/api/v1/images/pull-jobs/" + i) for i in batch}
            waiting = {i: a for i, a in answers.items() if (a[1] or {}).get("state") not in FINAL}
            if not waiting:
                break
            if time.monotonic() >= deadline:
                for i, a in list(waiting.items())[:5]:
                    log("unfinished %s: HTTP %s %s" % (i, a[0], json.dumps(a[1])[:600]))
            check(time.monotonic() < deadline, "jobs did not finish: %d of %d" % (len(waiting), len(batch)))
            time.sleep(0.05)
        ids += batch
    return ids


async def served():
    # The client's queue unbounded: the updates that follow the snapshot are not read, and a full
    # queue (32 messages) stops the client reading the socket, so that it never sees the close
    # frame the worker answers with and gives up after its close timeout (10 to 30 s a run).
    ws = await connect(PORT, "/ws/image-pull-all", max_queue=None)
    await ws.send('{"op":"subscribe_all"}')
    await expect(ws, "ack")
    m = await recv_json(ws)
    check(m["type"] == "snapshot", "a new watcher after the close got %s" % m)
    await ws.close()


def stats():
    return rest(PORT, "GET", "/api/v1/stats")[1]


def main():
    t0 = time.monotonic()
    churn(4, "warm")  # the table is full and cycling: the worker's view is at its steady size
    r = RawWs(PORT, "/ws/image-pull-all")
    r.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    r.send_frame(1, b'{"op":"subscribe_all"}')
    # Until the socket buffers on both sides are full and the worker can write no more.
    # Equal readings can also mean that no change landed in between: ask for three in a row.
    last, steady = -1, 0
    for k in range(30):
        churn(1, "fill%d-" % k)
        w = stats()["websocket"]
        steady = steady + 1 if w["bytes_out"] == last else 0
        last = w["bytes_out"]
        if steady >= 2:
            break
    check(steady >= 2, "the client never stopped taking data")
    frame = w["bytes_out"] / max(1, w["messages_out"])
    base, head0, coalesced0 = worker_rss_kb(), stats()["table"]["ring_head"], w["coalesced"]
    peak = base
    for k in range(16):
        churn(1, "slow%d-" % k)
        s = stats()
        if s["websocket"]["open"] == 0:
            break  # closed by ws_write_timeout: what it was owed so far is the figure
        peak = max(peak, worker_rss_kb())
    changes = s["table"]["ring_head"] - head0
    owed = changes * frame
    # Socket buffers may still take a little as the kernel grows them; a backlog would be owed.
    check(s["websocket"]["bytes_out"] - last < 1e6, "no backlog was written to it: %s" % s["websocket"])
    log("stuck client: %d more changes (%.1f MB of updates at %.0f bytes each without coalescing, %d folded); "
        "worker RSS %d KB -> peak %d KB (+%d KB)" % (changes, owed / 1e6, frame,
                                                     s["websocket"]["coalesced"] - coalesced0, base, peak, peak - base))
    # Whatever the machine's speed, the worker folded updates the stuck client could not take
    # instead of queueing them: that, not how many megabytes it was owed before ws_write_timeout,
    # is what makes a flat RSS mean something.
    check(s["websocket"]["coalesced"] > coalesced0, "no update was folded for the stuck client: %s" % s["websocket"])
    if os.environ.get("ASAN_OPTIONS"):
        log("RSS not checked: the sanitizers' quarantine keeps freed memory resident")
    else:
        check(peak - base < 1024, "the worker's memory stays flat with a stuck client: +%d KB" % (peak - base))
    deadline = time.monotonic() + 30
    while stats()["websocket"]["slow_closes"] < 1:
        check(time.monotonic() < deadline, "the stuck client was not closed")
        time.sleep(0.2)
    s = stats()["websocket"]
    check(s["open"] == 0, "closed: %s" % s)
    r.close()
    # The worker goes on serving: a new watcher gets the snapshot of every job.
    asyncio.run(served())
    log("stuck client closed after ws_write_timeout and counted (slow_closes %d); %.1f s" % (
        s["slow_closes"], time.monotonic() - t0))
    print("ok")


try:
    main()
except AssertionError as e:
    print("FAIL: %s" % e)
    sys.exit(1)
