"""The pod garbage collector's orphan sweep.

As pkg/controller/podgc/gc_controller.go (gcOrphaned, markFailedAndDeletePodWithCondition) does:
every ``period`` (upstream 20 s) the collector notes each node that a pod is bound to
(``spec.nodeName``) and that is not in the cluster; a node still missing ``quarantine`` (upstream
40 s) after it was noted is deleted for good, and each pod bound to it is patched to phase
``Failed`` with the condition ``DisruptionTarget`` (reason ``DeletionByPodGC``, message ``PodGC:
node no longer exists``) unless it already ended, then deleted with no grace period. A node seen
again before its quarantine ends is forgotten. The Job controller counts such a pod failed and
creates a replacement, bound to the same node by ``nodeName``, which the next sweeps collect in
turn until the Job's ``backoffLimit`` fails it.
"""

import time

from . import kinds, util
from .errors import ApiError


class PodGC:
    def __init__(self, store, sched, kubelet, config):
        self.store = store
        self.sched = sched
        self.kubelet = kubelet
        self.config = config
        self.noted = {}  # node name -> monotonic time it was first found missing
        self.last = time.monotonic()

    def start(self):
        self.sched.call_later(0.25, self._tick)

    def reset(self):
        self.noted.clear()

    def _tick(self):
        """Wakes every 250 ms at most so that a period changed by /_sim/podgc applies at once."""
        period = self.config.podgc_period_ms / 1000.0
        try:
            if time.monotonic() - self.last >= period:
                self.last = time.monotonic()
                self._collect_orphans()
        finally:
            self.sched.call_later(min(period, 0.25), self._tick)

    def _collect_orphans(self):
        now = time.monotonic()
        with self.store.lock:
            nodes = {n for _, n in self.store.objects[kinds.NODE.plural]}
            pods = [(ns, name, s.obj["spec"].get("nodeName") or "", s.obj["status"].get("phase"))
                    for (ns, name), s in self.store.objects[kinds.POD.plural].items()]
        for node in list(self.noted):
            if node in nodes:
                del self.noted[node]
        quarantine = self.config.podgc_quarantine_ms / 1000.0
        gone = {n for n, since in self.noted.items() if now - since >= quarantine}
        for ns, name, node, phase in pods:
            if node and node not in nodes and node not in gone:
                self.noted.setdefault(node, now)
        for node in gone:
            del self.noted[node]
        for ns, name, node, phase in pods:
            if node in gone:
                self._fail_and_delete(ns, name, phase)

    def _fail_and_delete(self, ns, name, phase):
        if phase not in ("Succeeded", "Failed"):
            def mark(obj):
                status = obj.setdefault("status", {})
                status["phase"] = "Failed"
                conds = [c for c in status.get("conditions", []) if c.get("type") != "DisruptionTarget"]
                conds.append({"type": "DisruptionTarget", "status": "True", "lastProbeTime": None,
                              "lastTransitionTime": util.rfc3339(time.time()), "reason": "DeletionByPodGC",
                              "message": "PodGC: node no longer exists"})
                status["conditions"] = conds
            try:
                self.store.update(kinds.POD, ns, name, mark)
            except ApiError:  # deleted meanwhile
                return
        try:
            self.kubelet.delete_pod(ns, name, 0)
        except ApiError:
            pass
