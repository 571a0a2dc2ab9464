"""Label and field selector parsing and matching.

Selectors are parsed once per request into a list of predicates so that the
watch fan-out, which evaluates them for every change, does no string work.
"""

import re

from .errors import ApiError

_KEY_RE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_VALUE_RE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


def _split_top(text):
    """Split on commas that are not inside a parenthesised value set."""
    parts, depth, cur = [], 0, []
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return [p.strip() for p in parts if p.strip()]


def _bad_label(req, why):
    return ApiError(400, "unable to parse requirement: %s: %s" % (req, why), "BadRequest")


def _check_key(req, key):
    if not _KEY_RE.match(key) or len(key.split("/")[-1]) > 63:
        raise _bad_label(req, "invalid label key %r" % key)


def _check_value(req, value):
    if len(value) > 63 or not _VALUE_RE.match(value):
        raise _bad_label(req, "invalid label value %r" % value)


_SET_RE = re.compile(r"^(\S+)\s+(in|notin)\s*\((.*)\)$")
_OP_RE = re.compile(r"^([^=!\s]+)\s*(==|=|!=)\s*(.*)$")


def parse_labels(text):
    """Parse a label selector into ``[(op, key, values)]``; raises 400 on syntax errors."""
    reqs = []
    for req in _split_top(text or ""):
        m = _SET_RE.match(req)
        if m:
            key, op, vals = m.group(1), m.group(2), [v.strip() for v in m.group(3).split(",") if v.strip()]
            _check_key(req, key)
            if not vals:
                raise _bad_label(req, "for 'in', 'notin' operators, values set can't be empty")
            for v in vals:
                _check_value(req, v)
            reqs.append((op, key, frozenset(vals)))
            continue
        if req.startswith("!"):
            key = req[1:].strip()
            _check_key(req, key)
            reqs.append(("!", key, None))
            continue
        m = _OP_RE.match(req)
        if m:
            key, op, val = m.group(1), m.group(2), m.group(3).strip()
            _check_key(req, key)
            _check_value(req, val)
            reqs.append(("!=" if op == "!=" else "=", key, val))
            continue
        _check_key(req, req)
        reqs.append(("exists", req, None))
    return reqs


def match_labels(reqs, labels):
    for op, key, val in reqs:
        have = key in labels
        if op == "=":
            if not have or labels[key] != val:
                return False
        elif op == "!=":
            if have and labels[key] == val:
                return False
        elif op == "in":
            if not have or labels[key] not in val:
                return False
        elif op == "notin":
            if have and labels[key] in val:
                return False
        elif op == "exists":
            if not have:
                return False
        elif op == "!":
            if have:
                return False
    return True


def parse_fields(text, kind):
    """Parse a field selector into ``[(key, equal, value)]`` for ``kind``.

    Only fields the resource declares are selectable, as on a real server,
    so a client asking for an unsupported field learns it with a 400.
    """
    reqs = []
    for req in _split_top(text or ""):
        for op in ("!=", "==", "="):
            if op in req:
                key, val = req.split(op, 1)
                key, val = key.strip(), val.strip()
                break
        else:
            raise ApiError(400, "invalid field selector %r: expected key=value or key!=value" % req)
        if key not in kind.fields:
            raise ApiError(400, 'field label not supported for %s: "%s" (selectable: %s)'
                           % (kind.plural, key, ", ".join(kind.fields)))
        reqs.append((key, op != "!=", val))
    return reqs


def match_fields(reqs, fields):
    for key, equal, val in reqs:
        if (fields.get(key, "") == val) != equal:
            return False
    return True
