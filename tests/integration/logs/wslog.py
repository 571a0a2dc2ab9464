"""Client helpers for the /ws/pod-logs tests and benchmark: a real WebSocket client
(python3-websockets), the plain-HTTP handshake used to read 4xx/5xx bodies, and the
simulator's control API."""

import asyncio
import http.client
import json
import time
import urllib.request

import websockets


class Session:
    """What one WebSocket connection to /ws/pod-logs received."""

    def __init__(self):
        self.texts = []  # parsed control messages, in order
        self.data = bytearray()  # log bytes, concatenated
        self.frames = []  # sizes of binary frames
        self.code = None  # close code seen by the client
        self.reason = ""
        self.t0 = time.monotonic()
        self.first_byte = None  # seconds from the start to the first log byte
        self.events = []  # ("text", msg) / ("binary", len), in order

    def types(self):
        return [t["type"] for t in self.texts]

    def text(self, kind):
        return next((t for t in self.texts if t["type"] == kind), None)


def http_json(port, method, path, body=None):
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), method=method,
                                 data=json.dumps(body).encode() if body is not None else None,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            raw = r.read()
            return r.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as e:
        raw = e.read()
        try:
            return e.code, json.loads(raw)
        except ValueError:
            return e.code, raw.decode(errors="replace")


def handshake_status(port, query, headers=None):
    """Sends a WebSocket handshake with plain HTTP; returns (status, parsed body or None)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    h = {"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
         "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}
    h.update(headers or {})
    conn.request("GET", "/ws/pod-logs" + ("?" + query if query else ""), headers=h)
    r = conn.getresponse()
    body = r.read() if r.status != 101 else b""
    conn.close()
    try:
        return r.status, json.loads(body) if body else None
    except ValueError:
        return r.status, None


async def collect(url, until=None, timeout=20.0, on_open=None, **kw):
    """Reads a stream until the server closes it, `until(session)` is true, or `timeout` passes.
    Returns the Session; on early return the connection is closed by the client."""
    s = Session()
    kw.setdefault("max_size", 1 << 24)
    async with websockets.connect(url, **kw) as ws:
        if on_open is not None:
            await on_open(ws)
        deadline = s.t0 + timeout
        try:
            while True:
                left = deadline - time.monotonic()
                if left <= 0 or (until is not None and until(s)):
                    break
                try:
                    m = await asyncio.wait_for(ws.recv(), left)
                except asyncio.TimeoutError:
                    break
                if isinstance(m, str):
                    s.texts.append(json.loads(m))
                    s.events.append(("text", s.texts[-1]))
                else:
                    if s.first_byte is None:
                        s.first_byte = time.monotonic() - s.t0
                    s.data += m
                    s.frames.append(len(m))
                    s.events.append(("binary", len(m)))
        except websockets.ConnectionClosed:
            pass
        s.code, s.reason = ws.close_code, ws.close_reason
    return s


def run(coro):
    return asyncio.run(coro)


class Sim:
    """The Kubernetes simulator's API and /_sim/ controls."""

    def __init__(self, port, ns="imgpulld"):
        self.port, self.ns = port, ns

    def post(self, path, body):
        return http_json(self.port, "POST", path, body)

    def pod(self, name, image="logger:1", containers=("main",), restart="Always", init=()):
        spec = {"nodeName": "node-1", "restartPolicy": restart,
                "containers": [{"name": c, "image": image} for c in containers]}
        if init:
            spec["initContainers"] = [{"name": c, "image": image} for c in init]
        st, _ = self.post("/api/v1/namespaces/%s/pods" % self.ns, {"metadata": {"name": name}, "spec": spec})
        assert st == 201, "creating pod %s: %s" % (name, st)

    def get_pod(self, name):
        return http_json(self.port, "GET", "/api/v1/namespaces/%s/pods/%s" % (self.ns, name))

    def wait_running(self, name, timeout=10.0, restarts=0):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            st, pod = self.get_pod(name)
            for c in (pod or {}).get("status", {}).get("containerStatuses", []) if st == 200 else []:
                if "running" in c.get("state", {}) and c.get("restartCount", 0) >= restarts:
                    return pod
            time.sleep(0.05)
        raise AssertionError("pod %s is not running" % name)

    def delete_pod(self, name):
        return http_json(self.port, "DELETE", "/api/v1/namespaces/%s/pods/%s" % (self.ns, name))

    def logs(self, pod, lines=None, nbytes=None, rate=None, container=None):
        body = {"namespace": self.ns, "pod": pod}
        if lines is not None:
            body["lines"] = lines
        if nbytes is not None:
            body["bytes"] = nbytes
        if rate is not None:
            body["rate"] = rate
        if container is not None:
            body["container"] = container
        st, ans = self.post("/_sim/logs", body)
        assert st == 200, "/_sim/logs: %s %s" % (st, ans)
        return ans
