"""The ``/_sim/`` control API that tests use to steer and inspect the cluster.

Every endpoint takes and returns JSON; README.md lists them.  Controls that
change workloads or nodes run on the scheduler thread like API writes do.
"""

import json
import os
import re
import threading
import time

from . import kinds, objects
from .errors import ApiError
from .faults import Faults
from .server import json_body

# Where every request is also appended as a JSON line, when set (the test suite sets it).
_REQUEST_LOG = os.environ.get("KUBESIM_REQUEST_LOG", "")


class Control:
    def __init__(self, cluster):
        self.cluster = cluster
        self.store = cluster.store
        self.config = cluster.config
        self.faults = Faults()
        self.server = None
        self.bursts = []
        self._burst_seq = 0
        self._routes = [
            ("GET", r"/_sim/state", self.state),
            ("GET", r"/_sim/config", lambda h, m: (200, self.config.snapshot())),
            ("POST", r"/_sim/reset", self.reset),
            ("POST", r"/_sim/nodes", self.add_node),
            ("DELETE", r"/_sim/nodes/(?P<name>[^/]+)", self.remove_node),
            ("POST", r"/_sim/nodes/(?P<name>[^/]+)/(?P<action>cordon|uncordon|ready|notready|labels|taints)",
             self.node_action),
            ("POST", r"/_sim/pull", self.pull),
            ("POST", r"/_sim/fail", self.fail),
            ("POST", r"/_sim/outcome", self.outcome),
            ("POST", r"/_sim/files", self.files),
            ("POST", r"/_sim/backoff", self.backoff),
            ("POST", r"/_sim/podgc", self.podgc),
            ("DELETE", r"/_sim/rules", self.clear_rules),
            ("POST", r"/_sim/watches/drop", self.drop_watches),
            ("POST", r"/_sim/compact", self.compact),
            ("POST", r"/_sim/inject", self.inject),
            ("GET", r"/_sim/inject", lambda h, m: (200, {"pending": self.faults.pending()})),
            ("DELETE", r"/_sim/inject", self.clear_inject),
            ("POST", r"/_sim/stall", self.stall),
            ("POST", r"/_sim/unstall", self.unstall),
            ("POST", r"/_sim/restart", self.restart),
            ("POST", r"/_sim/burst", self.burst),
            ("GET", r"/_sim/burst", lambda h, m: (200, {"bursts": [dict(b) for b in self.bursts[-20:]]})),
            ("GET", r"/_sim/requests", lambda h, m: (200, self.faults.report())),
            ("DELETE", r"/_sim/requests", self.reset_requests),
            ("POST", r"/_sim/logs", self.logs),
            ("POST", r"/_sim/bulk", self.bulk),
        ]

    def note(self, method, verb, path, query, code, agent=""):
        self.faults.note(method, verb, path, query, code)
        if _REQUEST_LOG:
            # One line per request, appended whole (O_APPEND), for checks across a test run
            # (tests/integration/test_rbac.sh): every simulator of the run writes to the file.
            line = json.dumps({"method": method, "verb": verb, "path": path, "query": query, "code": code,
                               "agent": agent}) + "\n"
            try:
                fd = os.open(_REQUEST_LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
                try:
                    os.write(fd, line.encode())
                finally:
                    os.close(fd)
            except OSError:
                pass

    def handle(self, handler, method, path):
        for m, pattern, fn in self._routes:
            match = re.fullmatch(pattern, path.rstrip("/"))
            if match and m == method:
                return fn(handler, match)
        if any(re.fullmatch(p, path.rstrip("/")) for _, p, _ in self._routes):
            raise ApiError(405, "method %s not allowed on %s" % (method, path), "MethodNotAllowed")
        raise ApiError(404, "no simulator control at %s" % path, "NotFound")

    def _sync(self, fn, *args):
        return self.cluster.sched.run_sync(fn, *args)

    # -- state ----------------------------------------------------------------

    def state(self, h, m):
        out = self.store.dump()
        out["config"] = self.config.snapshot()
        out["stalled"] = time.monotonic() < self.store.stall_until
        out["nodeImages"] = {n: sorted(imgs) for n, imgs in self.cluster.kubelet.node_images.items()}
        out["pullAttempts"] = {"%s/%s" % k: {c.name: c.attempts for c in rt.containers}
                               for k, rt in self.cluster.kubelet.pods.items()}
        return 200, out

    def reset(self, h, m):
        self.drop_watches(h, m)
        self.faults.clear_rules()
        self.faults.reset_log()
        self.config.clear_rules()
        self.store.set_stall(0.0)
        self._sync(self.cluster.reset)
        return 200, {"resourceVersion": str(self.store.rv)}

    # -- nodes ------------------------------------------------------------------

    def add_node(self, h, m):
        body = json_body(h)
        name = body.get("name")
        if not name:
            raise ApiError(422, "name is required", "Invalid")
        s = self._sync(self.cluster.add_node, name, body.get("labels") or {}, bool(body.get("cordoned")),
                       body.get("ready", True))
        return 201, s.data

    def remove_node(self, h, m):
        return 200, self._sync(self.cluster.remove_node, m.group("name")).data

    def node_action(self, h, m):
        name, action = m.group("name"), m.group("action")
        body = json_body(h)
        if action == "labels":
            labels = body.get("labels")
            if not isinstance(labels, dict):
                raise ApiError(422, "labels must be an object", "Invalid")
            s = self._sync(self.cluster.set_node_labels, name, labels)
        elif action == "taints":
            taints = body.get("taints")
            if not isinstance(taints, list):
                raise ApiError(422, "taints must be an array", "Invalid")
            s = self._sync(self.cluster.set_node_taints, name, taints)
        elif action in ("cordon", "uncordon"):
            s = self._sync(self.cluster.set_node_state, name, action == "cordon", None)
        else:
            s = self._sync(self.cluster.set_node_state, name, None,
                           body.get("ready", True) if action == "ready" else False)
        return 200, s.data

    # -- bulk load ---------------------------------------------------------------------

    _BULK_KINDS = {k.plural: k for k in (kinds.POD, kinds.JOB, kinds.EVENT, kinds.NAMESPACE)}

    def bulk(self, h, m):
        """Store many objects at once, as they stand, without handing them to the controllers.

        A cluster of 100 000 pods cannot be built through the API at the simulator's pace (about
        60 pods/s); this loads one as if its objects had been created and run to the state they
        show while nothing watched. The kubelet and the Job controller never act on them.
        """
        body = json_body(h)
        kind = self._BULK_KINDS.get(body.get("kind"))
        objs = body.get("objects")
        if kind is None:
            raise ApiError(422, "kind must be one of %s" % ", ".join(sorted(self._BULK_KINDS)), "Invalid")
        if not isinstance(objs, list):
            raise ApiError(422, "objects must be an array", "Invalid")
        for i, obj in enumerate(objs):
            meta = obj.get("metadata") if isinstance(obj, dict) else None
            if not isinstance(meta, dict) or not meta.get("name") or (kind.namespaced and not meta.get("namespace")):
                raise ApiError(422, "objects[%d] needs metadata.name%s" % (i, " and metadata.namespace"
                                                                           if kind.namespaced else ""), "Invalid")
            obj.pop("kind", None)
            obj.pop("apiVersion", None)
        return 201, {"created": self._sync(self._bulk_create, kind, objs), "resourceVersion": str(self.store.rv)}

    def _bulk_create(self, kind, objs):
        for obj in objs:
            self.store.create(kind, obj)
        return len(objs)

    # -- image behaviour -------------------------------------------------------------

    def pull(self, h, m):
        body = json_body(h)
        if "default_ms" in body:
            with self.config.lock:
                self.config.pull_ms = int(body["default_ms"])
        if "pattern" in body:
            self._rule(self.config.add_pull, body["pattern"], int(body.get("ms", self.config.pull_ms)))
        return 200, self.config.snapshot()

    def fail(self, h, m):
        body = json_body(h)
        self._rule(self.config.add_fail, body.get("pattern") or "", body.get("message"), body.get("cause"))
        return 200, self.config.snapshot()

    def outcome(self, h, m):
        body = json_body(h)
        if "default" in body:
            with self.config.lock:
                self.config.default_outcome = body["default"]
                if "run_ms" in body:
                    self.config.default_run_ms = body["run_ms"]
        if "pattern" in body:
            rule = {k: body[k] for k in ("outcome", "run_ms", "exit_code", "log_rate") if k in body}
            rule.setdefault("outcome", "Run")
            self._rule(self.config.add_outcome, body["pattern"], rule)
        return 200, self.config.snapshot()

    def files(self, h, m):
        body = json_body(h)
        self._rule(self.config.add_files, body.get("pattern") or "", body.get("files"))
        return 200, self.config.snapshot()

    def backoff(self, h, m):
        body = json_body(h)
        with self.config.lock:
            self.config.backoff_ms = int(body.get("base_ms", self.config.backoff_ms))
            self.config.backoff_max_ms = int(body.get("max_ms", self.config.backoff_max_ms))
        return 200, self.config.snapshot()

    def podgc(self, h, m):
        body = json_body(h)
        values = {k: body.get(k) for k in ("period_ms", "quarantine_ms") if k in body}
        for k, v in values.items():
            if not isinstance(v, int) or isinstance(v, bool) or v < (1 if k == "period_ms" else 0):
                raise ApiError(422, "%s must be an integer of at least %d" % (k, 1 if k == "period_ms" else 0),
                               "Invalid")
        with self.config.lock:
            self.config.podgc_period_ms = values.get("period_ms", self.config.podgc_period_ms)
            self.config.podgc_quarantine_ms = values.get("quarantine_ms", self.config.podgc_quarantine_ms)
        return 200, self.config.snapshot()

    @staticmethod
    def _rule(add, *args):
        try:
            add(*args)
        except ValueError as e:
            raise ApiError(422, str(e), "Invalid")

    def clear_rules(self, h, m):
        self.config.clear_rules()
        return 200, self.config.snapshot()

    # -- connection faults -----------------------------------------------------------

    def drop_watches(self, h, m):
        watchers = self.store.close_watchers()
        for w in watchers:
            if w.sock is not None:
                try:
                    w.sock.shutdown(2)
                except OSError:
                    pass
        return 200, {"dropped": len(watchers)}

    def compact(self, h, m):
        body = json_body(h)
        return 200, self.store.compact(int(body.get("keep", 0)), bool(body.get("error_watches")))

    def inject(self, h, m):
        body = json_body(h)
        delay_ms = int(body.get("delay_ms", 0))
        code = int(body.get("code", 0 if delay_ms > 0 else 429))
        if delay_ms < 0 or (code != 0 or delay_ms == 0) and (code < 400 or code > 599):
            raise ApiError(422, "code must be an HTTP error status (or absent with delay_ms)", "Invalid")
        try:
            self.faults.add(body.get("count", 1), code, body.get("path"), body.get("method"),
                            int(body.get("retry_after", 1)), body.get("message"), delay_ms)
        except re.error as e:
            raise ApiError(422, "bad path pattern: %s" % e, "Invalid")
        return 200, {"pending": self.faults.pending()}

    def clear_inject(self, h, m):
        self.faults.clear_rules()
        return 200, {"pending": []}

    def stall(self, h, m):
        body = json_body(h)
        seconds = body.get("seconds")
        until = time.monotonic() + float(seconds) if seconds else float("inf")
        self.store.set_stall(until)
        return 200, {"stalled": True, "seconds": seconds}

    def unstall(self, h, m):
        self.store.set_stall(0.0)
        return 200, {"stalled": False}

    def restart(self, h, m):
        body = json_body(h)
        amount = int(body.get("bump", 1_000_000))
        self.store.close_watchers()
        dropped = self.server.drop_connections(keep=h.connection) if self.server else 0
        rv = self.store.bump(amount)
        return 200, {"resourceVersion": str(rv), "droppedConnections": dropped}

    def reset_requests(self, h, m):
        self.faults.reset_log()
        return 200, {"total": 0}

    # -- load ---------------------------------------------------------------------

    def burst(self, h, m):
        """Start a burst of pod MODIFIED events; answers at once unless ``wait`` is true."""
        body = json_body(h)
        count = int(body.get("count", 1000))
        rate = float(body.get("rate", 0))
        ns = body.get("namespace", "imgpulld")
        targets = self._burst_targets(ns, body)
        self._burst_seq += 1
        status = {"id": self._burst_seq, "count": count, "rate": rate, "namespace": ns, "pods": len(targets),
                  "sent": 0, "first_rv": str(self.store.rv + 1), "last_rv": None, "done": False,
                  "seconds": None}
        self.bursts.append(status)
        t = threading.Thread(target=self._run_burst, args=(status, targets, count, rate), daemon=True)
        t.start()
        if body.get("wait"):
            t.join()
        return 200, dict(status)

    def _burst_targets(self, ns, body):
        n = int(body.get("pods", 0))
        if not body.get("synthetic") and not n:
            with self.store.lock:
                existing = [k for k in self.store.objects[kinds.POD.plural] if k[0] == ns]
            if existing:
                return sorted(existing)
            n = 10
        nodes = sorted(k[1] for k in self.store.objects[kinds.NODE.plural]) or ["node-1"]
        labels = body.get("labels")
        out = []
        for i in range(n):
            node = nodes[i % len(nodes)]
            pod = {"kind": "Pod", "apiVersion": "v1",
                   "metadata": {"generateName": "burst-", "namespace": ns,
                                "labels": labels if labels is not None else
                                {"imgpulld.io/job": "pj-burst000", "imgpulld.io/node": node,
                                 "kubesim.io/burst": "true"}},
                   "spec": {"nodeName": node, "restartPolicy": "Never",
                            "containers": [{"name": "pull", "image": "registry.local/burst:1"}]},
                   "status": {"phase": "Pending"}}
            objects.default_pod(pod)
            s = self.store.create(kinds.POD, pod)
            out.append((ns, s.obj["metadata"]["name"]))
        return out

    def _run_burst(self, status, targets, count, rate):
        start = time.monotonic()
        batch = 2000 if rate <= 0 else max(1, int(rate / 100))
        sent = 0
        while sent < count:
            n = min(batch, count - sent)
            if not self.store.burst(kinds.POD, targets, n, sent):
                break
            sent += n
            status["sent"] = sent
            if rate > 0:
                delay = start + sent / rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
        status["last_rv"] = str(self.store.rv)
        status["seconds"] = round(time.monotonic() - start, 3)
        status["done"] = True

    # -- logs -------------------------------------------------------------------

    def logs(self, h, m):
        body = json_body(h)
        ns, pod = body.get("namespace", "imgpulld"), body.get("pod")
        s = self.store.get_or_404(kinds.POD, ns, pod)
        names = [c["name"] for c in s.obj["spec"]["containers"]]
        container = body.get("container") or names[0]
        if container not in names:
            raise ApiError(400, "container %s is not valid for pod %s" % (container, pod), "BadRequest")
        if "rate" in body:
            self._sync(self.cluster.kubelet.set_log_rate, ns, pod, float(body["rate"]))
        buf = self.cluster.logs.buffer(ns, pod, container)
        for line in body.get("lines") or []:
            buf.append(line.encode())
        if body.get("bytes"):
            buf.blast(int(body["bytes"]))
        return 200, {"pod": pod, "container": container, "lines": buf.next_line}

