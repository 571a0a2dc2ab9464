"""Client helpers shared by the WebSocket job-watch checks (tests/integration/test_ws_*.sh).

A check script receives the daemon's port (and sometimes the simulator's) on its command line,
talks to 127.0.0.1 only, prints what it verified and exits non-zero on the first failure.
"""

import asyncio
import base64
import json
import os
import socket
import struct
import sys
import time
import urllib.error
import urllib.request

import websockets

FINAL = ("succeeded", "failed", "cancelled")


class CheckFailed(Exception):
    pass


def check(cond, what):
    if not cond:
        raise CheckFailed(what)


def log(*args):
    print(*args, flush=True)


def rest(port, method, path, body=None, headers=None):
    """One HTTP/1.1 request; returns (status, parsed JSON body or None, headers)."""
    data = json.dumps(body).encode() if body is not None else None
    hdrs = dict(headers or {})
    if data is not None:
        hdrs.setdefault("Content-Type", "application/json")
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), data=data, headers=hdrs, method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            raw = r.read()
            return r.status, (json.loads(raw) if raw else None), dict(r.headers)
    except urllib.error.HTTPError as e:
        raw = e.read()
        try:
            doc = json.loads(raw)
        except ValueError:
            doc = None
        return e.code, doc, dict(e.headers)


def create_jobs(port, images, nodes=("node-1",)):
    """POST /api/v1/images/pull with one job per image; returns the job ids."""
    body = {"images": list(images), "nodes": list(nodes)} if len(images) > 1 else {"image": images[0],
                                                                                   "nodes": list(nodes)}
    status, doc, _ = rest(port, "POST", "/api/v1/images/pull", body)
    check(status == 202, "POST pull answered %s: %s" % (status, doc))
    return [j["id"] for j in doc["jobs"]]


def sim(port, method, path, body=None):
    return rest(port, method, path, body)


def url(port, path):
    return "ws://127.0.0.1:%d%s" % (port, path)


async def connect(port, path, rcvbuf=None, **kw):
    """A WebSocket client. ``rcvbuf`` caps the socket's receive buffer (set before connect, so the
    TCP window follows): the kernel then cannot hold megabytes of updates the client has not read,
    and a client slower than the worker is owed the latest state of each job instead (coalescing)."""
    kw.setdefault("max_size", None)
    kw.setdefault("ping_interval", None)
    kw.setdefault("open_timeout", 10)
    if rcvbuf is not None:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        s.setblocking(False)
        await asyncio.get_running_loop().sock_connect(s, ("127.0.0.1", port))
        kw["sock"] = s
    return await websockets.connect(url(port, path), **kw)


async def recv_json(ws, timeout=10):
    raw = await asyncio.wait_for(ws.recv(), timeout)
    check(isinstance(raw, str), "server sent a binary frame")
    return json.loads(raw)


async def expect(ws, mtype, timeout=10, **fields):
    """Receives the next message and checks its type and some fields."""
    m = await recv_json(ws, timeout)
    check(m.get("type") == mtype, "expected %s, got %s" % (mtype, m))
    for k, v in fields.items():
        check(m.get(k) == v, "expected %s=%r in %s" % (k, v, m))
    return m


async def expect_close(ws, code, timeout=10):
    """Reads until the server closes; checks the close code. Returns the messages read before."""
    seen = []
    try:
        while True:
            seen.append(json.loads(await asyncio.wait_for(ws.recv(), timeout)))
    except websockets.ConnectionClosed:
        pass
    check(ws.close_code == code, "expected close %s, got %s (%r) after %s" % (code, ws.close_code,
                                                                               ws.close_reason, seen[-3:]))
    return seen


async def expect_silence(ws, seconds=0.5):
    try:
        m = await asyncio.wait_for(ws.recv(), seconds)
    except asyncio.TimeoutError:
        return
    raise CheckFailed("unexpected message %s" % m)


def refused(port, path, headers=None):
    """Tries an upgrade that must be refused; returns (status, JSON body)."""
    r = RawWs(port, path, headers=headers)
    r.close()
    return r.status, r.body


# ---- raw WebSocket for protocol violations the client library refuses to produce ----

class RawWs:
    """A minimal client on a plain socket: handshake, masked or unmasked frames, close frame."""

    def __init__(self, port, path, timeout=5, headers=None):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        req = ("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n%s\r\n" % (
                   path, key, "".join("%s: %s\r\n" % kv for kv in (headers or {}).items())))
        self.sock.sendall(req.encode())
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            chunk = self.sock.recv(4096)
            check(chunk, "connection closed during the handshake")
            self.buf += chunk
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        self.status = int(head.split(b" ")[1])
        self.headers = {}
        for line in head.split(b"\r\n")[1:]:
            k, _, v = line.decode().partition(":")
            self.headers[k.strip().lower()] = v.strip()
        self.body = None
        if self.status != 101:
            n = int(self.headers.get("content-length", "0"))
            while len(self.buf) < n:
                chunk = self.sock.recv(4096)
                if not chunk:
                    break
                self.buf += chunk
            self.body = json.loads(self.buf[:n]) if n else None

    def send_frame(self, opcode, payload, mask=True, fin=True, rsv=0):
        b0 = (0x80 if fin else 0) | (rsv << 4) | opcode
        n = len(payload)
        if n < 126:
            hdr = struct.pack("!BB", b0, (0x80 if mask else 0) | n)
        elif n < 65536:
            hdr = struct.pack("!BBH", b0, (0x80 if mask else 0) | 126, n)
        else:
            hdr = struct.pack("!BBQ", b0, (0x80 if mask else 0) | 127, n)
        if mask:
            key = os.urandom(4)
            payload = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
            hdr += key
        self.sock.sendall(hdr + payload)

    def read_frame(self):
        """Returns (opcode, payload) of the next frame, or None at end of stream."""
        def need(n):
            while len(self.buf) < n:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return False
                self.buf += chunk
            return True
        if not need(2):
            return None
        b0, b1 = self.buf[0], self.buf[1]
        n, off = b1 & 0x7F, 2
        if n == 126:
            if not need(4):
                return None
            n, off = struct.unpack("!H", self.buf[2:4])[0], 4
        elif n == 127:
            if not need(10):
                return None
            n, off = struct.unpack("!Q", self.buf[2:10])[0], 10
        if not need(off + n):
            return None
        payload = self.buf[off:off + n]
        self.buf = self.buf[off + n:]
        return b0 & 0x0F, payload

    def close_code(self):
        """Reads frames until a close frame; returns its code (None if the stream ended first)."""
        while True:
            f = self.read_frame()
            if f is None:
                return None
            if f[0] == 8:
                return struct.unpack("!H", f[1][:2])[0] if len(f[1]) >= 2 else 1005

    def close(self):
        self.sock.close()


def run(main):
    """Runs an async check; exit status 0 on success, 1 with the reason otherwise."""
    t0 = time.monotonic()
    try:
        asyncio.run(main())
    except CheckFailed as e:
        log("FAIL: %s" % e)
        sys.exit(1)
    log("ok (%.1f s)" % (time.monotonic() - t0))
