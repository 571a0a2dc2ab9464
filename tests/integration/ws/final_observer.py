"""Records what clients see of jobs and finds a terminal state that a later state contradicts.

An observation is one job document as a client got it: a REST answer or a WebSocket message.
Observations are not ordered by when this process recorded them: a REST answer read from the
daemon before a job finished may be recorded after a WebSocket update that says it finished (the
poller thread waits for its response and for the interpreter lock while the WebSocket update is
handled). What orders two observations A and B (B is later) is what the daemon itself guarantees:

* B carries a higher job version (the version increases with every change of the job);
* B is a REST answer to a request sent after A was received (the daemon served it later);
* A and B came in this order on the same WebSocket stream.

Once a job or a task is seen in a terminal state, every later observation must show that state,
an observation of the same version must show the same state, and a request sent after an answer
was received must not show an older version (a job that went back to a lower version was written
anew).
"""

import threading
import time

FINAL = ("succeeded", "failed", "cancelled")


class Observation:
    __slots__ = ("sent", "received", "source", "stream", "seq", "version", "state", "tasks")

    def __init__(self, sent, received, source, stream, seq, job):
        self.sent = sent  # when the request was sent (REST); None for a pushed message
        self.received = received
        self.source = source
        self.stream = stream  # the WebSocket stream's name, None for REST
        self.seq = seq  # order of arrival on that stream
        self.version = job.get("version")
        self.state = job["state"]
        self.tasks = {t["node"]: t["state"] for t in job.get("tasks") or []}

    def describe(self):
        return "%s v%s at %.3f" % (self.source, self.version, self.received)


def later(a, b):
    """True when the daemon certainly produced observation b after observation a."""
    if a.version is not None and b.version is not None and b.version > a.version:
        return True
    if b.sent is not None and b.sent > a.received:
        return True
    return a.stream is not None and a.stream == b.stream and b.seq > a.seq


class Observer:
    """Every observation of every job, thread-safe."""

    def __init__(self, clock=time.monotonic):
        self.lock = threading.Lock()
        self.clock = clock
        self.seen = {}
        self.stream_seq = {}

    def add_rest(self, sent, job, received=None):
        """A REST answer to a request sent at `sent` (a clock() value)."""
        with self.lock:
            received = self.clock() if received is None else received
            self.seen.setdefault(job["id"], []).append(Observation(sent, received, "REST", None, 0, job))

    def add_ws(self, stream, kind, job, received=None):
        """A WebSocket message (`kind` snapshot or update) of the stream named `stream`."""
        with self.lock:
            received = self.clock() if received is None else received
            seq = self.stream_seq[stream] = self.stream_seq.get(stream, 0) + 1
            self.seen.setdefault(job["id"], []).append(Observation(None, received, "WS " + kind, stream, seq, job))

    def contradictions(self):
        """Every terminal state contradicted later, as messages; empty when none was."""
        found = []
        with self.lock:
            for jid, obs in self.seen.items():
                for a in obs:
                    for b in obs:
                        if a is b:
                            continue
                        if b.sent is not None and b.sent > a.received and b.version is not None and \
                                a.version is not None and b.version < a.version:
                            found.append("job %s went back from version %s (%s) to %s (%s)"
                                         % (jid, a.version, a.describe(), b.version, b.describe()))
                        if a.version is not None and a.version == b.version and a.state != b.state:
                            found.append("job %s version %s was %s (%s) and %s (%s)"
                                         % (jid, a.version, a.state, a.describe(), b.state, b.describe()))
                        if not later(a, b):
                            continue
                        if a.state in FINAL and b.state != a.state:
                            found.append("job %s was %s (%s), then %s (%s)"
                                         % (jid, a.state, a.describe(), b.state, b.describe()))
                        for node, ts in a.tasks.items():
                            if ts in FINAL and node in b.tasks and b.tasks[node] != ts:
                                found.append("job %s task %s was %s (%s), then %s (%s)"
                                             % (jid, node, ts, a.describe(), b.tasks[node], b.describe()))
        return found

    def last_states(self):
        """Each job's state in its observation of the highest version."""
        with self.lock:
            return {jid: max(obs, key=lambda o: (o.version or 0, o.received)).state for jid, obs in self.seen.items()}
