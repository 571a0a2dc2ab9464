"""An etcd-like object store: one resourceVersion counter, history, watches.

Every change to any object takes the next value of a single global counter,
exactly as etcd revisions do, and is appended to a bounded history of
pre-serialised watch events.  Watches are served from that history (resume
from a resourceVersion) and then fed live by the committing thread, which
appends the already encoded event line to each matching watcher's queue:
an event is encoded once however many watchers receive it, and a watcher's
thread writes whatever has accumulated with a single ``sendall``.

All state is guarded by one lock.  Watchers own a ``Condition`` on that same
lock so a commit wakes only the watchers that got something.
"""

import base64
import collections
import itertools
import json
import threading
import time

from . import errors, util
from .selectors import match_fields, match_labels

ADDED, MODIFIED, DELETED = "ADDED", "MODIFIED", "DELETED"

# A watcher whose client stops reading is cut off with a 410 once this many
# events wait for it, the way an apiserver drops a watcher it cannot feed.
WATCH_QUEUE_LIMIT = 2_000_000

_SNAPSHOT_LIMIT = 512
_SNAPSHOT_TTL = 300.0


def event_line(etype, data):
    return b'{"type":"' + etype.encode() + b'","object":' + data + b"}\n"


class Stored:
    """One committed version of an object; never mutated after commit."""

    __slots__ = ("obj", "data", "labels", "fields", "rv", "body_at")

    def __init__(self, kind, obj):
        # kind and apiVersion lead the encoding so that a list can drop them
        # from its items by slicing, as an apiserver's lists do.
        ordered = {"kind": kind.kind, "apiVersion": kind.api_version}
        ordered.update(obj)
        ordered["kind"], ordered["apiVersion"] = kind.kind, kind.api_version
        self.obj = obj = ordered
        self.data = util.dumps(obj)
        self.body_at = len(b'{"kind":"%s","apiVersion":"%s",' % (kind.kind.encode(), kind.api_version.encode()))
        meta = obj["metadata"]
        self.labels = meta.get("labels") or {}
        self.fields = kind.field_values(obj)
        self.rv = int(meta["resourceVersion"])


class Entry:
    """One change in the history: an encoded watch line plus what filters need."""

    __slots__ = ("rv", "kind", "ns", "etype", "new", "old", "line")

    def __init__(self, rv, kind, ns, etype, new, old):
        self.rv = rv
        self.kind = kind
        self.ns = ns
        self.etype = etype
        self.new = new
        self.old = old
        self.line = event_line(etype, new.data)


class Watcher:
    """A live watch: filter, queue of encoded lines, and connection handle."""

    def __init__(self, store, kind, namespace, label_reqs, field_reqs, bookmarks, sock=None):
        self.store = store
        self.kind = kind
        self.namespace = namespace
        self.label_reqs = label_reqs
        self.field_reqs = field_reqs
        self.bookmarks = bookmarks
        self.sock = sock
        self.cond = threading.Condition(store.lock)
        self.pending = []
        self.closed = False
        self.dropped = False
        self.final_line = None
        self.last_sent = time.monotonic()
        self.sent_events = 0

    def _matches(self, stored):
        return match_labels(self.label_reqs, stored.labels) and match_fields(self.field_reqs, stored.fields)

    def offer(self, entry):
        """Queue ``entry`` if it concerns this watch; called with the store lock held.

        A modification that moves an object into or out of the selector is
        reported as ADDED or DELETED, so a client's cache stays equal to what
        a fresh filtered list would return.
        """
        if self.namespace and entry.ns != self.namespace:
            return False
        if not self.label_reqs and not self.field_reqs:
            line = entry.line
        else:
            now = self._matches(entry.new)
            if entry.etype == MODIFIED:
                before = self._matches(entry.old)
                if now and before:
                    line = entry.line
                elif now:
                    line = event_line(ADDED, entry.new.data)
                elif before:
                    line = event_line(DELETED, entry.new.data)
                else:
                    return False
            elif now:
                line = entry.line
            else:
                return False
        if self.closed:
            return False
        self.pending.append(line)
        if len(self.pending) > WATCH_QUEUE_LIMIT:
            self.pending = []
            self.fail_expired(entry.rv)
        return True

    def offer_static(self, stored):
        """Whether this watch wants changes of ``stored`` that keep its labels and fields."""
        ns = stored.obj["metadata"].get("namespace", "")
        return (not self.namespace or ns == self.namespace) and self._matches(stored)

    def fail_expired(self, requested_rv):
        """Close with an ERROR 410 event; lock held."""
        status = errors.status_object(410, errors.too_old_message(requested_rv, self.store.compacted_rv + 1),
                                      "Expired")
        self.final_line = b'{"type":"ERROR","object":' + util.dumps(status) + b"}\n"
        self.closed = True
        self.cond.notify()

    def bookmark_line(self, rv, extra_annotations=None):
        meta = {"resourceVersion": str(rv)}
        if extra_annotations:
            meta["annotations"] = extra_annotations
        obj = {"kind": self.kind.kind, "apiVersion": self.kind.api_version, "metadata": meta}
        return event_line("BOOKMARK", util.dumps(obj))

    def next_batch(self, interval, deadline):
        """Block until there is something to send; return ``(lines, done)``.

        ``interval`` is the idle time after which a bookmark is due (None for
        no bookmarks), ``deadline`` the monotonic time at which the server
        ends the watch.  While the simulator stalls watches nothing at all
        is sent, bookmarks included, yet the connection stays open.  An empty
        batch after a few idle seconds lets the caller check the peer.
        """
        with self.cond:
            entered = time.monotonic()
            while True:
                now = time.monotonic()
                if now - entered > 5.0:
                    return [], False
                if self.closed:
                    line, self.final_line = self.final_line, None
                    return ([line] if line else []), True
                if now >= deadline:
                    return [], True
                stalled = now < self.store.stall_until
                if not stalled:
                    if self.pending:
                        lines, self.pending = self.pending, []
                        return lines, False
                    if interval is not None and now - self.last_sent >= interval:
                        return [self.bookmark_line(self.store.rv)], False
                wake = deadline
                if stalled:
                    wake = min(wake, self.store.stall_until)
                elif interval is not None:
                    wake = min(wake, self.last_sent + interval)
                self.cond.wait(max(0.001, min(wake - now, 5.0)))


