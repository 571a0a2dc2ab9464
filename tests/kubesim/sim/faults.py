"""Request fault injection and the request log tests assert on."""

import collections
import re
import threading
import time


class Faults:
    def __init__(self):
        self.lock = threading.Lock()
        self.rules = []
        self.counts = collections.Counter()
        self.recent = collections.deque(maxlen=500)
        self.total = 0
        self.bytes = collections.Counter()  # response body bytes sent, by verb

    def add(self, count, code, path=None, method=None, retry_after=1, message=None, delay_ms=0):
        """A rule with delay_ms and no code holds the request that long, then answers it as usual."""
        rx = re.compile(path) if path else None
        with self.lock:
            self.rules.append({"left": int(count), "code": int(code), "rx": rx, "method": method,
                               "retry_after": retry_after, "message": message, "delay_ms": int(delay_ms)})

    def take(self, method, path_qs):
        """Consume one matching injection for this request, if any."""
        with self.lock:
            for rule in self.rules:
                if rule["left"] <= 0:
                    continue
                if rule["method"] and rule["method"].upper() != method:
                    continue
                if rule["rx"] is not None and not rule["rx"].search(path_qs):
                    continue
                rule["left"] -= 1
                self.rules = [r for r in self.rules if r["left"] > 0]
                return dict(rule)
        return None

    def pending(self):
        with self.lock:
            return [{"left": r["left"], "code": r["code"], "path": r["rx"].pattern if r["rx"] else None,
                     "method": r["method"], "delay_ms": r["delay_ms"]} for r in self.rules]

    def clear_rules(self):
        with self.lock:
            self.rules = []

    def note(self, method, verb, path, query, code):
        with self.lock:
            self.total += 1
            self.counts[(method, verb, path)] += 1
            self.recent.append({"time": time.time(), "method": method, "verb": verb, "path": path,
                                "query": query, "code": code})

    def add_bytes(self, verb, n):
        with self.lock:
            self.bytes[verb] += n

    def report(self):
        with self.lock:
            by_verb = collections.Counter()
            for (_, verb, _), n in self.counts.items():
                by_verb[verb] += n
            return {
                "total": self.total,
                "by_verb": dict(by_verb),
                "bytes_by_verb": dict(self.bytes),
                "by_path": [{"method": m, "verb": v, "path": p, "count": n}
                            for (m, v, p), n in sorted(self.counts.items())],
                "recent": list(self.recent),
            }

    def reset_log(self):
        with self.lock:
            self.counts.clear()
            self.recent.clear()
            self.total = 0
            self.bytes.clear()
