"""Container log buffers: generated lines, injected lines and byte blasts.

A buffer is an append-only sequence of segments with absolute line numbers,
so a follower keeps its position even when old lines are trimmed.  Generated
lines follow a schedule (line N is due N/rate seconds after the start) and are
materialised by one ticker thread; a blast is a single segment that expands
into fixed-width lines only when read, so pushing hundreds of megabytes
through a follow stream costs no memory.
"""

import threading
import time

from .util import rfc3339_nano

_MAX_LINES = 200_000
_BLAST_WIDTH = 100


class Segment:
    """``count`` lines stamped ``ts`` starting at absolute line ``first``."""

    __slots__ = ("first", "count", "ts", "line", "blast_name", "blast_bytes")

    def __init__(self, first, ts, line=None, blast_name=None, blast_bytes=0):
        self.first = first
        self.ts = ts
        self.line = line
        self.blast_name = blast_name
        self.blast_bytes = blast_bytes
        self.count = 1 if line is not None else -(-blast_bytes // _BLAST_WIDTH)

    def render(self, start, end, timestamps):
        """Bytes of lines [start, end) of this segment (indices relative to it)."""
        prefix = (rfc3339_nano(self.ts) + " ").encode() if timestamps else b""
        if self.line is not None:
            return prefix + self.line
        out = []
        for i in range(start, end):
            width = _BLAST_WIDTH if i < self.count - 1 else self.blast_bytes - _BLAST_WIDTH * (self.count - 1)
            head = b"blast %d of %s " % (self.first + i, self.blast_name)
            body = (head + b"x" * _BLAST_WIDTH)[: width - 1] + b"\n"
            out.append(prefix + body)
        return b"".join(out)


class LogBuffer:
    def __init__(self, pod_name):
        self.pod_name = pod_name
        self.cond = threading.Condition()
        self.segments = []
        self.next_line = 0
        self.closed = False
        self.rate = 0.0
        self.gen_start = None
        self.generated = 0

    def append(self, line, ts=None):
        if not line.endswith(b"\n"):
            line += b"\n"
        with self.cond:
            self._push(Segment(self.next_line, ts or time.time(), line=line))
            self.cond.notify_all()

    def blast(self, nbytes):
        with self.cond:
            self._push(Segment(self.next_line, time.time(), blast_name=self.pod_name.encode(), blast_bytes=nbytes))
            self.cond.notify_all()

    def _push(self, seg):
        self.segments.append(seg)
        self.next_line += seg.count
        while len(self.segments) > _MAX_LINES:
            self.segments.pop(0)

    def start_generator(self, rate, ts=None):
        with self.cond:
            self.rate = float(rate)
            self.gen_start = ts or time.time()
            self.generated = 0

    def set_rate(self, rate):
        with self.cond:
            self.tick(time.time())
            self.rate = float(rate)
            self.gen_start, self.generated = time.time(), 0

    def tick(self, now):
        """Materialise generated lines that are due; caller may hold ``cond``."""
        if self.closed or not self.rate or self.gen_start is None:
            return
        due = int((now - self.gen_start) * self.rate)
        if due <= self.generated:
            return
        due = min(due, self.generated + 10000)
        with self.cond:
            for i in range(self.generated, due):
                ts = self.gen_start + (i + 1) / self.rate
                self._push(Segment(self.next_line, ts, line=b"line %d of %s\n" % (self.next_line + 1,
                                                                               self.pod_name.encode())))
            self.generated = due
            self.cond.notify_all()

    def close(self):
        with self.cond:
            self.tick(time.time())
            self.closed = True
            self.rate = 0.0
            self.cond.notify_all()

    def start_position(self, tail_lines=None, since=None):
        """Absolute line number where a reader begins."""
        with self.cond:
            first = self.segments[0].first if self.segments else self.next_line
            pos = first
            if since is not None:
                pos = self.next_line
                for seg in self.segments:
                    if seg.ts >= since:
                        pos = seg.first
                        break
            if tail_lines is not None:
                pos = max(pos, self.next_line - tail_lines)
            return pos

    def read(self, pos, timestamps, max_bytes=1 << 20):
        """Return ``(data, new_pos)`` for lines from ``pos``; empty data if none yet."""
        with self.cond:
            out, size = [], 0
            for seg in self._segments_from(pos):
                start = max(0, pos - seg.first)
                end = seg.count
                if seg.line is None:
                    end = min(end, start + max(1, (max_bytes - size) // _BLAST_WIDTH))
                out.append(seg.render(start, end, timestamps))
                size += len(out[-1])
                pos = seg.first + end
                if size >= max_bytes:
                    break
            return b"".join(out), pos

    def _segments_from(self, pos):
        segs = self.segments
        lo, hi = 0, len(segs)
        while lo < hi:
            mid = (lo + hi) // 2
            if segs[mid].first + segs[mid].count <= pos:
                lo = mid + 1
            else:
                hi = mid
        return segs[lo:lo + 4096]

    def wait(self, pos, timeout):
        """Wait until a line past ``pos`` exists or the buffer closes; True if more may come."""
        with self.cond:
            if self.next_line > pos:
                return True
            if self.closed:
                return False
            self.cond.wait(timeout)
            return self.next_line > pos or not self.closed


class LogRegistry:
    """Buffers by (namespace, pod, container), current and previous run, plus the ticker."""

    def __init__(self):
        self.lock = threading.Lock()
        self.current = {}
        self.previous = {}
        self._thread = threading.Thread(target=self._tick_loop, name="kubesim-logs", daemon=True)

    def start(self):
        self._thread.start()

    def buffer(self, ns, pod, container, create=True):
        key = (ns, pod, container)
        with self.lock:
            buf = self.current.get(key)
            if buf is None and create:
                buf = self.current[key] = LogBuffer(pod)
            return buf

    def rotate(self, ns, pod, container):
        """A restarted container: its old log becomes the ``previous`` one."""
        key = (ns, pod, container)
        with self.lock:
            old = self.current.get(key)
            if old is not None:
                old.close()
                self.previous[key] = old
            self.current[key] = LogBuffer(pod)
            return self.current[key]

    def get(self, ns, pod, container, previous=False):
        with self.lock:
            return (self.previous if previous else self.current).get((ns, pod, container))

    def forget_pod(self, ns, pod):
        with self.lock:
            for table in (self.current, self.previous):
                for key in [k for k in table if k[0] == ns and k[1] == pod]:
                    table.pop(key).close()

    def clear(self):
        with self.lock:
            bufs = list(self.current.values()) + list(self.previous.values())
            self.current.clear()
            self.previous.clear()
        for b in bufs:
            b.close()

    def _tick_loop(self):
        while True:
            time.sleep(0.02)
            now = time.time()
            with self.lock:
                bufs = [b for b in self.current.values() if b.rate and not b.closed]
            for b in bufs:
                b.tick(now)
