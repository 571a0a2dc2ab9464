"""GET .../pods/NAME/log: container selection, options, follow streams."""

import time

from . import kinds, util
from .errors import ApiError


def _int_param(query, name, minimum=0):
    raw = query.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, "%s must be an integer, got %r" % (name, raw), "BadRequest")
    if value < minimum:
        raise ApiError(422, "%s: Invalid value: %d: must be greater than or equal to %d" % (name, value, minimum),
                       "Invalid")
    return value


def _pick_container(pod, name, requested):
    """The container whose log is served, as the apiserver picks it (pkg/registry/core/pod/strategy.go,
    validateContainer): with none named, the pod's only regular container, else a 400 listing every
    container (init, regular, ephemeral, in that order, as Go prints a []string); a named one may be
    any of them. The kubectl.kubernetes.io/default-container annotation is kubectl's, not the
    apiserver's: it is not read here."""
    spec = pod["spec"]
    every = [c["name"] for key in ("initContainers", "containers", "ephemeralContainers")
             for c in (spec.get(key) or [])]
    if not requested:
        regular = spec.get("containers") or []
        if len(regular) == 1:
            return regular[0]["name"]
        if not regular:
            raise ApiError(400, "a container name must be specified for pod %s" % name, "BadRequest")
        raise ApiError(400, "a container name must be specified for pod %s, choose one of: [%s]"
                       % (name, " ".join(every)), "BadRequest")
    if requested not in every:
        raise ApiError(400, "container %s is not valid for pod %s" % (requested, name), "BadRequest")
    return requested


def serve_logs(cluster, req, ns, name):
    q = req.query
    pod = cluster.store.get_or_404(kinds.POD, ns, name).obj
    container = _pick_container(pod, name, q.get("container"))
    previous = q.get("previous") in ("true", "1")
    follow = q.get("follow") in ("true", "1")
    timestamps = q.get("timestamps") in ("true", "1")
    tail = _int_param(q, "tailLines")
    limit = _int_param(q, "limitBytes", 1)
    since_s = _int_param(q, "sinceSeconds", 1)
    since = None
    if since_s is not None:
        since = time.time() - since_s
    if q.get("sinceTime"):
        if since is not None:
            raise ApiError(422, "at most one of sinceTime or sinceSeconds may be specified", "Invalid")
        try:
            since = util.parse_rfc3339(q["sinceTime"])
        except ValueError:
            raise ApiError(400, "sinceTime %r is not an RFC 3339 time" % q["sinceTime"], "BadRequest")
    status = next((c for c in pod.get("status", {}).get("containerStatuses", []) if c["name"] == container), None)
    buf = cluster.logs.get(ns, name, container, previous)
    if previous:
        if buf is None or not (status or {}).get("lastState", {}).get("terminated"):
            raise ApiError(400, 'previous terminated container "%s" in pod "%s" not found' % (container, name),
                           "BadRequest")
        follow = False
    elif buf is None:
        state = (status or {}).get("state") or {}
        if "terminated" in state or "running" in state:
            return 200, b"", "text/plain"
        waiting = ((status or {}).get("state") or {}).get("waiting") or {"reason": "ContainerCreating"}
        if waiting.get("reason") in ("ImagePullBackOff", "ErrImagePull", "ErrImageNeverPull", "InvalidImageName"):
            text = "trying and failing to pull image"
        elif waiting.get("reason") == "ContainerCreating" or not status:
            text = "ContainerCreating"
        else:
            text = waiting.get("reason", "ContainerCreating")
        raise ApiError(400, 'container "%s" in pod "%s" is waiting to start: %s' % (container, name, text),
                       "BadRequest")
    pos = buf.start_position(tail, since)
    if not follow:
        out = []
        size = 0
        while True:
            data, pos = buf.read(pos, timestamps)
            if not data:
                break
            out.append(data)
            size += len(data)
            if limit is not None and size >= limit:
                break
        body = b"".join(out)
        if limit is not None:
            body = body[:limit]
        return 200, body, "text/plain"
    req.start_chunked("text/plain")
    sent = 0
    try:
        while True:
            data, pos = buf.read(pos, timestamps)
            if data:
                if limit is not None and sent + len(data) >= limit:
                    req.write_chunk(data[:limit - sent])
                    break
                req.write_chunk(data)
                sent += len(data)
                continue
            if not buf.wait(pos, 1.0) or req.peer_closed():
                break
        req.end_chunked()
    except OSError:
        req.abort()
    return None
