#!/usr/bin/env python3
"""What hostile HTTP/2 clients make one worker hold (docs/operations.md, "Hostile HTTP clients").

Run by tests/bench/bench_h2_abuse.sh against a daemon it started; prints one line per second.

  trickle PORT WORKER_PID CONNS KIB SECONDS
      CONNS connections each send a request whose header block stays unfinished (HEADERS without
      END_HEADERS, CONTINUATION frames up to KIB KiB), then trickle one byte a second of one more
      CONTINUATION frame, for SECONDS. Each second: the worker's RSS, how many of the connections
      are still open, and the time a GET /healthz on another connection took.
  reset PORT WORKER_PID PAIRS
      One connection sends PAIRS times HEADERS without END_STREAM, then RST_STREAM (CANCEL);
      prints how many pairs were written before the server closed, the GOAWAY error code seen
      and the worker's RSS before and after.
"""
import socket
import struct
import sys
import time

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def frame(ftype, flags, stream, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + struct.pack(">I", stream) + payload


def hpack_int(value):
    if value < 127:
        return bytes([value])
    out = [127]
    value -= 127
    while value >= 128:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    out.append(value)
    return bytes(out)


def field(name, value):
    """A literal header field without indexing, new name (RFC 7541 section 6.2.2)."""
    return b"\x00" + hpack_int(len(name)) + name + hpack_int(len(value)) + value


def request_block(path=b"/healthz"):
    return field(b":method", b"GET") + field(b":scheme", b"http") + field(b":path", path) + field(
        b":authority", b"127.0.0.1")


def dial(port):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(PREFACE + frame(4, 0, 0))
    return s


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


def healthz_ms(port):
    """Time of one GET /healthz over HTTP/1.1 on a new connection, in ms."""
    t = time.monotonic()
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    answer = b""
    while True:
        d = s.recv(4096)
        if not d:
            break
        answer += d
    s.close()
    if not answer.startswith(b"HTTP/1.1 200"):
        return -1.0
    return (time.monotonic() - t) * 1000


def trickle(port, pid, conns, kib, seconds):
    print(f"rss before: {rss_kib(pid)} KiB", flush=True)
    socks, drip = [], {}
    for _ in range(conns):
        s = dial(port)
        block = request_block()
        s.sendall(frame(1, 0, 1, block))
        sent = len(block)
        while sent < kib * 1024:
            n = min(16384, kib * 1024 - sent)
            s.sendall(frame(9, 0, 1, b"\x00" * n))
            sent += n
        socks.append(s)
        drip[s] = frame(9, 0, 1, b"\x00" * 16000)
    start, peak = time.monotonic(), 0
    while time.monotonic() - start < seconds:
        open_ = 0
        for s in socks:
            try:
                s.setblocking(False)
                try:
                    if s.recv(65536) == b"":
                        continue
                except BlockingIOError:
                    pass
                s.send(drip[s][:1])
                drip[s] = drip[s][1:]
                open_ += 1
            except OSError:
                pass
        rss = rss_kib(pid)
        peak = max(peak, rss)
        print(f"t={time.monotonic() - start:4.1f}s rss={rss} KiB open={open_}/{conns} "
              f"healthz={healthz_ms(port):.1f} ms", flush=True)
        time.sleep(1)
    print(f"rss peak: {peak} KiB; after: {rss_kib(pid)} KiB", flush=True)
    for s in socks:
        s.close()


def reset(port, pid, pairs):
    before = rss_kib(pid)
    s = dial(port)
    block = request_block()
    stream, written, batch = 1, 0, b""
    start = time.monotonic()
    try:
        for i in range(pairs):
            batch += frame(1, 4, stream, block) + frame(3, 0, stream, struct.pack(">I", 8))
            stream += 2
            if len(batch) > 60000:
                s.sendall(batch)
                written, batch = i + 1, b""
        s.sendall(batch)
        written = pairs
    except OSError:
        pass
    took = time.monotonic() - start
    s.settimeout(3)
    got = b""
    try:
        while True:
            d = s.recv(65536)
            if not d:
                break
            got += d
    except OSError:
        pass
    s.close()
    code, i = None, 0
    while i + 9 <= len(got):  # walk the frames the server sent for its GOAWAY
        length = int.from_bytes(got[i:i + 3], "big")
        if got[i + 3] == 7 and i + 17 <= len(got):
            code = int.from_bytes(got[i + 13:i + 17], "big")
        i += 9 + length
    print(f"pairs written: {written} of {pairs} in {took:.2f} s; GOAWAY code: {code}; "
          f"rss before {before} KiB, after {rss_kib(pid)} KiB; healthz {healthz_ms(port):.1f} ms", flush=True)


if __name__ == "__main__":
    mode, port, pid = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    if mode == "trickle":
        trickle(port, pid, int(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6]))
    elif mode == "reset":
        reset(port, pid, int(sys.argv[4]))
    else:
        sys.exit(f"unknown mode {mode}")