class Store:
    """Objects of every kind, the global counter, history and watchers."""

    def __init__(self, history_size=10000):
        self.lock = threading.Lock()
        self.rv = 0
        self.objects = collections.defaultdict(dict)
        self.history = collections.deque(maxlen=max(1, history_size))
        self.compacted_rv = 0
        self.list_compacted_rv = 0
        self.watchers = collections.defaultdict(set)
        self.snapshots = collections.OrderedDict()
        self._snap_ids = itertools.count(1)
        self.stall_until = 0.0

    # -- commit -----------------------------------------------------------

    def _commit(self, kind, etype, new, old):
        if len(self.history) == self.history.maxlen:
            self.compacted_rv = self.history[0].rv
        src = new.obj if new.obj is not None else old.obj
        entry = Entry(self.rv, kind, src["metadata"].get("namespace", ""), etype, new, old)
        self.history.append(entry)
        for w in self.watchers[kind.plural]:
            if w.offer(entry):
                w.cond.notify()
        return entry

    def _stamp(self, kind, obj):
        self.rv += 1
        obj["metadata"]["resourceVersion"] = str(self.rv)
        return Stored(kind, obj)

    @staticmethod
    def list_item(s):
        """An object's encoding without kind/apiVersion, the form list items take."""
        return b"{" + s.data[s.body_at:]

    # -- reads ------------------------------------------------------------

    def get(self, kind, ns, name):
        with self.lock:
            return self.objects[kind.plural].get((ns, name))

    def get_or_404(self, kind, ns, name):
        s = self.get(kind, ns, name)
        if s is None:
            raise errors.not_found(kind.group, kind.plural, name)
        return s

    def _select(self, kind, ns, label_reqs, field_reqs):
        out = []
        for key in sorted(self.objects[kind.plural]):
            if ns and key[0] != ns:
                continue
            s = self.objects[kind.plural][key]
            if label_reqs and not match_labels(label_reqs, s.labels):
                continue
            if field_reqs and not match_fields(field_reqs, s.fields):
                continue
            out.append(s)
        return out

    def list(self, kind, ns, label_reqs=(), field_reqs=(), limit=0, cont=None):
        """Return ``(rv, items, continue_token, remaining)``.

        A paginated list keeps the matching items of its first page's
        snapshot, so every later page is served from the same state and the
        same resourceVersion, whatever changes in between.  Tokens expire
        after a while, when the snapshot cache overflows, or when history is
        compacted past their resourceVersion, and then answer 410.
        """
        with self.lock:
            if cont:
                rv, items, pos = self._resume_snapshot(cont)
            else:
                rv, items, pos = self.rv, self._select(kind, ns, label_reqs, field_reqs), 0
            if not limit or pos + limit >= len(items):
                return rv, items[pos:], None, None
            end = pos + limit
            token = self._save_snapshot(rv, items, end, kind)
            return rv, items[pos:end], token, len(items) - end

    def _save_snapshot(self, rv, items, pos, kind):
        now = time.monotonic()
        while self.snapshots:
            sid, snap = next(iter(self.snapshots.items()))
            if len(self.snapshots) < _SNAPSHOT_LIMIT and now - snap[2] < _SNAPSHOT_TTL:
                break
            del self.snapshots[sid]
        sid = next(self._snap_ids)
        self.snapshots[sid] = (rv, items, now)
        last = items[pos - 1].obj["metadata"]
        start = "/%s/%s/%s\x00" % (kind.plural, last.get("namespace", ""), last["name"])
        raw = json.dumps({"v": "meta.k8s.io/v1", "rv": rv, "start": start, "snap": sid, "pos": pos})
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    def _resume_snapshot(self, token):
        try:
            raw = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
            rv, sid, pos = int(raw["rv"]), int(raw["snap"]), int(raw["pos"])
        except (ValueError, KeyError, TypeError):
            raise errors.ApiError(400, "continue key is not valid: cannot decode the token", "BadRequest")
        snap = self.snapshots.get(sid)
        if snap is None or rv < self.list_compacted_rv or snap[0] != rv:
            raise errors.ApiError(410, "the continue token of resourceVersion %d has expired: the data it pointed"
                                  " into was compacted; start a new list without it" % rv, "Expired")
        self.snapshots.move_to_end(sid)
        return rv, snap[1], pos

    # -- writes -----------------------------------------------------------

    def create(self, kind, obj, name_gen=util.rand_suffix):
        """Store a new object, filling server-set metadata; 409 if the name is taken."""
        with self.lock:
            meta = obj["metadata"]
            ns = meta.get("namespace", "") if kind.namespaced else ""
            table = self.objects[kind.plural]
            if not meta.get("name"):
                for _ in range(100):
                    name = meta["generateName"] + name_gen()
                    if (ns, name) not in table:
                        break
                meta["name"] = name
            key = (ns, meta["name"])
            if key in table:
                raise errors.already_exists(kind.group, kind.plural, meta["name"])
            meta.setdefault("uid", util.new_uid())
            meta.setdefault("creationTimestamp", util.rfc3339(time.time()))
            if kind.group:
                meta.setdefault("generation", 1)
            s = self._stamp(kind, obj)
            table[key] = s
            self._commit(kind, ADDED, s, None)
            return s

    def update(self, kind, ns, name, mutate, expect_rv=None):
        """Apply ``mutate(clone)`` and commit; returns the new version.

        ``mutate`` returns False to mean "nothing changed", in which case no
        resourceVersion is consumed (a real server does not write no-ops).
        """
        with self.lock:
            table = self.objects[kind.plural]
            old = table.get((ns, name))
            if old is None:
                raise errors.not_found(kind.group, kind.plural, name)
            if expect_rv and str(expect_rv) != str(old.rv):
                raise errors.conflict(kind.group, kind.plural, name,
                                      "the object has been modified; please apply your changes to the latest "
                                      "version and try again")
            obj = util.clone(old.obj)
            if mutate(obj) is False:
                return old
            s = self._stamp(kind, obj)
            table[(ns, name)] = s
            self._commit(kind, MODIFIED, s, old)
            return s

    def delete(self, kind, ns, name):
        """Remove an object; the DELETED event carries the deletion's resourceVersion."""
        with self.lock:
            table = self.objects[kind.plural]
            old = table.pop((ns, name), None)
            if old is None:
                raise errors.not_found(kind.group, kind.plural, name)
            obj = util.clone(old.obj)
            s = self._stamp(kind, obj)
            self._commit(kind, DELETED, s, old)
            return s

    def burst(self, kind, targets, count, seq_base):
        """Commit ``count`` MODIFIED events round-robin over ``targets`` in one lock hold.

        ``targets`` are ``(ns, name)`` keys of existing objects.  Each event
        bumps an annotation so the objects really change.  This is the load
        generator's hot path, so it skips the generic commit: the bytes come
        from one template per object (two substitutions instead of a JSON
        encoding), and which watchers want which object is decided once per
        burst, which is valid because a burst never changes labels or fields.
        History entries reuse the object's filter view for the same reason.
        """
        with self.lock:
            table = self.objects[kind.plural]
            live = [k for k in targets if k in table]
            if not live:
                return 0
            plans = []
            for key in live:
                base = table[key]
                obj = util.clone(base.obj)
                obj["metadata"].setdefault("annotations", {})["kubesim.io/burst-seq"] = "@@SEQ@@"
                obj["metadata"]["resourceVersion"] = "@@RV@@"
                tmpl = b'{"type":"MODIFIED","object":' + util.dumps(obj) + b"}\n"
                ws = [w for w in self.watchers[kind.plural] if not w.closed and w.offer_static(base)]
                plans.append((key, tmpl, base, ws))
            history, ns_of = self.history, {k: k[0] for k in live}
            last = {}
            n = len(plans)
            for i in range(count):
                key, tmpl, base, ws = plans[i % n]
                self.rv += 1
                line = tmpl.replace(b"@@RV@@", b"%d" % self.rv).replace(b"@@SEQ@@", b"%d" % (seq_base + i))
                e = Entry.__new__(Entry)
                e.rv, e.kind, e.ns, e.etype, e.new, e.old, e.line = self.rv, kind, ns_of[key], MODIFIED, base, base, line
                history.append(e)
                for w in ws:
                    w.pending.append(line)
                last[key] = line
            if len(history) == history.maxlen:
                self.compacted_rv = max(self.compacted_rv, history[0].rv - 1)
            for key, line in last.items():
                table[key] = Stored(kind, json.loads(line)["object"])
            for _, _, _, ws in plans:
                for w in ws:
                    if len(w.pending) > WATCH_QUEUE_LIMIT:
                        w.pending = []
                        w.fail_expired(self.rv)
                    w.cond.notify()
            return count

    # -- watch ------------------------------------------------------------

    def watch(self, kind, ns, label_reqs, field_reqs, rv_text, bookmarks, sock=None, initial_end_bookmark=False):
        """Register a watch starting after ``rv_text`` (or with the current state).

        Raises a 410 ApiError when the requested resourceVersion is older
        than the history kept.  The backlog and registration happen under
        one lock hold, so no change can fall between them.
        """
        w = Watcher(self, kind, ns, label_reqs, field_reqs, bookmarks, sock)
        with self.lock:
            if rv_text in ("", "0", None):
                for s in self._select(kind, ns, label_reqs, field_reqs):
                    w.pending.append(event_line(ADDED, s.data))
                if initial_end_bookmark:
                    w.pending.append(w.bookmark_line(self.rv, {"k8s.io/initial-events-end": "true"}))
            else:
                try:
                    since = int(rv_text)
                except ValueError:
                    raise errors.ApiError(400, "invalid resourceVersion %r: not an integer" % rv_text)
                if since < self.compacted_rv:
                    raise errors.expired(since, self.compacted_rv + 1)
                if self.history:
                    start = since + 1 - self.history[0].rv
                    for e in itertools.islice(self.history, max(0, start), None):
                        if e.kind is kind:
                            w.offer(e)
            self.watchers[kind.plural].add(w)
        return w

    def unwatch(self, w):
        with self.lock:
            self.watchers[w.kind.plural].discard(w)

    def all_watchers(self):
        with self.lock:
            return [w for ws in self.watchers.values() for w in ws]

    # -- simulator controls -------------------------------------------------

    def compact(self, keep=0, error_watches=False):
        """Forget history but the last ``keep`` changes; optionally fail running watches with 410."""
        with self.lock:
            while len(self.history) > keep:
                self.compacted_rv = self.history.popleft().rv
            if not self.history:
                self.compacted_rv = self.rv
            self.list_compacted_rv = self.compacted_rv
            self.snapshots.clear()
            failed = 0
            if error_watches:
                for ws in self.watchers.values():
                    for w in ws:
                        w.fail_expired(self.compacted_rv)
                        failed += 1
            return {"compacted_rv": self.compacted_rv, "failed_watches": failed}

    def bump(self, amount):
        """Jump the counter as after a restore; all earlier versions become too old."""
        with self.lock:
            self.rv += amount
            self.history.clear()
            self.compacted_rv = self.rv
            self.list_compacted_rv = self.rv
            self.snapshots.clear()
            return self.rv

    def set_stall(self, until):
        with self.lock:
            self.stall_until = until
            for ws in self.watchers.values():
                for w in ws:
                    w.cond.notify()

    def close_watchers(self):
        """Mark every watch closed and dropped, and return them so the caller can cut their sockets.

        A watch is marked dropped before its stream wakes: a stream that woke first would end
        its chunked answer cleanly, the client would send its next request on the same
        connection, and cutting the socket afterwards would lose that request's answer (a
        client such as libcurl then sends it again, so the request log shows it twice)."""
        with self.lock:
            out = [w for ws in self.watchers.values() for w in ws]
            for w in out:
                w.closed = True
                w.dropped = True
                w.final_line = None
                w.cond.notify()
            return out

    def clear(self):
        with self.lock:
            self.objects.clear()
            self.history.clear()
            self.snapshots.clear()
            self.compacted_rv = self.list_compacted_rv = self.rv

    def dump(self):
        with self.lock:
            out = {"resourceVersion": str(self.rv), "compactedResourceVersion": str(self.compacted_rv),
                   "historySize": len(self.history), "watches": sum(len(ws) for ws in self.watchers.values())}
            for plural, table in self.objects.items():
                out[plural] = [json.loads(s.data) for _, s in sorted(table.items())]
            return out
