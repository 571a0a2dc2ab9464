"""Small helpers shared by every module: time formats, names, JSON bytes."""

import datetime
import json
import random
import uuid

# Kubernetes generates name suffixes from an alphabet without vowels and
# look-alike digits so that generated names never spell words.
_SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def rand_suffix(n=5, rng=random):
    """Return the random suffix appended to a ``generateName`` prefix."""
    return "".join(rng.choice(_SUFFIX_ALPHABET) for _ in range(n))


def new_uid():
    return str(uuid.uuid4())


def rfc3339(ts):
    """Second-precision UTC timestamp, the format of ``metav1.Time``."""
    return datetime.datetime.fromtimestamp(int(ts), datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def rfc3339_micro(ts):
    """Microsecond-precision UTC timestamp, the format of ``metav1.MicroTime``."""
    return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def rfc3339_nano(ts):
    """Nanosecond-precision timestamp as the kubelet prefixes log lines.

    Trailing zeros are kept so every prefix has the same width, which makes
    the lines easy to split for clients and tests alike.
    """
    secs = int(ts)
    nanos = int(round((ts - secs) * 1e9))
    if nanos >= 1_000_000_000:
        secs, nanos = secs + 1, nanos - 1_000_000_000
    base = datetime.datetime.fromtimestamp(secs, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    return "%s.%09dZ" % (base, nanos)


def parse_rfc3339(text):
    """Parse the timestamps clients send (``sinceTime``); returns epoch seconds."""
    t = text.strip()
    if t.endswith("Z"):
        t = t[:-1] + "+00:00"
    # fromisoformat in 3.11 accepts at most microseconds: trim nanoseconds.
    if "." in t:
        head, rest = t.split(".", 1)
        frac = ""
        while rest and rest[0].isdigit():
            frac, rest = frac + rest[0], rest[1:]
        t = head + "." + frac[:6].ljust(6, "0") + rest
    return datetime.datetime.fromisoformat(t).timestamp()


def dumps(obj):
    """Compact JSON bytes: what goes on the wire and into the history."""
    return json.dumps(obj, separators=(",", ":")).encode()


def clone(obj):
    """Deep copy of a JSON-shaped value (faster than ``copy.deepcopy``)."""
    return json.loads(json.dumps(obj))
