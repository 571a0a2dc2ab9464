"""Server-side printing: ``Table`` answers for clients that ask for them.

kubectl asks for ``as=Table`` in its Accept header and prints the columns
it is given, so the table decides what an operator sees in ``kubectl get``.
"""

import json
import time

from . import kinds, util


def wants_table(req):
    return "as=Table" in (req.headers.get("Accept") or "")


def _age(ts):
    if not ts:
        return "<unknown>"
    try:
        secs = max(0, int(time.time() - util.parse_rfc3339(ts)))
    except ValueError:
        return "<invalid>"
    if secs < 120:
        return "%ds" % secs
    if secs < 600:
        return "%dm%ds" % (secs // 60, secs % 60)
    if secs < 3 * 3600:
        return "%dm" % (secs // 60)
    if secs < 2 * 86400:
        return "%dh" % (secs // 3600)
    return "%dd" % (secs // 86400)


def _pod_row(o):
    st = o.get("status") or {}
    cs = st.get("containerStatuses") or []
    ready = sum(1 for c in cs if c.get("ready"))
    total = len((o.get("spec") or {}).get("containers") or [])
    reason = st.get("reason") or st.get("phase", "Pending")
    for c in cs:
        state = c.get("state") or {}
        if "waiting" in state and state["waiting"].get("reason"):
            reason = state["waiting"]["reason"]
        elif "terminated" in state and state["terminated"].get("reason") and st.get("phase") != "Running":
            reason = state["terminated"]["reason"]
    if o["metadata"].get("deletionTimestamp"):
        reason = "Terminating"
    restarts = sum(c.get("restartCount", 0) for c in cs)
    return ["%d/%d" % (ready, total), reason, restarts, _age(o["metadata"].get("creationTimestamp")),
            st.get("podIP") or "<none>", (o.get("spec") or {}).get("nodeName") or "<none>"]


def _job_row(o):
    st, spec = o.get("status") or {}, o.get("spec") or {}
    conds = {c["type"]: c for c in st.get("conditions") or [] if c.get("status") == "True"}
    status = "Complete" if "Complete" in conds else "Failed" if "Failed" in conds else "Running"
    return [status, "%d/%d" % (st.get("succeeded", 0), spec.get("completions", 1)),
            _age(st.get("startTime")), _age(o["metadata"].get("creationTimestamp"))]


def _node_row(o):
    ready = any(c["type"] == "Ready" and c["status"] == "True" for c in o["status"].get("conditions", []))
    status = "Ready" if ready else "NotReady"
    if o["spec"].get("unschedulable"):
        status += ",SchedulingDisabled"
    return [status, "<none>", _age(o["metadata"].get("creationTimestamp")),
            o["status"].get("nodeInfo", {}).get("kubeletVersion", "")]


def _event_row(o):
    inv = o.get("involvedObject") or {}
    return [_age(o.get("lastTimestamp")), o.get("type", ""), o.get("reason", ""),
            "%s/%s" % ((inv.get("kind") or "").lower(), inv.get("name", "")), o.get("message", "")]


def _namespace_row(o):
    return [o.get("status", {}).get("phase", "Active"), _age(o["metadata"].get("creationTimestamp"))]


def _col(name, typ="string", priority=0, fmt=""):
    return {"name": name, "type": typ, "format": fmt, "description": name, "priority": priority}


COLUMNS = {
    "pods": ([_col("Name", fmt="name"), _col("Ready"), _col("Status"), _col("Restarts", "string"), _col("Age"),
              _col("IP", priority=1), _col("Node", priority=1)], _pod_row),
    "jobs": ([_col("Name", fmt="name"), _col("Status"), _col("Completions"), _col("Duration"), _col("Age")],
             _job_row),
    "nodes": ([_col("Name", fmt="name"), _col("Status"), _col("Roles"), _col("Age"), _col("Version")], _node_row),
    "events": ([_col("Last Seen"), _col("Type"), _col("Reason"), _col("Object"), _col("Message")], _event_row),
    "namespaces": ([_col("Name", fmt="name"), _col("Status"), _col("Age")], _namespace_row),
}


def _row(kind, obj, include):
    cols, fn = COLUMNS[kind.plural]
    cells = fn(obj)
    if kind is not kinds.EVENT:
        cells = [obj["metadata"]["name"]] + cells
    row = {"cells": cells}
    if include == "Object":
        row["object"] = obj
    elif include != "None":
        row["object"] = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                         "metadata": obj["metadata"]}
    return row


def _table(kind, rv, rows, with_columns=True, cont=None):
    meta = {"resourceVersion": str(rv)}
    if cont:
        meta["continue"] = cont
    t = {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": meta}
    if with_columns:
        t["columnDefinitions"] = COLUMNS[kind.plural][0]
    t["rows"] = rows
    return t


def table_for_list(kind, rv, items, cont, query):
    include = query.get("includeObject", "PartialObjectMetadata")
    return _table(kind, rv, [_row(kind, json.loads(s.data), include) for s in items], True, cont)


def watch_table_transform(kind, req):
    """Re-encode watch lines as single-row tables; columns only in the first one."""
    include = req.query.get("includeObject", "PartialObjectMetadata")
    first = [True]

    def transform(line):
        ev = json.loads(line)
        obj = ev["object"]
        if ev["type"] in ("ERROR", "BOOKMARK"):
            return line
        table = _table(kind, obj["metadata"].get("resourceVersion", ""), [_row(kind, obj, include)], first[0])
        first[0] = False
        return util.dumps({"type": ev["type"], "object": table}) + b"\n"
    return transform
