"""Discovery documents: what kubectl asks before it does anything else."""

from . import kinds

VERSION = {
    "major": "1", "minor": "31", "gitVersion": "v1.31.0", "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean", "buildDate": "2024-08-13T00:00:00Z", "goVersion": "go1.22.5", "compiler": "gc",
    "platform": "linux/amd64",
}


def api_versions():
    return {"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]}


def _group(name):
    gv = {"groupVersion": "%s/v1" % name, "version": "v1"}
    return {"name": name, "versions": [gv], "preferredVersion": gv}


def api_groups():
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": [_group("batch")]}


def api_group(name):
    obj = _group(name)
    obj.update({"kind": "APIGroup", "apiVersion": "v1"})
    return obj


def _resource(k):
    r = {"name": k.plural, "singularName": k.kind.lower(), "namespaced": k.namespaced, "kind": k.kind,
         "verbs": k.verbs}
    if k.short:
        r["shortNames"] = k.short
    if k is kinds.POD:
        r["categories"] = ["all"]
    if k is kinds.JOB:
        r["categories"] = ["all"]
    return r


def resource_list(group):
    version = "v1" if not group else "%s/v1" % group
    res = []
    for k in kinds.ALL:
        if k.group != group:
            continue
        res.append(_resource(k))
        if k in (kinds.POD, kinds.JOB, kinds.NODE, kinds.NAMESPACE):
            res.append({"name": k.plural + "/status", "singularName": "", "namespaced": k.namespaced,
                        "kind": k.kind, "verbs": ["get", "patch", "update"]})
        if k is kinds.POD:
            res.append({"name": "pods/log", "singularName": "", "namespaced": True, "kind": "Pod", "verbs": ["get"]})
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": version, "resources": res}
