"""Stream limits across workers: with logs_max_streams 3 over two workers, three follow streams
open and a fourth handshake is answered 503 before the upgrade; once one closes, a new one opens.

usage: limits.py --sim PORT --daemon PORT
"""

import argparse
import asyncio
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from wslog import Sim, handshake_status, http_json  # noqa: E402

import websockets  # noqa: E402


async def main(a):
    sim = Sim(a.sim)
    sim.post("/_sim/outcome", {"pattern": "(^|/)logger:", "outcome": "Run", "log_rate": 0})
    sim.pod("limits1")
    sim.wait_running("limits1")
    url = "ws://127.0.0.1:%d/ws/pod-logs?pod=limits1" % a.daemon
    conns = []
    for _ in range(3):
        ws = await websockets.connect(url)
        msg = await ws.recv()
        assert '"started"' in msg, msg
        conns.append(ws)
    st, body = handshake_status(a.daemon, "pod=limits1")
    assert st == 503 and "logs_max_streams" in body["error"]["message"], (st, body)
    _, doc = http_json(a.daemon, "GET", "/api/v1/stats")
    assert doc["logs"]["streams"] == 3, doc["logs"]
    print("    fourth stream refused: %s" % body["error"]["message"])
    await conns.pop().close()
    for _ in range(50):
        _, doc = http_json(a.daemon, "GET", "/api/v1/stats")
        if doc["logs"]["streams"] == 2:
            break
        await asyncio.sleep(0.05)
    ws = await websockets.connect(url)
    assert '"started"' in await ws.recv()
    conns.append(ws)
    for ws in conns:
        await ws.close()


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--sim", type=int, required=True)
    p.add_argument("--daemon", type=int, required=True)
    try:
        asyncio.run(main(p.parse_args()))
    except AssertionError as e:
        print("FAIL limits: %r" % (e,))
        sys.exit(1)
    print("ok limits")
