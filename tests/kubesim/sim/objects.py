"""Builders for the objects the simulated cluster creates on its own."""

import re
import time

from . import kinds, util


def namespace(name):
    return {"kind": "Namespace", "apiVersion": "v1",
            "metadata": {"name": name, "labels": {"kubernetes.io/metadata.name": name}},
            "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}


def node_ip(index):
    return "10.0.0.%d" % (10 + index)


def node(name, index, labels=None, unschedulable=False, ready=True):
    now = util.rfc3339(time.time())
    meta_labels = {
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "beta.kubernetes.io/os": "linux",
        "beta.kubernetes.io/arch": "amd64",
    }
    meta_labels.update(labels or {})
    obj = {
        "kind": "Node", "apiVersion": "v1",
        "metadata": {"name": name, "labels": meta_labels,
                     "annotations": {"node.alpha.kubernetes.io/ttl": "0"}},
        "spec": {"podCIDR": "10.244.%d.0/24" % index, "podCIDRs": ["10.244.%d.0/24" % index]},
        "status": {
            "capacity": {"cpu": "4", "memory": "16365320Ki", "pods": "110", "ephemeral-storage": "102687672Ki"},
            "allocatable": {"cpu": "4", "memory": "16262920Ki", "pods": "110", "ephemeral-storage": "94636958339"},
            "conditions": [],
            "addresses": [{"type": "InternalIP", "address": node_ip(index)}, {"type": "Hostname", "address": name}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {"machineID": util.new_uid().replace("-", ""), "systemUUID": util.new_uid(),
                         "bootID": util.new_uid(), "kernelVersion": "6.1.0-sim", "osImage": "Debian GNU/Linux 12",
                         "containerRuntimeVersion": "containerd://1.7.20", "kubeletVersion": "v1.31.0",
                         "kubeProxyVersion": "v1.31.0", "operatingSystem": "linux", "architecture": "amd64"},
            "images": [],
        },
    }
    set_node_state(obj, unschedulable, ready, now)
    return obj


LIFECYCLE_TAINTS = ("node.kubernetes.io/unschedulable", "node.kubernetes.io/not-ready",
                    "node.kubernetes.io/unreachable")


def set_node_taints(obj, taints):
    """Replace the node's own taints (``kubectl taint``), keeping the node controller's."""
    kept = [t for t in obj["spec"].get("taints", []) if t["key"] in LIFECYCLE_TAINTS]
    mine = [{k: v for k, v in t.items() if k in ("key", "value", "effect")} for t in taints]
    if kept + mine:
        obj["spec"]["taints"] = mine + kept
    else:
        obj["spec"].pop("taints", None)


def set_node_state(obj, unschedulable, ready, now=None):
    """Apply cordon and readiness the way the node controller reflects them.

    A node whose kubelet stopped posting status gets Ready=Unknown and the
    ``node.kubernetes.io/unreachable`` taints, NoSchedule and NoExecute
    (pkg/controller/nodelifecycle/node_lifecycle_controller.go).
    """
    now = now or util.rfc3339(time.time())
    spec = obj["spec"]
    taints = [t for t in spec.get("taints", []) if t["key"] not in LIFECYCLE_TAINTS]
    if unschedulable:
        spec["unschedulable"] = True
        taints.append({"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule", "timeAdded": now})
    else:
        spec.pop("unschedulable", None)
    if not ready:
        taints.append({"key": "node.kubernetes.io/unreachable", "effect": "NoSchedule", "timeAdded": now})
        taints.append({"key": "node.kubernetes.io/unreachable", "effect": "NoExecute", "timeAdded": now})
    if taints:
        spec["taints"] = taints
    else:
        spec.pop("taints", None)
    old = {c["type"]: c for c in obj["status"].get("conditions", [])}
    conds = []
    for ctype, healthy, reason, msg in (
            ("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
            ("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
            ("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
            ("Ready", "True" if ready else "Unknown", "KubeletReady" if ready else "NodeStatusUnknown",
             "kubelet is posting ready status" if ready else "Kubelet stopped posting node status.")):
        prev = old.get(ctype)
        since = prev["lastTransitionTime"] if prev and prev["status"] == healthy else now
        conds.append({"type": ctype, "status": healthy, "lastHeartbeatTime": now, "lastTransitionTime": since,
                      "reason": reason, "message": msg})
    obj["status"]["conditions"] = conds


def node_is_ready(obj):
    for c in obj["status"].get("conditions", []):
        if c["type"] == "Ready":
            return c["status"] == "True"
    return False


def pod_from_job(job):
    """The pod a Job controller creates for ``job``: template plus ownership."""
    meta = job["metadata"]
    tmpl = util.clone(job["spec"]["template"])
    tmeta = tmpl.get("metadata") or {}
    labels = dict(tmeta.get("labels") or {})
    labels.update({"batch.kubernetes.io/controller-uid": meta["uid"], "batch.kubernetes.io/job-name": meta["name"],
                   "controller-uid": meta["uid"], "job-name": meta["name"]})
    pod_meta = {
        "generateName": meta["name"] + "-",
        "namespace": meta["namespace"],
        "labels": labels,
        "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job", "name": meta["name"], "uid": meta["uid"],
                             "controller": True, "blockOwnerDeletion": True}],
    }
    if tmeta.get("annotations"):
        pod_meta["annotations"] = dict(tmeta["annotations"])
    return {"kind": "Pod", "apiVersion": "v1", "metadata": pod_meta, "spec": tmpl["spec"], "status": {}}


def default_pod(obj):
    """Fill the defaults the API server applies to a pod on create: the pod spec's defaults, then
    what admission adds to pods only."""
    spec = obj.setdefault("spec", {})
    default_pod_spec(spec)
    admit_pod_spec(spec)
    obj.setdefault("status", {})
    obj["status"].setdefault("phase", "Pending")
    obj["status"].setdefault("qosClass", "BestEffort")


def admit_pod_spec(spec):
    """What admission plugins add to a pod, never to a pod template (a Job's): ServiceAccount,
    Priority and DefaultTolerationSeconds each act on the resource "pods" only
    (plugin/pkg/admission/defaulttolerationseconds/admission.go)."""
    spec.setdefault("serviceAccountName", "default")
    spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
    spec.setdefault("priority", 0)
    tolerations = spec.setdefault("tolerations", [])
    for key in ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"):
        if not any(t.get("key") == key for t in tolerations) and not any(
                t.get("operator") == "Exists" and not t.get("key") for t in tolerations):
            tolerations.append({"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300})


def default_pod_spec(spec):
    """The defaults of a pod spec, in a pod and in a template alike (SetDefaults_PodSpec and
    SetDefaults_Container, pkg/apis/core/v1/defaults.go)."""
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("securityContext", {})
    spec.setdefault("enableServiceLinks", True)
    for c in (spec.get("initContainers") or []) + spec.get("containers", []):
        if not isinstance(c, dict):
            continue
        image = c.get("image", "")
        tag = image.rsplit("/", 1)[-1]
        latest = "@" not in image and (":" not in tag or tag.endswith(":latest"))
        c.setdefault("imagePullPolicy", "Always" if latest else "IfNotPresent")
        c.setdefault("terminationMessagePath", "/dev/termination-log")
        c.setdefault("terminationMessagePolicy", "File")
        c.setdefault("resources", {})


def default_job(obj):
    spec = obj.setdefault("spec", {})
    spec.setdefault("backoffLimit", 6)
    spec.setdefault("completions", 1)
    spec.setdefault("parallelism", 1)
    spec.setdefault("completionMode", "NonIndexed")
    spec.setdefault("suspend", False)
    spec.setdefault("podReplacementPolicy", "TerminatingOrFailed")
    spec.setdefault("manualSelector", False)
    meta = obj["metadata"]
    labels = {"batch.kubernetes.io/controller-uid": meta["uid"], "batch.kubernetes.io/job-name": meta["name"],
              "controller-uid": meta["uid"], "job-name": meta["name"]}
    spec["selector"] = {"matchLabels": {"batch.kubernetes.io/controller-uid": meta["uid"]}}
    tmeta = spec["template"].setdefault("metadata", {})
    tmeta.setdefault("labels", {}).update(labels)
    if not meta.get("labels"):
        meta["labels"] = dict(tmeta["labels"])
    default_pod_spec_only(spec["template"])
    obj["status"] = {}


def default_pod_spec_only(template):
    default_pod_spec(template["spec"])


def validate_pod_spec(spec, path, restart_policies):
    """Return validation causes for a pod spec (empty when valid)."""
    causes = []
    if not isinstance(spec, dict):
        return [{"reason": "FieldValueRequired", "message": "Required value", "field": path}]
    containers = spec.get("containers")
    if not containers:
        causes.append({"reason": "FieldValueRequired", "message": "Required value",
                       "field": path + ".containers"})
    names = set()
    volumes = set()
    for i, v in enumerate(spec.get("volumes") or []):
        if not isinstance(v, dict) or not v.get("name") or not dns_label(v["name"]) or v["name"] in volumes:
            causes.append({"reason": "FieldValueInvalid", "message": "Invalid value: volume names must be unique "
                           "RFC 1123 labels", "field": "%s.volumes[%d].name" % (path, i)})
            continue
        volumes.add(v["name"])
    every = [("initContainers", i, c) for i, c in enumerate(spec.get("initContainers") or [])]
    every += [("containers", i, c) for i, c in enumerate(containers or [])]
    for kind, i, c in every:
        cpath = "%s.%s[%d]" % (path, kind, i)
        for k, mnt in enumerate((c.get("volumeMounts") or []) if isinstance(c, dict) else []):
            mpath = "%s.volumeMounts[%d]" % (cpath, k)
            if not isinstance(mnt, dict) or mnt.get("name") not in volumes:
                causes.append({"reason": "FieldValueNotFound", "message": "Not found: %r"
                               % (mnt.get("name") if isinstance(mnt, dict) else mnt), "field": mpath + ".name"})
            elif not str(mnt.get("mountPath", "")).startswith("/"):
                causes.append({"reason": "FieldValueRequired", "message": "Required value",
                               "field": mpath + ".mountPath"})
        if not isinstance(c, dict):
            causes.append({"reason": "FieldValueInvalid", "message": "must be an object", "field": cpath})
            continue
        if not c.get("name"):
            causes.append({"reason": "FieldValueRequired", "message": "Required value", "field": cpath + ".name"})
        elif not dns_label(c["name"]):
            causes.append({"reason": "FieldValueInvalid",
                           "message": "Invalid value: %r: must be a lowercase RFC 1123 label" % c["name"],
                           "field": cpath + ".name"})
        elif c["name"] in names:
            causes.append({"reason": "FieldValueDuplicate", "message": "Duplicate value: %r" % c["name"],
                           "field": cpath + ".name"})
        names.add(c.get("name"))
        if not c.get("image") or not isinstance(c["image"], str) or c["image"] != c["image"].strip():
            causes.append({"reason": "FieldValueRequired", "message": "Required value", "field": cpath + ".image"})
        pol = c.get("imagePullPolicy")
        if pol is not None and pol not in ("Always", "IfNotPresent", "Never"):
            causes.append({"reason": "FieldValueNotSupported",
                           "message": 'Unsupported value: %r: supported values: "Always", "IfNotPresent", "Never"'
                           % pol, "field": cpath + ".imagePullPolicy"})
    rp = spec.get("restartPolicy")
    if rp is not None and rp not in restart_policies:
        causes.append({"reason": "FieldValueNotSupported",
                       "message": "Unsupported value: %r: supported values: %s"
                       % (rp, ", ".join('"%s"' % p for p in restart_policies)),
                       "field": path + ".restartPolicy"})
    return causes


def dns_label(name):
    return len(name) <= 63 and re.match(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", name) is not None


def dns_subdomain(name):
    return len(name) <= 253 and re.match(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$",
                                         name) is not None


class EventRecorder:
    """Writes core/v1 Events, folding repeats into one object with a count.

    A repeated (object, reason, message) raises ``count`` and moves
    ``lastTimestamp`` instead of creating a new Event, which is how a kubelet
    reports a retry loop.  The total is bounded: the oldest Events are
    deleted first, as their TTL would.
    """

    def __init__(self, store, max_events=5000):
        self.store = store
        self.max_events = max_events
        self.seen = {}
        self.order = []

    def record(self, involved, etype, reason, message, component="kubelet", host=None, field_path=None):
        meta = involved["metadata"]
        ns = meta.get("namespace") or "default"
        key = (meta.get("uid"), reason, message, component)
        now = time.time()
        name = self.seen.get(key)
        if name is not None:
            def bump(ev):
                ev["count"] = ev.get("count", 1) + 1
                ev["lastTimestamp"] = util.rfc3339(now)
            try:
                self.store.update(kinds.EVENT, ns, name, bump)
                return
            except Exception:
                self.seen.pop(key, None)
        involved_ref = {"kind": involved.get("kind"), "namespace": ns, "name": meta.get("name"),
                        "uid": meta.get("uid"), "apiVersion": involved.get("apiVersion"),
                        "resourceVersion": meta.get("resourceVersion")}
        if field_path:
            involved_ref["fieldPath"] = field_path
        source = {"component": component}
        if host:
            source["host"] = host
        ev = {
            "kind": "Event", "apiVersion": "v1",
            "metadata": {"name": "%s.%016x" % (meta.get("name"), time.time_ns() + len(self.order)),
                         "namespace": ns},
            "involvedObject": involved_ref, "reason": reason, "message": message, "source": source,
            "firstTimestamp": util.rfc3339(now), "lastTimestamp": util.rfc3339(now), "count": 1,
            "type": etype, "eventTime": util.rfc3339_micro(now), "reportingComponent": component,
            "reportingInstance": host or "",
        }
        try:
            s = self.store.create(kinds.EVENT, ev)
        except Exception:
            return
        name = s.obj["metadata"]["name"]
        self.seen[key] = name
        self.order.append((ns, name, key))
        while len(self.order) > self.max_events:
            ons, oname, okey = self.order.pop(0)
            self.seen.pop(okey, None)
            try:
                self.store.delete(kinds.EVENT, ons, oname)
            except Exception:
                pass

    def clear(self):
        self.seen.clear()
        self.order.clear()
