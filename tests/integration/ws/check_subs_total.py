"""The total of job subscriptions a worker holds is bounded (ws_max_subscriptions_per_worker),
not only each connection's: with 3 per connection and 5 per worker on one worker, a second
connection gets 2 and is refused the third, with too_many_subscriptions naming the directive;
once the first connection leaves, the room comes back.

usage: check_subs_total.py PORT
"""

import asyncio
import json
import sys

import websockets


async def reply(ws):
    """The next ack or error, skipping anything else."""
    while True:
        m = json.loads(await asyncio.wait_for(ws.recv(), 10))
        if m.get("type") in ("ack", "error"):
            return m


async def subscribe(ws, ids):
    await ws.send(json.dumps({"op": "subscribe", "jobs": ids}))
    return await reply(ws)


async def main(port):
    url = "ws://127.0.0.1:%d/ws/image-pull-all" % port
    a = await websockets.connect(url)
    b = await websockets.connect(url)
    m = await subscribe(a, ["pj-absent%02d" % i for i in range(3)])
    assert m["type"] == "ack", m
    m = await subscribe(b, ["pj-absent%02d" % i for i in range(10, 12)])
    assert m["type"] == "ack", m
    m = await subscribe(b, ["pj-absent12"])
    assert m["type"] == "error" and m["code"] == "too_many_subscriptions", m
    assert "ws_max_subscriptions_per_worker" in m["message"], m
    print("    refused at the worker's total: %s" % m["message"])
    await a.close()
    for _ in range(50):
        m = await subscribe(b, ["pj-absent12"])
        if m["type"] == "ack":
            break
        await asyncio.sleep(0.05)
    assert m["type"] == "ack", m
    await b.close()


if __name__ == "__main__":
    try:
        asyncio.run(main(int(sys.argv[1])))
    except AssertionError as e:
        print("FAIL subs_total: %r" % (e,))
        sys.exit(1)
    print("ok subs_total")
