"""Pod-log streaming load client: N concurrent readers of one log, over /ws/pod-logs or over
plain HTTP (the apiserver's own log endpoint, directly or through a relay such as socat).

usage:
  bench_logs.py ws   PORT QUERY STREAMS       # ws://127.0.0.1:PORT/ws/pod-logs?QUERY
  bench_logs.py http PORT PATH STREAMS        # GET PATH from 127.0.0.1:PORT, read to EOF
  bench_logs.py rawws PORT QUERY STREAMS      # as ws, over a plain asyncio socket read like http
  bench_logs.py first-ws   PORT QUERY SAMPLES # first log byte latency, one connection at a time
  bench_logs.py first-http PORT PATH SAMPLES
  bench_logs.py first-rawws PORT QUERY SAMPLES # the same over a plain asyncio socket, no websockets library
  bench_logs.py first-pair HTTP_PORT PATH WS_PORT QUERY SAMPLES
                                              # first-http and first-rawws interleaved, one sample each in turn

Prints one JSON line: streams, bytes, seconds (first connect to last end), MB/s (10^6 bytes),
and per-stream first-byte latencies (p50, p99, max) in ms.
"""

import asyncio
import json
import sys
import time

import websockets


async def ws_stream(port, query):
    t0 = time.monotonic()
    first, n = None, 0
    async with websockets.connect("ws://127.0.0.1:%d/ws/pod-logs?%s" % (port, query), max_size=1 << 24,
                                  compression=None) as ws:
        async for m in ws:
            if isinstance(m, bytes):
                if first is None:
                    first = time.monotonic() - t0
                n += len(m)
            elif '"type":"error"' in m:
                raise RuntimeError(m)
    return n, first


async def http_stream(port, path):
    t0 = time.monotonic()
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
    writer.write(("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n" % path).encode())
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(head[:100])
    first, n = None, 0
    while True:
        chunk = await reader.read(1 << 20)
        if not chunk:
            break
        if first is None:
            first = time.monotonic() - t0
        n += len(chunk)
    writer.close()
    return n, first


async def rawws_upgrade(port, query):
    """Opens /ws/pod-logs?query over a plain asyncio socket and reads the 101; returns the
    stream's reader and writer, positioned at the first frame."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
    writer.write(("GET /ws/pod-logs?%s HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                  "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                  "Sec-WebSocket-Version: 13\r\n\r\n" % query).encode())
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 101"):
        raise RuntimeError(head[:100])
    return reader, writer


async def rawws_stream(port, query):
    """The upgrade and the frames read by hand, with the same asyncio stream reader as
    http_stream, so that the client's own work per connection is that of the HTTP client."""
    t0 = time.monotonic()
    reader, writer = await rawws_upgrade(port, query)
    first, n = None, 0
    while True:
        h = await reader.readexactly(2)
        op, ln = h[0] & 0x0F, h[1] & 0x7F
        if ln == 126:
            ln = int.from_bytes(await reader.readexactly(2), "big")
        elif ln == 127:
            ln = int.from_bytes(await reader.readexactly(8), "big")
        payload = await reader.readexactly(ln)
        if op == 2:
            if first is None:
                first = time.monotonic() - t0
            n += ln
        elif op == 1 and b'"type":"error"' in payload:
            raise RuntimeError(payload)
        elif op == 8:
            break
    writer.write(b"\x88\x82\x00\x00\x00\x00\x03\xe8")  # masked close 1000 (zero mask)
    writer.close()
    return n, first


async def rawws_bulk(port, query):
    """A whole log over a plain asyncio socket, read in 1 MiB chunks like http_stream, the frame
    headers found by walking the chunks (the payload is counted, not copied): the client's work
    per byte is that of the HTTP client, where the websockets library parses every frame."""
    t0 = time.monotonic()
    reader, writer = await rawws_upgrade(port, query)
    first, n = None, 0
    buf = b""   # an unfinished frame header, or a text frame's payload being collected
    left = 0    # payload bytes of the current frame still to come
    op = 0
    text = b""
    done = False
    while not done:
        chunk = await reader.read(1 << 20)
        if not chunk:
            break
        data, i = buf + chunk if buf else chunk, 0
        buf = b""
        while i < len(data):
            if left:
                take = min(left, len(data) - i)
                if op == 2:
                    if first is None:
                        first = time.monotonic() - t0
                    n += take
                else:
                    text += data[i:i + take]
                left -= take
                i += take
                if left == 0 and op == 1 and b'"type":"error"' in text:
                    raise RuntimeError(text)
                continue
            if len(data) - i < 2:
                buf = data[i:]
                break
            op, ln, hl = data[i] & 0x0F, data[i + 1] & 0x7F, 2
            if ln == 126:
                hl = 4
            elif ln == 127:
                hl = 10
            if len(data) - i < hl:
                buf = data[i:]
                break
            if hl == 4:
                ln = int.from_bytes(data[i + 2:i + 4], "big")
            elif hl == 10:
                ln = int.from_bytes(data[i + 2:i + 10], "big")
            i += hl
            left, text = ln, b""
            if op == 8:
                done = True
                break
    writer.write(b"\x88\x82\x00\x00\x00\x00\x03\xe8")  # masked close 1000 (zero mask)
    writer.close()
    return n, first


def pct(values, p):
    v = sorted(x for x in values if x is not None)
    return round(v[min(len(v) - 1, int(len(v) * p))] * 1000, 2) if v else None


async def concurrent(kind, port, target, streams):
    fn = {"ws": ws_stream, "http": http_stream, "rawws": rawws_bulk}[kind]
    t0 = time.monotonic()
    results = await asyncio.gather(*(fn(port, target) for _ in range(streams)))
    secs = time.monotonic() - t0
    total = sum(r[0] for r in results)
    firsts = [r[1] for r in results]
    return {"kind": kind, "streams": streams, "bytes": total, "seconds": round(secs, 3),
            "MBps": round(total / secs / 1e6, 1), "first_ms_p50": pct(firsts, 0.5), "first_ms_p99": pct(firsts, 0.99),
            "first_ms_max": pct(firsts, 1.0)}


async def sequential_first(kind, port, target, samples):
    fn = {"ws": ws_stream, "http": http_stream, "rawws": rawws_stream}[kind]
    firsts = []
    for _ in range(samples):
        firsts.append((await fn(port, target))[1])
    return {"kind": "first-" + kind, "samples": samples, "first_ms_p50": pct(firsts, 0.5),
            "first_ms_p99": pct(firsts, 0.99), "first_ms_max": pct(firsts, 1.0)}


async def paired_first(http_port, path, ws_port, query, samples):
    http, ws = [], []
    for _ in range(samples):
        http.append((await http_stream(http_port, path))[1])
        ws.append((await rawws_stream(ws_port, query))[1])
    out = {"kind": "first-pair", "samples": samples}
    for name, v in (("http", http), ("ws", ws)):
        out[name] = {"first_ms_p50": pct(v, 0.5), "first_ms_p99": pct(v, 0.99), "first_ms_max": pct(v, 1.0)}
    out["ratio_p50"] = round(pct(ws, 0.5) / pct(http, 0.5), 2)
    return out


def main():
    if sys.argv[1] == "first-pair":
        out = asyncio.run(paired_first(int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[5], int(sys.argv[6])))
        print(json.dumps(out), flush=True)
        return
    mode, port, target, count = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    if mode.startswith("first-"):
        out = asyncio.run(sequential_first(mode[6:], port, target, count))
    else:
        out = asyncio.run(concurrent(mode, port, target, count))
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
