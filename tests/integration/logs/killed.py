"""Gauges of killed workers: with logs_max_streams N over the daemon's workers, N follow streams
open; the workers holding them are killed with SIGKILL; once they are respawned, N new streams
open again and /api/v1/stats counts only what is open (no connection, WebSocket or stream of the
dead workers).

usage: killed.py --sim PORT --daemon PORT --streams N --pids PID,PID,...
"""

import argparse
import asyncio
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from wslog import Sim, handshake_status, http_json  # noqa: E402

import websockets  # noqa: E402


def stats(port):
    _, doc = http_json(port, "GET", "/api/v1/stats")
    return doc


async def open_streams(url, n):
    conns = []
    for _ in range(n):
        ws = await websockets.connect(url)
        msg = await ws.recv()
        assert '"started"' in msg, msg
        conns.append(ws)
    return conns


async def main(a):
    sim = Sim(a.sim)
    sim.post("/_sim/outcome", {"pattern": "(^|/)logger:", "outcome": "Run", "log_rate": 0})
    sim.pod("killed1")
    sim.wait_running("killed1")
    url = "ws://127.0.0.1:%d/ws/pod-logs?pod=killed1" % a.daemon
    conns = await open_streams(url, a.streams)
    st, body = handshake_status(a.daemon, "pod=killed1")
    assert st == 503, (st, body)
    assert stats(a.daemon)["logs"]["streams"] == a.streams

    for pid in a.pids:
        os.kill(pid, signal.SIGKILL)
    for ws in conns:
        ws.transport.abort()
    # The workers come back (respawn backoff), then every gauge is down to this request.
    deadline = time.monotonic() + 20
    doc = None
    while time.monotonic() < deadline:
        try:
            doc = stats(a.daemon)
            if doc["logs"]["streams"] == 0 and doc["workers"] == len(a.pids):
                break
        except OSError:
            pass
        await asyncio.sleep(0.1)
    assert doc is not None and doc["logs"]["streams"] == 0, doc and doc["logs"]
    assert doc["websocket"]["open"] == 0, doc["websocket"]
    conns = await open_streams(url, a.streams)
    doc = stats(a.daemon)
    assert doc["logs"]["streams"] == a.streams, doc["logs"]
    print("    %d new streams after SIGKILL of %d workers: %s" % (a.streams, len(a.pids), doc["logs"]))
    for ws in conns:
        await ws.close()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        doc = stats(a.daemon)
        if doc["logs"]["streams"] == 0 and doc["websocket"]["open"] == 0:
            break
        await asyncio.sleep(0.1)
    assert doc["logs"]["streams"] == 0 and doc["websocket"]["open"] == 0, doc
    print("    after closing: %s %s" % (doc["logs"], doc["websocket"]))


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--sim", type=int, required=True)
    p.add_argument("--daemon", type=int, required=True)
    p.add_argument("--streams", type=int, required=True)
    p.add_argument("--pids", required=True)
    a = p.parse_args()
    a.pids = [int(x) for x in a.pids.split(",")]
    try:
        asyncio.run(main(a))
    except AssertionError as e:
        print("FAIL killed: %r" % (e,))
        sys.exit(1)
    print("ok killed")
