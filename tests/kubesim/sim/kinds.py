"""The resource types the simulator serves and the fields they can be selected on."""


def _get(obj, dotted):
    cur = obj
    for part in dotted.split("."):
        if not isinstance(cur, dict):
            return ""
        cur = cur.get(part)
    if cur is None:
        return ""
    if isinstance(cur, bool):
        return "true" if cur else "false"
    return str(cur)


class Kind:
    """One REST resource: where it lives and which field selectors it supports."""

    def __init__(self, kind, plural, group, version, namespaced, fields, short=(), verbs=None):
        self.kind = kind
        self.plural = plural
        self.group = group
        self.version = version
        self.namespaced = namespaced
        self.fields = ("metadata.name",) + (("metadata.namespace",) if namespaced else ()) + tuple(fields)
        self.short = list(short)
        self.verbs = verbs or ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]

    @property
    def api_version(self):
        return self.version if not self.group else "%s/%s" % (self.group, self.version)

    @property
    def list_kind(self):
        return self.kind + "List"

    def field_values(self, obj):
        """Values of every selectable field, computed once per stored version."""
        values = {f: _get(obj, f) for f in self.fields}
        if self.kind == "Event":
            # pkg/registry/core/event/strategy.go: the selectable "source" is source.component.
            values["source"] = _get(obj, "source.component")
        return values


POD = Kind("Pod", "pods", "", "v1", True,
           ("spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName",
            "status.phase", "status.podIP", "status.nominatedNodeName"), short=["po"])
EVENT = Kind("Event", "events", "", "v1", True,
             ("involvedObject.kind", "involvedObject.namespace", "involvedObject.name", "involvedObject.uid",
              "involvedObject.apiVersion", "involvedObject.resourceVersion", "involvedObject.fieldPath",
              "reason", "reportingComponent", "source", "type"), short=["ev"])
NODE = Kind("Node", "nodes", "", "v1", False, ("spec.unschedulable",), short=["no"])
NAMESPACE = Kind("Namespace", "namespaces", "", "v1", False, ("status.phase",), short=["ns"])
JOB = Kind("Job", "jobs", "batch", "v1", True, ("status.successful",))

ALL = (POD, EVENT, NODE, NAMESPACE, JOB)
BY_PLURAL = {(k.group, k.plural): k for k in ALL}
