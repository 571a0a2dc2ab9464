"""Job watches over TLS (wss://): the upgrade, subscribe_all, a job's snapshot and updates to its
final state, a client ping answered, and the close handshake.

Usage: check_tls.py PORT CA_FILE
"""

import asyncio
import json
import ssl
import sys
import urllib.request

import websockets
from wslib import FINAL, check, log, run

PORT = int(sys.argv[1])
CA = sys.argv[2]


def post(ctx, body):
    req = urllib.request.Request("https://localhost:%d/api/v1/images/pull" % PORT, data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(req, timeout=10, context=ctx) as r:
        check(r.status == 202, "POST over TLS: %s" % r.status)
        return json.loads(r.read())["jobs"][0]["id"]


async def main():
    ctx = ssl.create_default_context(cafile=CA)
    async with websockets.connect("wss://localhost:%d/ws/image-pull-all" % PORT, ssl=ctx, max_size=None,
                                  ping_interval=None, open_timeout=10) as ws:
        await ws.send(json.dumps({"op": "subscribe_all"}))
        ack = json.loads(await asyncio.wait_for(ws.recv(), 10))
        check(ack.get("type") == "ack" and ack.get("op") == "subscribe_all", "ack over TLS: %r" % ack)
        jid = post(ctx, {"image": "docker.io/library/tls-check:1", "nodes": ["node-1"]})
        pong = await ws.ping(b"tls")
        await asyncio.wait_for(pong, 10)
        states = []
        while not states or states[-1] not in FINAL:
            m = json.loads(await asyncio.wait_for(ws.recv(), 20))
            if m.get("job", {}).get("id") == jid:
                states.append(m["job"]["state"])
        check(states[-1] == "succeeded", "the job over TLS ended %s" % states)
        await ws.close()
        check(ws.close_code == 1000, "close handshake over TLS: %s" % ws.close_code)
    log("TLS: upgrade, ack, %d job messages to %s, ping answered, close 1000" % (len(states), states[-1]))


run(main)
