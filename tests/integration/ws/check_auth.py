"""Tokens on a non-loopback listener: the handshake takes them from Authorization, the
subprotocol pair "bearer, <token>" (echoed as "bearer") or the access_token query parameter.

Usage: check_auth.py PORT READ_TOKEN OTHER_READ_TOKEN
The first token is a valid subprotocol token; the second holds "+/=" (query only).
"""

import sys
import urllib.parse

from wslib import check, connect, expect, log, refused, run

PORT, TOKEN, OTHER = int(sys.argv[1]), sys.argv[2], sys.argv[3]


async def main():
    status, body = refused(PORT, "/ws/image-pull-all")
    check(status == 401 and body["error"]["code"] == "unauthenticated", "no token: %s %s" % (status, body))
    status, body = refused(PORT, "/ws/image-pull-all",
                           headers={"Sec-WebSocket-Protocol": "bearer, wrong-token-0123456789"})
    check(status == 401, "unknown token: %s" % status)
    status, body = refused(PORT, "/ws/image-pull-all?access_token=wrong-token-0123456789")
    check(status == 401, "unknown access_token: %s" % status)
    ws = await connect(PORT, "/ws/image-pull-all", subprotocols=["bearer", TOKEN])
    check(ws.subprotocol == "bearer", "the subprotocol is echoed: %r" % ws.subprotocol)
    await ws.send('{"op":"subscribe_all"}')
    await expect(ws, "ack")
    await ws.close()
    log("auth: Sec-WebSocket-Protocol: bearer, <token> (echoed bearer)")
    ws = await connect(PORT, "/ws/image-pull-all?access_token=" + urllib.parse.quote(OTHER, safe=""))
    await ws.send('{"op":"subscribe_all"}')
    await expect(ws, "ack")
    await ws.close()
    log("auth: access_token query parameter")
    ws = await connect(PORT, "/ws/image-pull-all", extra_headers={"Authorization": "Bearer " + TOKEN})
    await ws.close()
    log("auth: Authorization header")


run(main)
