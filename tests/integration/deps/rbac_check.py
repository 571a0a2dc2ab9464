#!/usr/bin/env python3
"""Checks that deploy/rbac.yaml's ClusterRole allows every request imgpulld made.

Reads request logs of the Kubernetes simulator (JSON lines: method, verb, path, query, code,
agent; KUBESIM_REQUEST_LOG), keeps the requests whose User-Agent is imgpulld's, maps each to the
RBAC verb, API group, resource and subresource the way the API server's request-info resolver
does (k8s.io/apiserver/pkg/endpoints/request/requestinfo.go), and checks the ClusterRole's
rules. A missing rule fails naming the rule to add and a request that needed it.

Usage: rbac_check.py RBAC_YAML LOG...     exit 0, 1 (a request not allowed), 2 (no request)
"""
import json
import sys
from urllib.parse import parse_qs

import yaml

# Paths every authenticated user may GET (system:discovery, system:public-info-viewer).
DISCOVERY = ("/api", "/apis", "/version", "/healthz", "/livez", "/readyz", "/openapi")


def request_info(method, path, query):
    """Returns (verb, group, resource, subresource, namespace) or None for a non-resource URL."""
    parts = [p for p in path.split("/") if p]
    if parts[:1] == ["api"] and len(parts) >= 2:
        group, rest = "", parts[2:]
    elif parts[:1] == ["apis"] and len(parts) >= 3:
        group, rest = parts[1], parts[3:]
    else:
        return None
    if not rest:
        return None
    q = parse_qs(query or "")
    watch = rest[0] == "watch"  # the deprecated /watch/ prefix
    if watch:
        rest = rest[1:]
    namespace = ""
    if rest[0] == "namespaces" and len(rest) >= 3:
        namespace, rest = rest[1], rest[2:]
    elif rest[0] == "namespaces" and len(rest) == 2:
        rest = ["namespaces", rest[1]]
    resource = rest[0]
    name = rest[1] if len(rest) > 1 else ""
    sub = rest[2] if len(rest) > 2 else ""
    watch = watch or q.get("watch", [""])[0] in ("true", "1")
    if method == "GET":
        verb = "watch" if watch else "get" if name else "list"
    elif method == "HEAD":
        verb = "get" if name else "list"
    else:
        verb = {"POST": "create", "PUT": "update", "PATCH": "patch",
                "DELETE": "delete" if name else "deletecollection"}.get(method, method.lower())
    return verb, group, resource, sub, namespace


def allows(rules, verb, group, resource):
    for r in rules:
        if not (set(r.get("verbs", [])) & {verb, "*"}):
            continue
        if not (set(r.get("apiGroups", [])) & {group, "*"}):
            continue
        if set(r.get("resources", [])) & {resource, "*"}:
            return True
    return False


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    docs = [d for d in yaml.safe_load_all(open(argv[0])) if d]
    roles = [d for d in docs if d.get("kind") == "ClusterRole"]
    if len(roles) != 1:
        print("FAIL: %s holds %d ClusterRoles, want 1" % (argv[0], len(roles)), file=sys.stderr)
        return 1
    rules = roles[0].get("rules", [])
    seen, missing, nonres = {}, {}, {}
    for log in argv[1:]:
        try:
            lines = open(log).read().splitlines()
        except OSError:
            continue
        for line in lines:
            try:
                req = json.loads(line)
            except ValueError:
                continue
            if not req.get("agent", "").startswith("imgpulld/"):
                continue
            info = request_info(req["method"], req["path"], req.get("query", ""))
            if info is None:
                if req["method"] == "GET" and req["path"].rstrip("/").startswith(DISCOVERY):
                    continue
                nonres.setdefault("%s %s" % (req["method"], req["path"]), req)
                continue
            verb, group, resource, sub, _ = info
            full = resource + ("/" + sub if sub else "")
            key = (group, full, verb)
            seen[key] = seen.get(key, 0) + 1
            if not allows(rules, verb, group, full):
                missing.setdefault(key, req)
    if not seen and not nonres:
        print("FAIL: no request of imgpulld in %s" % " ".join(argv[1:]), file=sys.stderr)
        return 2
    print("imgpulld's requests (API group, resource, verb: count):")
    for (group, res, verb), n in sorted(seen.items()):
        print("  %-6s %-10s %-17s %6d%s" % (group or '""', res, verb, n,
                                          "   NOT ALLOWED" if (group, res, verb) in missing else ""))
    for (group, res, verb), req in sorted(missing.items()):
        print("FAIL: deploy/rbac.yaml does not allow %s on %s%s (e.g. %s %s%s): add the rule "
              "{apiGroups: [\"%s\"], resources: [\"%s\"], verbs: [\"%s\"]} or the verb to the rule of that resource"
              % (verb, res, " in API group " + group if group else "", req["method"], req["path"],
                 "?" + req["query"] if req.get("query") else "", group, res, verb), file=sys.stderr)
    for what in sorted(nonres):
        print("FAIL: %s is not a resource request and not discovery: add nonResourceURLs for it" % what,
              file=sys.stderr)
    unused = []
    for r in rules:
        for g in r.get("apiGroups", []):
            for res in r.get("resources", []):
                for v in r.get("verbs", []):
                    if (g, res, v) not in seen:
                        unused.append("%s %s %s" % (g or '""', res, v))
    if unused:
        print("granted but not seen in this run (fine when the run did not exercise them): " + ", ".join(unused))
    return 1 if missing or nonres else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
