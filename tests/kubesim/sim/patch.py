"""PATCH bodies: JSON merge patch (also used for strategic merge) and JSON patch.

Strategic merge differs from a merge patch only for lists with merge keys;
the simulator's clients patch maps (labels, annotations, spec.unschedulable),
where both agree, so one implementation serves both content types.
"""

from . import util
from .errors import ApiError


def merge(target, patch):
    if not isinstance(patch, dict):
        return util.clone(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if k.startswith("$"):
            continue
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge(out.get(k), v)
    return out


def _pointer(path):
    if path == "":
        return []
    if not path.startswith("/"):
        raise ApiError(422, "invalid JSON pointer %r" % path, "Invalid")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _json_patch(doc, ops):
    doc = util.clone(doc)
    for op in ops:
        parts = _pointer(op.get("path", ""))
        if not parts:
            raise ApiError(422, "a JSON patch may not replace the whole object", "Invalid")
        parent = doc
        for p in parts[:-1]:
            parent = parent[int(p)] if isinstance(parent, list) else parent.setdefault(p, {})
        last = parts[-1]
        kind = op.get("op")
        try:
            if kind in ("add", "replace"):
                if isinstance(parent, list):
                    idx = len(parent) if last == "-" else int(last)
                    if kind == "add":
                        parent.insert(idx, op["value"])
                    else:
                        parent[idx] = op["value"]
                else:
                    if kind == "replace" and last not in parent:
                        raise KeyError(last)
                    parent[last] = op["value"]
            elif kind == "remove":
                if isinstance(parent, list):
                    del parent[int(last)]
                else:
                    del parent[last]
            elif kind == "test":
                cur = parent[int(last)] if isinstance(parent, list) else parent[last]
                if cur != op.get("value"):
                    raise ApiError(422, "the JSON patch test at %s failed" % op.get("path"), "Invalid")
            else:
                raise ApiError(422, "unsupported JSON patch operation %r" % kind, "Invalid")
        except (KeyError, IndexError, ValueError):
            raise ApiError(422, "the JSON patch path %s does not exist" % op.get("path"), "Invalid")
    return doc


def apply_patch(obj, body, content_type):
    if content_type == "application/json-patch+json":
        if not isinstance(body, list):
            raise ApiError(400, "a JSON patch must be a list of operations", "BadRequest")
        return _json_patch(obj, body)
    if content_type in ("application/merge-patch+json", "application/strategic-merge-patch+json"):
        if not isinstance(body, dict):
            raise ApiError(400, "a merge patch must be a JSON object", "BadRequest")
        return merge(obj, body)
    raise ApiError(415, "the patch content type %r is not supported" % content_type, "UnsupportedMediaType")
