"""Pod-log streaming load client: N concurrent readers of one log, over /ws/pod-logs or over
plain HTTP (the apiserver's own log endpoint, directly or through a relay such as socat).

usage:
  bench_logs.py ws   PORT QUERY STREAMS       # ws://127.0.0.1:PORT/ws/pod-logs?QUERY
  bench_logs.py http PORT PATH STREAMS        # GET PATH from 127.0.0.1:PORT, read to EOF
  bench_logs.py first-ws   PORT QUERY SAMPLES # first log byte latency, one connection at a time
  bench_logs.py first-http PORT PATH SAMPLES

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


def pct(values, p):
    v = sorted(x for x in values if x is not None)
    return round(v[min(len(v) - 1, int(len(v) * p))] * 1000, 2) if v else None


async def concurrent(kind, port, target, streams):
    fn = ws_stream if kind == "ws" else http_stream
    t0 = time.monotonic()
    results = await asyncio.gather(*(fn(port, target) for _ in range(streams)))
    secs = time.monotonic() - t0
    total = sum(r[0] for r in results)
    firsts = [r[1] for r in results]
    return {"kind": kind, "streams": streams, "bytes": total, "seconds": round(secs, 3),
            "MBps": round(total / secs / 1e6, 1), "first_ms_p50": pct(firsts, 0.5), "first_ms_p99": pct(firsts, 0.99),
            "first_ms_max": pct(firsts, 1.0)}


async def sequential_first(kind, port, target, samples):
    fn = ws_stream if kind == "ws" else http_stream
    firsts = []
    for _ in range(samples):
        firsts.append((await fn(port, target))[1])
    return {"kind": "first-" + kind, "samples": samples, "first_ms_p50": pct(firsts, 0.5),
            "first_ms_p99": pct(firsts, 0.99), "first_ms_max": pct(firsts, 1.0)}


def main():
    mode, port, target, count = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    if mode.startswith("first-"):
        out = asyncio.run(sequential_first(mode[6:], port, target, count))
    else:
        out = asyncio.run(concurrent(mode, port, target, count))
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
