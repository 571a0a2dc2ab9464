"""The per-worker connection cap (503 before the upgrade) and the drain (close 1001).

Usage: check_cap_drain.py PORT DAEMON_PID
The daemon runs with workers 1 and ws_max_connections 3.
"""

import asyncio
import os
import signal
import sys

from wslib import check, connect, expect, expect_close, log, refused, rest, run

PORT, DAEMON = int(sys.argv[1]), int(sys.argv[2])


async def main():
    conns = [await connect(PORT, "/ws/image-pull-all") for _ in range(3)]
    for ws in conns:
        await ws.send('{"op":"subscribe_all"}')
        await expect(ws, "ack")
    status, body = refused(PORT, "/ws/image-pull-all")
    check(status == 503 and body["error"]["code"] == "unavailable" and "ws_max_connections" in body["error"]["message"],
          "over the cap: %s %s" % (status, body))
    status, doc, _ = rest(PORT, "GET", "/api/v1/stats")
    check(doc["websocket"]["refused"] == 1 and doc["websocket"]["open"] == 3, "stats: %s" % doc["websocket"])
    log("cap: the fourth upgrade is answered 503, REST still served")
    await conns[0].close()
    await asyncio.sleep(0.2)
    ws = await connect(PORT, "/ws/image-pull-all")
    conns[0] = ws
    log("cap: a slot freed is taken again")
    os.kill(DAEMON, signal.SIGTERM)
    for ws in conns:
        await expect_close(ws, 1001)
    log("drain: SIGTERM closes every WebSocket with 1001")


run(main)
