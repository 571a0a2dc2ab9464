"""Tunable behaviour of the simulated kubelets, changed at run time by /_sim/.

Rules are regular expressions over the image reference, tried in the order
they were added (latest first) so a test can override a broader rule.
"""

import re
import threading
import zlib

from . import causes

OUTCOMES = ("StartError", "RunContainerError", "CreateContainerError", "Run", "alternate", "exec")

# What a program file in an image does when a container runs it (see README, "Image files").
PROGRAMS = ("true", "false", "cp", "app")

# Images whose name is busybox carry the busybox programs the pull pods' helper uses.
_BUSYBOX = re.compile(r"(^|/)busybox([:@]|$)")
# Every node starts with these images, as if the operator had pre-pulled them: imgpulld's default
# pull helper, so that a test's slow pull rules time the pulled image and not the helper.
DEFAULT_PRELOAD = ("docker.io/library/busybox:1.36.1-musl",)
BUSYBOX_FILES = {"/bin/true": "true", "/bin/false": "false", "/bin/cp": "cp", "/bin/sh": "app"}


class SimConfig:
    def __init__(self, pull_ms=800, log_rate=5.0, fail_patterns=(), preload=DEFAULT_PRELOAD):
        self.lock = threading.Lock()
        self.preload = tuple(preload)
        self.pull_ms = pull_ms
        self.log_rate = log_rate
        self.backoff_ms = 200
        self.backoff_max_ms = 2000
        # The pod garbage collector's sweep period and orphan quarantine (sim/podgc.py).
        self.podgc_period_ms = 20000
        self.podgc_quarantine_ms = 40000
        self.default_outcome = "exec"
        self.default_run_ms = 1000
        self.pull_rules = []     # (regex, ms)
        self.fail_rules = []     # (regex, message, cause)
        self.outcome_rules = []  # (regex, dict(outcome, run_ms, exit_code))
        self.file_rules = []     # (regex, {path: program})
        for pat in fail_patterns:
            self.add_fail(pat, None)

    @staticmethod
    def _compile(pattern):
        try:
            return re.compile(pattern)
        except re.error as e:
            raise ValueError("bad regular expression %r: %s" % (pattern, e))

    def add_fail(self, pattern, message, cause=None):
        if cause is not None and cause not in causes.FAILURES:
            raise ValueError("cause must be one of %s" % ", ".join(sorted(causes.FAILURES)))
        with self.lock:
            self.fail_rules.insert(0, (self._compile(pattern), message, cause))

    def add_pull(self, pattern, ms):
        with self.lock:
            self.pull_rules.insert(0, (self._compile(pattern), int(ms)))

    def add_outcome(self, pattern, rule):
        if rule.get("outcome", "Run") not in OUTCOMES:
            raise ValueError("outcome must be one of %s" % ", ".join(OUTCOMES))
        with self.lock:
            self.outcome_rules.insert(0, (self._compile(pattern), rule))

    def add_files(self, pattern, files):
        if not isinstance(files, dict) or not all(isinstance(p, str) and p.startswith("/") and v in PROGRAMS
                                                  for p, v in files.items()):
            raise ValueError("files must map absolute paths to one of %s" % ", ".join(PROGRAMS))
        with self.lock:
            self.file_rules.insert(0, (self._compile(pattern), dict(files)))

    def image_files(self, image):
        """The program files ``image`` holds: path -> what running it does."""
        with self.lock:
            for rx, files in self.file_rules:
                if rx.search(image):
                    return dict(files)
        return dict(BUSYBOX_FILES) if _BUSYBOX.search(image) else {}

    def explicit_outcome(self, image):
        """The outcome rule a test set for ``image``, or None."""
        with self.lock:
            for rx, rule in self.outcome_rules:
                if rx.search(image):
                    return dict(rule)
            return None

    def pull_duration(self, image):
        with self.lock:
            for rx, ms in self.pull_rules:
                if rx.search(image):
                    return ms / 1000.0
            return self.pull_ms / 1000.0

    def pull_failure(self, image):
        """(reason, message) if pulling ``image`` fails, else None. The reason is the container's
        waiting reason, or causes.EVICTED for a pod the node evicts instead."""
        with self.lock:
            for rx, message, cause in self.fail_rules:
                if rx.search(image):
                    reason, text = causes.failure(cause or "not_found", image)
                    return reason, message or text
            return None

    def outcome(self, image):
        with self.lock:
            for rx, rule in self.outcome_rules:
                if rx.search(image):
                    return dict(rule)
            return {"outcome": self.default_outcome, "run_ms": self.default_run_ms}

    def backoff(self, attempt):
        with self.lock:
            return min(self.backoff_ms * (2 ** max(0, attempt - 1)), self.backoff_max_ms) / 1000.0

    def snapshot(self):
        with self.lock:
            return {
                "pull_ms": self.pull_ms, "log_rate": self.log_rate, "backoff_ms": self.backoff_ms,
                "backoff_max_ms": self.backoff_max_ms, "podgc_period_ms": self.podgc_period_ms,
                "podgc_quarantine_ms": self.podgc_quarantine_ms, "default_outcome": self.default_outcome,
                "preload": list(self.preload),
                "default_run_ms": self.default_run_ms,
                "pull_rules": [{"pattern": rx.pattern, "ms": ms} for rx, ms in self.pull_rules],
                "fail_rules": [{"pattern": rx.pattern, "message": m, "cause": c} for rx, m, c in self.fail_rules],
                "outcome_rules": [dict(rule, pattern=rx.pattern) for rx, rule in self.outcome_rules],
                "file_rules": [{"pattern": rx.pattern, "files": f} for rx, f in self.file_rules],
            }

    def clear_rules(self):
        with self.lock:
            self.pull_rules, self.fail_rules, self.outcome_rules, self.file_rules = [], [], [], []


def image_size(image):
    """A stable, plausible image size in bytes derived from the reference."""
    return 2_000_000 + zlib.crc32(image.encode()) % 900_000_000


def image_digest(image):
    h = "%08x" % zlib.crc32(image.encode())
    return (h * 8)[:64]


def normalize_image(image):
    """The fully qualified form a container runtime reports after a pull."""
    name, tag = image, None
    if "@" in name:
        return name if "/" in name.split("@")[0] else "docker.io/library/" + name
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        name, tag = name.rsplit(":", 1)
    first = name.split("/", 1)[0]
    if "/" not in name:
        name = "docker.io/library/" + name
    elif not ("." in first or ":" in first or first == "localhost"):
        name = "docker.io/" + name
    return "%s:%s" % (name, tag or "latest")
