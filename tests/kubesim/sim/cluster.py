"""The simulated cluster: store, controllers and the operations that span them."""

import time

from . import kinds, objects, util
from .config import SimConfig
from .errors import ApiError
from .jobs import JobController
from .kubelet import Kubelet
from .logs import LogRegistry
from .objects import EventRecorder
from .podgc import PodGC
from .sched import Scheduler
from .store import Store

NAMESPACES = ("default", "imgpulld", "kube-system", "kube-public", "kube-node-lease")


class Cluster:
    def __init__(self, nodes=3, history=10000, config=None):
        self.store = Store(history)
        self.config = config or SimConfig()
        self.sched = Scheduler()
        self.logs = LogRegistry()
        self.recorder = EventRecorder(self.store)
        self.kubelet = Kubelet(self.store, self.sched, self.config, self.recorder, self.logs)
        self.jobs = JobController(self.store, self.sched, self.kubelet, self.recorder)
        self.jobs.deleter = lambda ns, name: self._delete_job(ns, name, "Background")
        self.podgc = PodGC(self.store, self.sched, self.kubelet, self.config)
        self.initial_nodes = nodes
        self._node_index = 0
        self._bootstrap()

    def start(self):
        self.sched.start()
        self.logs.start()
        self.podgc.start()

    def _bootstrap(self):
        for ns in NAMESPACES:
            self.store.create(kinds.NAMESPACE, objects.namespace(ns))
        for i in range(self.initial_nodes):
            self._create_node("node-%d" % (i + 1), {})

    def _create_node(self, name, labels):
        self._node_index += 1
        # A node registers with the images it already holds: one ADDED event, as a kubelet's first status has them.
        obj = objects.node(name, self._node_index, labels)
        for image in self.config.preload:
            self.kubelet.node_images.setdefault(name, set()).add(image)
            self.kubelet.add_node_image(obj, image)
        return self.store.create(kinds.NODE, obj)

    # -- nodes (called on the scheduler thread through run_sync) ---------------

    def add_node(self, name, labels=None, cordoned=False, ready=True):
        if not objects.dns_subdomain(name):
            raise ApiError(422, "invalid node name %r" % name, "Invalid")
        s = self._create_node(name, labels or {})
        if cordoned or not ready:
            s = self.set_node_state(name, cordoned=cordoned, ready=ready)
        self.kubelet.on_node_added(name)
        self.kubelet.on_nodes_changed()
        return s

    def remove_node(self, name):
        """The node's machine is gone with it: its kubelet stops, so its pods stay as they were until
        the pod garbage collector fails and deletes them (sim/podgc.py)."""
        s = self.store.delete(kinds.NODE, "", name)
        self.kubelet.node_images.pop(name, None)
        self.kubelet.on_node_removed(name)
        self.kubelet.on_nodes_changed()
        return s

    def set_node_state(self, name, cordoned=None, ready=None):
        def apply(obj):
            unsched = bool(obj["spec"].get("unschedulable")) if cordoned is None else bool(cordoned)
            is_ready = objects.node_is_ready(obj) if ready is None else bool(ready)
            objects.set_node_state(obj, unsched, is_ready)
        s = self.store.update(kinds.NODE, "", name, apply)
        self.kubelet.on_nodes_changed()
        return s

    def set_node_taints(self, name, taints):
        """Replace the node's own taints; the kubelet re-evaluates pods waiting there."""
        for t in taints:
            if not isinstance(t, dict) or not t.get("key") or t.get("effect") not in ("NoSchedule", "PreferNoSchedule",
                                                                                      "NoExecute"):
                raise ApiError(422, "each taint needs a key and an effect of NoSchedule, PreferNoSchedule or "
                                    "NoExecute", "Invalid")
        s = self.store.update(kinds.NODE, "", name, lambda obj: objects.set_node_taints(obj, taints))
        self.kubelet.on_nodes_changed()
        return s

    def set_node_labels(self, name, labels):
        """Merge ``labels`` into the node's labels; a null value removes the key."""
        def apply(obj):
            cur = obj["metadata"].setdefault("labels", {})
            for k, v in labels.items():
                if v is None:
                    cur.pop(k, None)
                else:
                    cur[k] = str(v)
        return self.store.update(kinds.NODE, "", name, apply)

    # -- workload operations -----------------------------------------------------

    def created(self, kind, stored):
        """Hand a freshly created workload to its controller."""
        meta = stored.obj["metadata"]
        if kind is kinds.POD:
            self.sched.call_soon(self.kubelet.on_pod_created, meta["namespace"], meta["name"])
        elif kind is kinds.JOB:
            self.sched.call_soon(self.jobs.on_job_created, meta["namespace"], meta["name"])
        elif kind is kinds.NODE:
            self.sched.call_soon(self.kubelet.on_nodes_changed)

    def delete(self, kind, ns, name, propagation=None, grace=None):
        """Delete one object with the side effects its kind has; run on the scheduler thread."""
        if kind is kinds.POD:
            return self.kubelet.delete_pod(ns, name, grace)
        if kind is kinds.JOB:
            return self._delete_job(ns, name, propagation or "Orphan")
        if kind is kinds.NODE:
            return self.remove_node(name)
        if kind is kinds.NAMESPACE:
            if name in NAMESPACES:
                raise ApiError(403, 'namespaces "%s" is forbidden: this namespace may not be deleted' % name,
                               "Forbidden")
        return self.store.delete(kind, ns, name)

    def _delete_job(self, ns, name, propagation):
        job = self.store.get_or_404(kinds.JOB, ns, name)
        uid = job.obj["metadata"]["uid"]
        with self.store.lock:
            pods = [n for (pns, n), s in self.store.objects[kinds.POD.plural].items()
                    if pns == ns and any(r.get("uid") == uid for r in s.obj["metadata"].get("ownerReferences", []))]
        self.jobs.on_job_deleted(ns, name)
        if propagation == "Orphan":
            for p in pods:
                def drop(obj):
                    obj["metadata"]["ownerReferences"] = [r for r in obj["metadata"].get("ownerReferences", [])
                                                          if r.get("uid") != uid]
                    if not obj["metadata"]["ownerReferences"]:
                        del obj["metadata"]["ownerReferences"]
                self.store.update(kinds.POD, ns, p, drop)
            return self.store.delete(kinds.JOB, ns, name)
        if propagation == "Foreground":
            def mark(obj):
                obj["metadata"]["deletionTimestamp"] = util.rfc3339(time.time())
                obj["metadata"]["deletionGracePeriodSeconds"] = 0
                obj["metadata"]["finalizers"] = ["foregroundDeletion"]
            marked = self.store.update(kinds.JOB, ns, name, mark)
            for p in pods:
                self._delete_pod_quietly(ns, p)
            self.sched.call_later(0.05, self._finish_foreground, ns, name)
            return marked
        deleted = self.store.delete(kinds.JOB, ns, name)
        self.sched.call_later(0.02, self._collect, ns, pods)
        return deleted

    def _finish_foreground(self, ns, name):
        try:
            self.store.delete(kinds.JOB, ns, name)
        except ApiError:
            pass

    def _collect(self, ns, pods):
        for p in pods:
            self._delete_pod_quietly(ns, p)

    def _delete_pod_quietly(self, ns, name):
        try:
            self.kubelet.delete_pod(ns, name, 0)
        except ApiError:
            pass

    def reset(self):
        """Back to the initial cluster: no workloads, initial nodes, default rules."""
        self.jobs.reset()
        self.kubelet.reset()
        self.podgc.reset()
        self.recorder.clear()
        self.logs.clear()
        self.store.clear()
        self._node_index = 0
        self._bootstrap()
