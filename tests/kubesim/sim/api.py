"""The Kubernetes REST surface: routing, CRUD, list, watch and pod logs.

Handlers receive a ``Request`` from the HTTP layer (see ``server``) and
either return ``(code, body_bytes)`` or stream through it.  Anything that
changes simulated workloads runs on the scheduler thread via ``run_sync`` so
controllers see changes in order.
"""

import json
import time
from urllib.parse import unquote

from . import discovery, kinds, objects, util
from .errors import ApiError, invalid, not_found
from .logs_api import serve_logs
from .patch import apply_patch
from .selectors import parse_fields, parse_labels
from .store import Store
from .tables import table_for_list, wants_table, watch_table_transform

BOOKMARK_INTERVAL = 1.0
DEFAULT_WATCH_TIMEOUT = 1800


class Route:
    """A parsed resource path."""

    def __init__(self, kind, namespace, name=None, sub=None, legacy_watch=False):
        self.kind = kind
        self.namespace = namespace
        self.name = name
        self.sub = sub
        self.legacy_watch = legacy_watch

    def verb(self, method, query):
        watching = self.legacy_watch or query.get("watch") in ("true", "1")
        if method == "GET":
            if self.sub == "log":
                return "log"
            if watching:
                return "watch"
            return "get" if self.name else "list"
        return {"POST": "create", "PUT": "update", "PATCH": "patch",
                "DELETE": "delete" if self.name else "deletecollection"}.get(method, method.lower())


def parse_route(path):
    """Map a URL path onto a Route, a discovery document name, or None."""
    parts = [unquote(p) for p in path.strip("/").split("/") if p]
    if parts[:2] == ["api", "v1"]:
        group, rest = "", parts[2:]
    elif parts[:3] == ["apis", "batch", "v1"]:
        group, rest = "batch", parts[3:]
    else:
        return None
    if not rest:
        return None
    legacy = False
    if rest[0] == "watch":
        legacy, rest = True, rest[1:]
    ns = ""
    if len(rest) >= 3 and rest[0] == "namespaces":
        ns, rest = rest[1], rest[2:]
    elif len(rest) == 2 and rest[0] == "namespaces" and not group:
        return Route(kinds.NAMESPACE, "", rest[1], legacy_watch=legacy)
    elif len(rest) == 3 and rest[0] == "namespaces" and rest[2] in ("status", "finalize"):
        return Route(kinds.NAMESPACE, "", rest[1], rest[2], legacy)
    kind = kinds.BY_PLURAL.get((group, rest[0]))
    if kind is None or (ns and not kind.namespaced) or len(rest) > 3:
        raise ApiError(404, "the server could not find the requested resource", "NotFound")
    name = rest[1] if len(rest) > 1 else None
    sub = rest[2] if len(rest) > 2 else None
    if sub is not None and sub not in ("status", "log") or (sub == "log" and kind is not kinds.POD):
        raise ApiError(404, "the server could not find the requested resource", "NotFound")
    return Route(kind, ns, name, sub, legacy)


DISCOVERY = {
    "/api": discovery.api_versions,
    "/apis": discovery.api_groups,
    "/api/v1": lambda: discovery.resource_list(""),
    "/apis/batch": lambda: discovery.api_group("batch"),
    "/apis/batch/v1": lambda: discovery.resource_list("batch"),
    "/version": lambda: discovery.VERSION,
}


