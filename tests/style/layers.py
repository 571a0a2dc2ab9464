#!/usr/bin/env python3
"""Checks the layer rules of tests/style/layers.txt against the tree and the built libraries.

usage: layers.py SOURCE_DIR [BUILD_DIR]    check; exit 1 naming every violation
       layers.py --self-test               plant one violation of each kind in a scratch tree and
                                           check that each is reported
"""
import os
import re
import subprocess
import sys
import tempfile

MODULES = ("proto", "shared", "master", "worker")
INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]')


def parse_rules(path):
    rules = {"unit": {}, "lib": {}, "uses": {}, "never": {}}
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            m = re.match(r"^(unit|lib|uses|never)\s+(\S+):\s*(.*)$", line)
            if not m:
                raise SystemExit(f"{path}:{n}: cannot read: {line}")
            rules[m.group(1)][m.group(2).rstrip("/")] = m.group(3).split()
    return rules


def owner(path, names):
    """The longest name in `names` that is `path` or a directory prefix of it, or None."""
    best = None
    for u in names:
        if (path == u or path.startswith(u + "/")) and (best is None or len(u) > len(best)):
            best = u
    return best


def resolve(src_rel, target, root):
    """Path (relative to root) of the file a quoted include names, or None if outside the tree."""
    here = os.path.normpath(os.path.join(os.path.dirname(src_rel), target))
    if os.path.exists(os.path.join(root, here)):
        return here
    return os.path.normpath(target)  # "module/file.h", found through the include path


def is_private(header):
    base = os.path.basename(header)
    return base == "internal.h" or base.endswith("_internal.h")


def check_includes(root, rules):
    errors = []
    units = rules["unit"]
    for module in MODULES:
        for dirpath, _, files in os.walk(os.path.join(root, module)):
            for name in sorted(files):
                if not name.endswith((".c", ".h")):
                    continue
                rel = os.path.relpath(os.path.join(dirpath, name), root)
                mine = owner(rel, units)
                with open(os.path.join(root, rel), errors="replace") as f:
                    for n, line in enumerate(f, 1):
                        m = INCLUDE.match(line)
                        if not m:
                            continue
                        where = f"{rel}:{n}"
                        if m.group(1) == "<":
                            errors += check_system(where, rel, m.group(2), rules)
                            continue
                        target = resolve(rel, m.group(2), root)
                        theirs = owner(target, units)
                        if theirs is None:
                            errors.append(f"{where}: includes {m.group(2)}, which is in no unit of layers.txt")
                        elif mine is None:
                            errors.append(f"{where}: the file is in no unit of layers.txt")
                        elif theirs != mine and theirs not in units[mine]:
                            errors.append(f"{where}: {mine} may not include {theirs} ({m.group(2)}); "
                                          f"{mine} may include: {' '.join(units[mine]) or 'only itself'}")
                        if is_private(target) and not (os.path.dirname(rel) + "/").startswith(
                                os.path.dirname(target) + "/"):
                            errors.append(f"{where}: {target} is private to {os.path.dirname(target)}/")
    return errors


def check_system(where, rel, header, rules):
    lib = next((l for l, prefixes in rules["lib"].items()
                if any(header == p or (p.endswith("/") and header.startswith(p)) for p in prefixes)), None)
    if lib is None:
        return []  # libc and the kernel's headers
    unit = owner(rel, rules["uses"])
    allowed = rules["uses"].get(unit, [])
    if lib not in allowed:
        return [f"{where}: {unit} may not use {lib} (<{header}>); {unit} may use: {' '.join(allowed) or 'libc only'}"]
    return []


def check_symbols(build, rules):
    errors = []
    for unit, patterns in rules["never"].items():
        lib = os.path.join(build, unit, f"libipd_{unit}.a")
        if not os.path.exists(lib):
            errors.append(f"{lib}: not built")
            continue
        out = subprocess.run(["nm", "-u", lib], capture_output=True, text=True, check=True).stdout
        used = {l.split()[-1] for l in out.splitlines() if l.strip() and not l.endswith(":")}
        for p in patterns:
            hits = sorted(s for s in used if (s.startswith(p[:-1]) if p.endswith("*") else s == p))
            if hits:
                errors.append(f"{lib}: {unit} references {', '.join(hits[:5])}"
                              f"{' ...' if len(hits) > 5 else ''}, which layers.txt forbids ({p})")
    return errors


def self_test(rules_path):
    rules = parse_rules(rules_path)
    plants = {
        "proto/a.c": '#include "shared/log.h"\n',  # proto reaching up
        "master/b.c": "#include <h2o.h>\n",  # master using h2o
        "worker/c.c": '#include "../master/daemon.h"\n',  # worker reaching the master, relatively
        "master/d.c": '#include "shared/table_internal.h"\n',  # another module's private header
        "worker/rest/e.c": '#include "worker/ws/ws.h"\n',  # a room reaching a room beside it
        "worker/core/f.c": '#include "../http/http.h"\n',  # a room reaching up, relatively
        "worker/http/g.c": '#include "worker/router.h"\n',  # a room reaching the top
    }
    with tempfile.TemporaryDirectory() as root:
        for d in MODULES + ("worker/core", "worker/http", "worker/rest", "worker/ws"):
            os.makedirs(os.path.join(root, d))
        for name in ("shared/log.h", "master/daemon.h", "shared/table_internal.h", "worker/ws/ws.h",
                     "worker/http/http.h", "worker/router.h"):
            open(os.path.join(root, name), "w").close()
        for name, text in plants.items():
            with open(os.path.join(root, name), "w") as f:
                f.write(text)
        errors = check_includes(root, rules)
    for name in plants:
        if not any(e.startswith(name + ":") for e in errors):
            print(f"FAIL: the planted violation in {name} was not reported; reported: {errors}")
            return 1
    print(f"self-test: each of the {len(plants)} planted violations reported")
    return 0


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    rules_path = os.path.join(here, "layers.txt")
    if sys.argv[1:] == ["--self-test"]:
        return self_test(rules_path)
    if len(sys.argv) not in (2, 3):
        print(__doc__, file=sys.stderr)
        return 2
    rules = parse_rules(rules_path)
    errors = check_includes(sys.argv[1], rules)
    if len(sys.argv) == 3:
        errors += check_symbols(sys.argv[2], rules)
    for e in errors:
        print("FAIL:", e)
    if not errors:
        print("every include and library reference follows tests/style/layers.txt")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