class Api:
    def __init__(self, cluster):
        self.cluster = cluster
        self.store = cluster.store

    def handle(self, req, route):
        kind = route.kind
        verb = route.verb(req.method, req.query)
        if verb == "log":
            return serve_logs(self.cluster, req, route.namespace, route.name)
        if verb == "watch":
            return self.watch(req, route)
        if verb == "list":
            return self.list(req, route)
        if verb == "get":
            stored = self.store.get_or_404(kind, route.namespace, route.name)
            if wants_table(req) and route.sub is None:
                return 200, util.dumps(table_for_list(kind, stored.rv, [stored], None, req.query))
            return 200, stored.data
        if verb == "create":
            if route.name:
                raise ApiError(405, "the server does not allow this method on the requested resource",
                               "MethodNotAllowed")
            return self.create(req, route)
        if verb in ("update", "patch"):
            return self.modify(req, route, verb)
        if verb == "delete":
            return self.delete(req, route)
        if verb == "deletecollection":
            return self.delete_collection(req, route)
        raise ApiError(405, "the server does not allow this method on the requested resource", "MethodNotAllowed")

    # -- reads --------------------------------------------------------------

    def _selectors(self, req, route):
        lreqs = parse_labels(req.query.get("labelSelector", ""))
        freqs = parse_fields(req.query.get("fieldSelector", ""), route.kind)
        if route.name and route.legacy_watch:
            freqs.append(("metadata.name", True, route.name))
        return lreqs, freqs

    def list(self, req, route):
        lreqs, freqs = self._selectors(req, route)
        try:
            limit = int(req.query.get("limit") or 0)
        except ValueError:
            raise ApiError(400, "limit must be an integer")
        rv, items, cont, remaining = self.store.list(route.kind, route.namespace, lreqs, freqs, max(0, limit),
                                                     req.query.get("continue") or None)
        if wants_table(req):
            return 200, util.dumps(table_for_list(route.kind, rv, items, cont, req.query))
        meta = {"resourceVersion": str(rv)}
        if cont:
            meta["continue"] = cont
            meta["remainingItemCount"] = remaining
        head = b'{"kind":"%s","apiVersion":"%s","metadata":' % (route.kind.list_kind.encode(),
                                                               route.kind.api_version.encode())
        return 200, head + util.dumps(meta) + b',"items":[' + b",".join(Store.list_item(s) for s in items) + b"]}"

    def watch(self, req, route):
        lreqs, freqs = self._selectors(req, route)
        if route.name and not route.legacy_watch:
            freqs.append(("metadata.name", True, route.name))
        q = req.query
        try:
            timeout = float(q.get("timeoutSeconds") or DEFAULT_WATCH_TIMEOUT)
        except ValueError:
            raise ApiError(400, "timeoutSeconds must be a number")
        bookmarks = q.get("allowWatchBookmarks") in ("true", "1")
        initial = q.get("sendInitialEvents") in ("true", "1")
        rv = q.get("resourceVersion", "")
        if initial and rv not in ("", "0"):
            raise ApiError(422, "sendInitialEvents is only supported with resourceVersion \"\" or \"0\"", "Invalid")
        w = self.store.watch(route.kind, route.namespace, lreqs, freqs, rv, bookmarks, req.connection,
                             initial_end_bookmark=initial and bookmarks)
        transform = watch_table_transform(route.kind, req) if wants_table(req) else None
        deadline = time.monotonic() + max(0.0, timeout)
        req.start_chunked("application/json")
        try:
            while True:
                lines, done = w.next_batch(BOOKMARK_INTERVAL if bookmarks else None, deadline)
                if lines:
                    if transform is not None:
                        lines = [transform(line) for line in lines]
                    req.write_lines(lines)
                    w.last_sent = time.monotonic()
                    w.sent_events += len(lines)
                elif not done and req.peer_closed():
                    break
                if done:
                    break
            if w.dropped:
                req.abort()
            else:
                req.end_chunked()
        except OSError:
            req.abort()
        finally:
            self.store.unwatch(w)
        return None

    # -- writes -------------------------------------------------------------

    def _body(self, req):
        try:
            obj = json.loads(req.body() or b"null")
        except ValueError as e:
            raise ApiError(400, "the request body is not valid JSON: %s" % e, "BadRequest")
        return obj

    def create(self, req, route):
        kind = route.kind
        obj = self._body(req)
        if not isinstance(obj, dict):
            raise ApiError(400, "the request body must be a JSON object", "BadRequest")
        if obj.get("kind") not in (None, kind.kind):
            raise ApiError(400, "the kind in the body (%s) does not match the resource %s"
                           % (obj.get("kind"), kind.plural), "BadRequest")
        if obj.get("apiVersion") not in (None, kind.api_version):
            raise ApiError(400, "the API version in the body (%s) does not match the expected %s"
                           % (obj.get("apiVersion"), kind.api_version), "BadRequest")
        meta = obj.setdefault("metadata", {})
        if not isinstance(meta, dict):
            raise ApiError(400, "metadata must be an object", "BadRequest")
        if kind.namespaced:
            if meta.get("namespace") and meta["namespace"] != route.namespace:
                raise ApiError(400, "the namespace of the provided object does not match the namespace sent on "
                               "the request", "BadRequest")
            if not route.namespace:
                raise ApiError(405, "%s must be created in a namespace" % kind.plural, "MethodNotAllowed")
            meta["namespace"] = route.namespace
            if self.store.get(kinds.NAMESPACE, "", route.namespace) is None:
                raise not_found("", "namespaces", route.namespace)
        for server_set in ("resourceVersion", "uid", "creationTimestamp", "deletionTimestamp", "generation"):
            meta.pop(server_set, None)
        self._resolve_name(kind, route.namespace, meta)
        meta["uid"] = util.new_uid()
        self._validate(kind, obj)
        self._default(kind, obj)
        if req.query.get("dryRun") == "All":
            meta["resourceVersion"] = ""
            return 201, util.dumps(obj)
        stored = self.cluster.sched.run_sync(self._create_and_hand_over, kind, obj)
        return 201, stored.data

    def _create_and_hand_over(self, kind, obj):
        stored = self.store.create(kind, obj)
        self.cluster.created(kind, stored)
        return stored

    def _resolve_name(self, kind, ns, meta):
        if meta.get("name"):
            return
        prefix = meta.get("generateName")
        if not prefix:
            raise ApiError(422, "%s \"\" is invalid: metadata.name: Required value: name or generateName is required"
                           % kind.kind, "Invalid",
                           details={"kind": kind.kind, "group": kind.group,
                                    "causes": [{"reason": "FieldValueRequired", "field": "metadata.name",
                                                "message": "Required value: name or generateName is required"}]})
        base = prefix[:58] if len(prefix) > 58 else prefix
        for _ in range(100):
            name = base + util.rand_suffix()
            if self.store.get(kind, ns, name) is None:
                meta["name"] = name
                return

    def _validate(self, kind, obj):
        meta = obj["metadata"]
        name = meta["name"]
        causes = []
        limit = 63 if kind is kinds.JOB else 253
        if not objects.dns_subdomain(name) or len(name) > limit:
            causes.append({"reason": "FieldValueInvalid", "field": "metadata.name",
                           "message": "Invalid value: %r: a lowercase RFC 1123 subdomain of at most %d characters"
                           % (name, limit)})
        labels = meta.get("labels") or {}
        if not isinstance(labels, dict) or any(not isinstance(v, str) for v in labels.values()):
            causes.append({"reason": "FieldValueInvalid", "field": "metadata.labels",
                           "message": "Invalid value: label values must be strings"})
        else:
            for k, v in labels.items():
                try:
                    parse_labels("%s=%s" % (k, v))
                except ApiError:
                    causes.append({"reason": "FieldValueInvalid", "field": "metadata.labels",
                                   "message": "Invalid value: %r: not a valid label" % ("%s=%s" % (k, v))})
        if kind is kinds.POD:
            causes += objects.validate_pod_spec(obj.get("spec"), "spec", ("Always", "OnFailure", "Never"))
        elif kind is kinds.JOB:
            spec = obj.get("spec") or {}
            tmpl = spec.get("template") if isinstance(spec, dict) else None
            if not isinstance(tmpl, dict) or not isinstance(tmpl.get("spec"), dict):
                causes.append({"reason": "FieldValueRequired", "field": "spec.template.spec",
                               "message": "Required value"})
            else:
                causes += objects.validate_pod_spec(tmpl["spec"], "spec.template.spec", ("OnFailure", "Never"))
                if "restartPolicy" not in tmpl["spec"]:
                    causes.append({"reason": "FieldValueRequired", "field": "spec.template.spec.restartPolicy",
                                   "message": 'Required value: valid values: "OnFailure", "Never"'})
            for field in ("backoffLimit", "activeDeadlineSeconds", "completions", "parallelism",
                          "ttlSecondsAfterFinished"):
                v = spec.get(field) if isinstance(spec, dict) else None
                if v is not None and (not isinstance(v, int) or v < 0 or (field == "activeDeadlineSeconds"
                                                                           and v == 0)):
                    causes.append({"reason": "FieldValueInvalid", "field": "spec." + field,
                                   "message": "Invalid value: %r: must be a non-negative integer" % (v,)})
        if causes:
            raise invalid(kind.kind, kind.group, name, causes)

    def _default(self, kind, obj):
        if kind is kinds.POD:
            objects.default_pod(obj)
            obj["status"] = {"phase": "Pending", "qosClass": "BestEffort"}
        elif kind is kinds.JOB:
            objects.default_job(obj)
        elif kind is kinds.NAMESPACE:
            obj.setdefault("spec", {"finalizers": ["kubernetes"]})
            obj["status"] = {"phase": "Active"}
            obj["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = obj["metadata"]["name"]
        elif kind is kinds.NODE:
            self.cluster._node_index += 1
            base = objects.node(obj["metadata"]["name"], self.cluster._node_index,
                                obj["metadata"].get("labels"), bool((obj.get("spec") or {}).get("unschedulable")))
            base["metadata"]["uid"] = obj["metadata"]["uid"]
            obj.clear()
            obj.update(base)

    def modify(self, req, route, verb):
        kind = route.kind
        body = self._body(req)
        ctype = (req.headers.get("Content-Type") or "application/json").split(";")[0].strip()

        def mutate(obj):
            original = util.clone(obj)
            before_meta = original["metadata"]
            if verb == "update":
                if not isinstance(body, dict):
                    raise ApiError(400, "the request body must be a JSON object", "BadRequest")
                new = body
                if (new.get("metadata") or {}).get("name") not in (None, route.name):
                    raise ApiError(400, "the name of the object (%s) does not match the name on the URL (%s)"
                                   % (new["metadata"]["name"], route.name), "BadRequest")
            else:
                new = apply_patch(obj, body, ctype)
            if route.sub == "status":
                obj["status"] = new.get("status", obj.get("status"))
            else:
                status = obj.get("status")
                obj.clear()
                obj.update(new)
                if status is not None:
                    obj["status"] = status
            meta = obj.setdefault("metadata", {})
            for keep in ("name", "namespace", "uid", "creationTimestamp", "generation", "deletionTimestamp"):
                if keep in before_meta:
                    meta[keep] = before_meta[keep]
                else:
                    meta.pop(keep, None)
            meta["resourceVersion"] = before_meta.get("resourceVersion")
            if kind is kinds.NODE and route.sub is None:
                # The node controller keeps the cordon taint in step with spec.unschedulable.
                objects.set_node_state(obj, bool(obj.get("spec", {}).get("unschedulable")),
                                       objects.node_is_ready(obj))
            if obj == original:
                return False

        expect = None
        if verb == "update" and isinstance(body, dict):
            expect = (body.get("metadata") or {}).get("resourceVersion") or None
        stored = self.store.update(kind, route.namespace, route.name, mutate, expect)
        if kind is kinds.NODE:
            self.cluster.sched.call_soon(self.cluster.kubelet.on_nodes_changed)
        elif kind is kinds.JOB and route.sub is None:
            self.cluster.sched.call_soon(self.cluster.jobs.on_job_updated, route.namespace, route.name)
        return 200, stored.data

    def _delete_options(self, req):
        opts = {}
        raw = req.body()
        if raw:
            try:
                opts = json.loads(raw) or {}
            except ValueError:
                raise ApiError(400, "the DeleteOptions body is not valid JSON", "BadRequest")
        policy = req.query.get("propagationPolicy") or opts.get("propagationPolicy")
        if policy is None and (req.query.get("orphanDependents") == "false" or opts.get("orphanDependents") is False):
            policy = "Background"
        if policy not in (None, "Orphan", "Background", "Foreground"):
            raise ApiError(400, "propagationPolicy %r is not one of Orphan, Background, Foreground" % policy,
                           "BadRequest")
        grace = req.query.get("gracePeriodSeconds", opts.get("gracePeriodSeconds"))
        return policy, (int(grace) if grace is not None else None)

    def delete(self, req, route):
        policy, grace = self._delete_options(req)
        self.store.get_or_404(route.kind, route.namespace, route.name)
        stored = self.cluster.sched.run_sync(self.cluster.delete, route.kind, route.namespace, route.name,
                                             policy, grace)
        return 200, stored.data

    def delete_collection(self, req, route):
        policy, grace = self._delete_options(req)
        lreqs, freqs = self._selectors(req, route)
        rv, items, _, _ = self.store.list(route.kind, route.namespace, lreqs, freqs)
        deleted = []

        def run():
            for s in items:
                meta = s.obj["metadata"]
                try:
                    deleted.append(self.cluster.delete(route.kind, meta.get("namespace", ""), meta["name"],
                                                       policy, grace))
                except ApiError:
                    pass
        self.cluster.sched.run_sync(run, timeout=60)
        head = b'{"kind":"%s","apiVersion":"%s","metadata":{"resourceVersion":"%d"},"items":[' % (
            route.kind.list_kind.encode(), route.kind.api_version.encode(), self.store.rv)
        return 200, head + b",".join(Store.list_item(s) for s in deleted if s is not None) + b"]}"
