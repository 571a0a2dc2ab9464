#!/usr/bin/env python3
"""Lists the programs the tests and scripts execute (and the Python modules they import), and
checks that scripts/install-deps.sh installs each one.

The list is derived from the sources, so it cannot drift from them:
  * shell (*.sh): the command word of every simple command, also inside $(...), and the
    program a wrapper runs (timeout, env, exec, command -v, xargs, ...);
  * Python (*.py, and python heredocs of shell scripts): the program of every subprocess call
    and shutil.which();
  * C (*.c): the command lines passed to system(), popen(), h_sh() or built in a `cmd` buffer,
    and the program of execl()/execv();
  * in shell: any literal absolute path under /bin, /sbin, /usr/bin or /usr/sbin.
Names that are variables, shell functions (of any scanned file), builtins or keywords are not
programs. Each program is resolved on PATH and mapped to the Debian package that owns it; that
package must be an entry of scripts/install-deps.sh (an alternative of one), a package one of
those entries depends on, or part of every Debian system (Essential or Priority required).

Usage: programs.py SOURCE_DIR          check; exit 1 naming every program not covered
       programs.py --list SOURCE_DIR   print "program<TAB>package<TAB>where" and check
       programs.py --self-test         check the scanner on built-in samples
"""
import ast
import os
import re
import shlex
import shutil
import subprocess
import sys

BUILTINS = set("""
. : [ [[ ]] alias bg bind break builtin caller case cd command compgen complete continue declare
dirs disown do done echo elif else enable esac eval exec exit export false fc fg fi for function
getopts hash help history if in jobs kill let local logout mapfile popd printf pushd pwd read
readarray readonly return select set shift shopt source suspend test then time times trap true
type typeset ulimit umask unalias unset until wait while { } !
""".split())
# Wrappers whose argument (after their options) is the program they run.
WRAPPERS = {"timeout", "env", "exec", "nice", "nohup", "setsid", "stdbuf", "xargs", "sudo", "command",
            "time", "unshare", "ionice", "taskset", "chroot", "fakeroot"}
# Benchmarks check for their own extra tools (h2o, socat, ...) and say what to install.
BENCHMARKS = {"scripts/bench.sh"}
SEPARATORS = {";", "|", "||", "&&", "&", "(", ")", "{", "}", "!", "|&", ";;", "\n"}
COMMAND_KEYWORDS = {"then", "do", "else", "elif", "if", "while", "until", "!", "{", "time"}
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")
ABS_PROGRAM = re.compile(r"^/(?:usr/)?s?bin/[A-Za-z0-9][A-Za-z0-9_.+-]*$")
ABS_IN_TEXT = re.compile(r"(?<![\w./])(/(?:usr/)?s?bin/[A-Za-z0-9][A-Za-z0-9_.+-]*)")
REDIRECT = re.compile(r"^\d*(?:>>?|<<?<?|>&|<&|&>>?)\S*$")


def subst_commands(text):
    """Returns (text with every $(...) and `...` replaced by a word, [(inner text, line offset)])."""
    inner, out, i = [], [], 0
    while i < len(text):
        if text.startswith("$((", i):  # arithmetic: not a command
            depth, j = 0, i + 1
            while j < len(text):
                depth += {"(": 1, ")": -1}.get(text[j], 0)
                j += 1
                if depth == 0:
                    break
            out.append("0" + "\n" * text.count("\n", i, j))
            i = j
        elif text.startswith("$(", i):
            depth, j = 0, i + 1
            while j < len(text):
                depth += {"(": 1, ")": -1}.get(text[j], 0)
                j += 1
                if depth == 0:
                    break
            inner.append((text[i + 2:j - 1], text.count("\n", 0, i)))
            out.append("SUBST" + "\n" * text.count("\n", i, j))
            i = j
        elif text[i] == "`":
            j = text.find("`", i + 1)
            j = len(text) if j < 0 else j
            inner.append((text[i + 1:j], text.count("\n", 0, i)))
            out.append("SUBST")
            i = j + 1
        else:
            out.append(text[i])
            i += 1
    return "".join(out), inner


def strip_comments(text):
    """Removes shell comments (a # starting a word, outside quotes); newlines kept."""
    out, quote, i = [], None, 0
    while i < len(text):
        c = text[i]
        if quote:
            if c == "\\" and quote == '"':
                out.append(text[i:i + 2])
                i += 2
                continue
            if c == quote:
                quote = None
        elif c in "'\"":
            quote = c
        elif c == "\\":
            out.append(text[i:i + 2])
            i += 2
            continue
        elif c == "#" and (i == 0 or text[i - 1] in " \t\n;(") and not text.startswith("#!", i) or \
                c == "#" and i == 0:
            j = text.find("\n", i)
            i = len(text) if j < 0 else j
            continue
        out.append(c)
        i += 1
    return "".join(out)


def blank_expansions(text):
    """Replaces ${...} expansions and NAME=(...) array assignments (newlines kept) by words."""
    out, i = [], 0
    while i < len(text):
        if text.startswith("${", i):
            depth, j = 0, i + 1
            while j < len(text):
                depth += {"{": 1, "}": -1}.get(text[j], 0)
                j += 1
                if depth == 0:
                    break
            out.append("$V" + "\n" * text.count("\n", i, j))
            i = j
        else:
            out.append(text[i])
            i += 1
    text = "".join(out)
    return re.sub(r"\b[A-Za-z_][A-Za-z0-9_]*\+?=\((.*?)\)",
                  lambda m: "ARRAY=x" + "\n" * m.group(0).count("\n"), text, flags=re.S)


def shell_commands(text, first_line=1):
    """Yields (program name, line) of the simple commands of a shell text (no heredoc bodies)."""
    text, inner = subst_commands(blank_expansions(strip_comments(text)))
    for sub, offset in inner:
        yield from shell_commands(sub, first_line + offset)
    text = re.sub(r"\(\((.*?)\)\)", lambda m: " true " + "\n" * m.group(0).count("\n"), text, flags=re.S)
    text = text.replace("\\\n", "  ")  # line continuations (keeps the numbering one off at most)
    # Newlines become a marker word (shlex miscounts lines with punctuation_chars): a token's line
    # is the number of markers before it, counting those inside multi-line quoted words.
    lex = shlex.shlex(text.replace("\n", " \x01 "), posix=True, punctuation_chars=";&|()<>")
    lex.wordchars += "$[]{}^!@%+:,#\x01"
    lex.whitespace = " \t\r"
    tokens, line = [], first_line
    try:
        for tok in lex:
            tokens.append((";" if tok == "\x01" else tok.replace("\x01", "\n"), line))
            line += tok.count("\x01")
    except ValueError:  # an unbalanced quote: fall back to words
        tokens = [(w, first_line) for w in text.split()]
    at_command, wrapper, depth, prev, in_test = True, None, 0, None, False
    for idx, (tok, line) in enumerate(tokens):
        nxt = tokens[idx + 1][0] if idx + 1 < len(tokens) else None
        if in_test:  # [[ ... ]]: operands and patterns, no commands
            in_test = tok != "]]"
            continue
        if tok == "[[":
            in_test, at_command = True, False
            continue
        if tok == "}" or tok and set(tok) <= set(";&|()\n"):
            depth = max(0, depth + tok.count("(") - tok.count(")"))
            at_command, wrapper, prev = True, None, tok
            continue
        if REDIRECT.match(tok) or (tok and set(tok) <= set("<>&0123456789") and ("<" in tok or ">" in tok)):
            prev = "REDIRECT"
            continue
        if prev == "REDIRECT":  # the redirection's target
            prev = tok
            continue
        prev = tok
        if not at_command:
            continue
        if re.match(r"^[A-Za-z_][A-Za-z0-9_]*(\[[^]]*\])?\+?=", tok):
            continue  # assignment before a command
        if wrapper is not None and (tok.startswith("-") or re.match(r"^[0-9.]+[smhd]?$", tok) or "=" in tok):
            if wrapper == "env" and tok == "-u":
                wrapper = "env -u"
            continue  # the wrapper's options, duration, variables
        if wrapper == "env -u":  # the name env -u unsets
            wrapper = "env"
            continue
        if tok in COMMAND_KEYWORDS:
            continue
        if tok in ("for", "case", "select", "function", "[[", "[", "local", "export", "declare", "readonly"):
            at_command = False
            continue
        if nxt is not None and nxt.startswith(")") and depth == 0:  # a case pattern
            continue
        at_command = False
        if tok in WRAPPERS:
            yield tok, line
            at_command, wrapper = True, tok
            continue
        wrapper = None
        yield tok, line


def shell_functions(text):
    return set(re.findall(r"^\s*(?:function\s+)?([A-Za-z_][A-Za-z0-9_-]*)\s*\(\)\s*\{?", text, re.M))


def split_heredocs(text):
    """Returns (shell text without heredoc bodies, [(command line, body)])."""
    lines, shell, docs, i = text.split("\n"), [], [], 0
    while i < len(lines):
        line = lines[i]
        shell.append(line)
        m = re.search(r"<<-?\s*(['\"]?)([A-Za-z_]+)\1", line)
        i += 1
        if m and "<<<" not in line[m.start():m.start() + 3]:
            body = []
            while i < len(lines) and lines[i].strip() != m.group(2):
                body.append(lines[i])
                shell.append("")
                i += 1
            shell.append("")
            i += 1
            docs.append((line, "\n".join(body)))
    return "\n".join(shell), docs


def scan_shell(path, text, found):
    main, docs = split_heredocs(text)
    for prog, line in shell_commands(main):
        found.append((prog, "%s:%d" % (path, line)))
    for cmdline, body in docs:
        if re.search(r"python3?\b", cmdline):
            scan_python(path + " (heredoc)", body, found)


IMPORTS = {}  # top-level module -> where it is first imported


def scan_python(path, text, found):
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                IMPORTS.setdefault(a.name.split(".")[0], "%s:%d" % (path, node.lineno))
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            IMPORTS.setdefault(node.module.split(".")[0], "%s:%d" % (path, node.lineno))
        if not isinstance(node, ast.Call):
            continue
        fn = node.func
        if isinstance(fn, ast.Attribute):  # subprocess.run(...), os.execvp(...), shutil.which(...)
            if getattr(fn.value, "id", "") not in ("subprocess", "os", "shutil", "asyncio"):
                continue
            name = fn.attr
        elif isinstance(fn, ast.Name) and fn.id in ("Popen", "check_output", "check_call", "which"):
            name = fn.id
        else:
            continue
        if name not in ("run", "Popen", "call", "check_call", "check_output", "which", "system", "popen",
                        "execvp", "execv", "execlp", "execl", "create_subprocess_exec",
                        "create_subprocess_shell") or not node.args:
            continue
        arg = node.args[0]
        where = "%s:%d" % (path, node.lineno)
        shell = any(k.arg == "shell" and getattr(k.value, "value", False) for k in node.keywords)
        if isinstance(arg, (ast.List, ast.Tuple)) and arg.elts and isinstance(arg.elts[0], ast.Constant):
            found.append((str(arg.elts[0].value), where))
        elif isinstance(arg, ast.Constant) and isinstance(arg.value, str):
            if shell or name in ("system", "popen", "create_subprocess_shell"):
                for prog, _ in shell_commands(arg.value):
                    found.append((prog, where))
            else:
                found.append((arg.value.split()[0] if arg.value.split() else "", where))


C_STRING = r'"(?:[^"\\\n]|\\.)*"'


def c_literal(chunk):
    parts = re.findall(C_STRING, chunk)
    return "".join(bytes(p[1:-1], "utf-8").decode("unicode_escape") for p in parts)


def scan_c(path, text, found):
    def add_shell(start, literal):
        lineno = text.count("\n", 0, start) + 1
        cmdline = re.sub(r"%[-0-9.]*l*[sdufxz]", "ARG", literal)
        for prog, _ in shell_commands(cmdline):
            found.append((prog, "%s:%d" % (path, lineno)))

    for m in re.finditer(r"snprintf\(\s*\w*cmd\w*\s*,\s*sizeof\(?\s*\w*cmd\w*\s*\)?\s*,\s*((?:%s\s*)+)" % C_STRING, text):
        add_shell(m.start(), c_literal(m.group(1)))
    for m in re.finditer(r"\b(?:system|popen|h_sh)\(\s*((?:%s\s*)+)" % C_STRING, text):
        add_shell(m.start(), c_literal(m.group(1)))
    for m in re.finditer(r"\bexec[lv]p?e?\(\s*(%s)" % C_STRING, text):
        found.append((c_literal(m.group(1)), "%s:%d" % (path, text.count("\n", 0, m.start()) + 1)))


def scan_tree(src):
    found, functions, shell_files = [], set(), []
    for top in ("tests", "scripts"):
        for root, dirs, files in os.walk(os.path.join(src, top)):
            dirs[:] = [d for d in dirs if d not in ("corpus", "__pycache__", "bench")]
            for f in sorted(files):
                path = os.path.join(root, f)
                rel = os.path.relpath(path, src)
                if rel in BENCHMARKS or not f.endswith((".sh", ".py", ".c", ".h")):
                    continue
                try:
                    text = open(path, encoding="utf-8").read()
                except (UnicodeDecodeError, OSError):
                    continue
                if f.endswith(".sh") or text.startswith("#!/usr/bin/env bash") or text.startswith("#!/bin/sh"):
                    # Shell scripts keep programs in variables (py=/usr/bin/python3); in C and
                    # Python such a literal is as often data (a pod's command) as a program.
                    for m in ABS_IN_TEXT.finditer(text):
                        found.append((m.group(1), "%s:%d" % (rel, text.count("\n", 0, m.start()) + 1)))
                    functions |= shell_functions(text)
                    shell_files.append((rel, text))
                elif f.endswith(".py"):
                    scan_python(rel, text, found)
                elif f.endswith(".c") or f.endswith(".h"):
                    scan_c(rel, text, found)
    for rel, text in shell_files:
        scan_shell(rel, text, found)
    programs = {}
    for prog, where in found:
        if is_program(prog, functions):
            programs.setdefault(prog, where)
    return programs


def is_program(name, functions):
    if os.path.basename(name) == "imgpulld":  # the program under test, from the build tree
        return False
    if not name or name in BUILTINS or name in functions or "$" in name or name == "SUBST":
        return False
    return bool(NAME.match(name) or ABS_PROGRAM.match(name))


def install_entries(src):
    out = ""
    for which in ("--list", "--list-test"):
        out += subprocess.run(["bash", os.path.join(src, "scripts/install-deps.sh"), which], check=True,
                              capture_output=True, text=True).stdout
    return [line.split("|") for line in out.split()]


def candidates(path):
    """`path`, its target, and their /usr-merged twins: dpkg may know a program by any of them."""
    cands = [path, os.path.realpath(path)]
    for p in list(cands):
        cands.append(p[4:] if p.startswith("/usr/") else "/usr" + p)
    return cands


def owners(paths):
    """Maps each owned path of `paths` to its Debian package, in one dpkg-query call."""
    r = subprocess.run(["dpkg-query", "-S"] + sorted(set(paths)), capture_output=True, text=True)
    out = {}
    for line in r.stdout.splitlines():
        pkgs, _, owned = line.partition(": ")
        if not pkgs.startswith("diversion by"):
            out.setdefault(owned.strip(), pkgs.split(",")[0].split(":")[0].strip())
    return out


def base_packages():
    out = subprocess.run(["dpkg-query", "-W", "-f", "${Package}\t${Essential}\t${Priority}\n"],
                         capture_output=True, text=True, check=True).stdout
    return {l.split("\t")[0] for l in out.splitlines() if l.split("\t")[1] == "yes" or l.split("\t")[2] == "required"}


def depends_of(pkgs):
    out = set()
    for p in pkgs:
        r = subprocess.run(["dpkg-query", "-W", "-f", "${Depends},${Pre-Depends}", p], capture_output=True, text=True)
        for rel in r.stdout.split(","):
            for alt in rel.split("|"):
                name = alt.strip().split(" ")[0].split(":")[0]
                if name:
                    out.add(name)
    return out


def check(src, listing):
    programs = scan_tree(src)
    entries = install_entries(src)
    listed = {p for e in entries for p in e}
    allowed_dep = depends_of(listed)
    base = base_packages()
    # Debian's PATH, not the caller's: a program found only in a private tree does not count.
    path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    failures, resolved_of = [], {}
    for prog in programs:
        resolved = prog if prog.startswith("/") else shutil.which(prog, path=path)
        if resolved is not None and os.access(resolved, os.X_OK):
            resolved_of[prog] = resolved
    owned = owners(c for r in resolved_of.values() for c in candidates(r))
    for prog, where in sorted(programs.items()):
        resolved = resolved_of.get(prog)
        if resolved is None:
            failures.append("%s (run at %s) is not installed: add its package to test_pkgs in "
                            "scripts/install-deps.sh" % (prog, where))
            continue
        pkg = next((owned[c] for c in candidates(resolved) if c in owned), None)
        if pkg is None:
            failures.append("%s (run at %s) is %s, which no Debian package installs" % (prog, where, resolved))
            continue
        how = ("install-deps.sh" if pkg in listed else "a dependency of an install-deps.sh entry"
               if pkg in allowed_dep else "base system" if pkg in base else None)
        if listing:
            print("%s\t%s\t%s\t%s" % (prog, pkg, how or "NOT INSTALLED BY install-deps.sh", where))
        if how is None:
            failures.append("%s (run at %s) comes from package %s, which scripts/install-deps.sh does not "
                            "install: add it to test_pkgs" % (prog, where, pkg))
    failures += check_modules(src, listed, allowed_dep, base, listing)
    for f in failures:
        print("FAIL: " + f, file=sys.stderr)
    print("%d programs executed and %d Python modules imported by tests/ and scripts/, %d not covered by "
          "scripts/install-deps.sh" % (len(programs), len(IMPORTS), len(failures)))
    return 1 if failures else 0


def check_modules(src, listed, allowed_dep, base, listing):
    """The Python modules the tests import that are neither the standard library nor the tree's
    own must come from a package install-deps.sh covers (python3-websockets, python3-yaml, ...)."""
    local = set()
    for root, dirs, files in os.walk(src):
        dirs[:] = [d for d in dirs if not d.startswith((".", "build"))]
        local |= {f[:-3] for f in files if f.endswith(".py")} | set(dirs)
    names = sorted(m for m in IMPORTS if m not in local and m not in sys.builtin_module_names)
    code = ("import importlib.util, sys\nfor m in sys.argv[1:]:\n"
            "    s = importlib.util.find_spec(m)\n"
            "    print(m, s.origin if s and s.origin else '-')")
    out = subprocess.run(["/usr/bin/python3", "-c", code] + names, capture_output=True, text=True).stdout
    origin = dict(line.split(" ", 1) for line in out.splitlines() if " " in line)
    failures, files = [], {}
    for m in names:
        o = origin.get(m, "-")
        if o in ("-", "built-in", "frozen"):
            if o == "-":
                failures.append("Python module %s (imported at %s) is not installed for /usr/bin/python3: add its "
                                "package to test_pkgs" % (m, IMPORTS[m]))
            continue
        if "-packages/" not in o:
            continue  # the standard library
        files[m] = o
    owned = owners(c for o in files.values() for c in candidates(o))
    for m, o in sorted(files.items()):
        pkg = next((owned[c] for c in candidates(o) if c in owned), None)
        ok = pkg is not None and (pkg in listed or pkg in allowed_dep or pkg in base)
        if listing:
            print("python3 module %s\t%s\t%s" % (m, pkg, IMPORTS[m]))
        if not ok:
            failures.append("Python module %s (imported at %s) comes from %s, which scripts/install-deps.sh does "
                            "not install: add it to test_pkgs" % (m, IMPORTS[m], pkg or o))
    return failures


def self_test():
    sample = ('# a comment with `make` and $(quux2)\n[[ $a =~ ^x{5}$ ]] && env -u WATCHDOG_USEC quux\na=(one two\n three)\nmsg="multi\nline words"\n: "${X:?set it}"\nx=$(frobnicate --a | sort -u)\nif ! command -v zork >/dev/null; then fail "no"; fi\n'
              'timeout 5 "$bin" --x && env A=1 quux -y\ncase $1 in\n  release) make_it ;;\nesac\n'
              '(( n > 2 )) || echo "$(( n + 1 ))"\nfoo 2>/dev/null | bar\n')
    got = {p for p, _ in shell_commands(sample) if is_program(p, {"fail"})}
    want = {"frobnicate", "sort", "zork", "timeout", "env", "quux", "make_it", "foo", "bar"}
    bad = got ^ want
    found = []
    scan_c("t.c", 'snprintf(cmd, sizeof(cmd), "h2load -n %d " "x | promtool check", n);\n'
           'execl("/usr/bin/python3", "python3", NULL);', found)
    scan_python("t.py", 'import subprocess, shutil\nsubprocess.run(["ss", "-t"])\nshutil.which("kubectl")\n', found)
    cprogs = {p for p, _ in found}
    if bad or cprogs != {"h2load", "promtool", "/usr/bin/python3", "ss", "kubectl"}:
        print("FAIL: scanner self-test: shell %s, C/Python %s" % (sorted(got), sorted(cprogs)), file=sys.stderr)
        return 1
    print("scanner self-test passed")
    return 0


if __name__ == "__main__":
    args = sys.argv[1:]
    if args == ["--self-test"]:
        sys.exit(self_test())
    listing = bool(args) and args[0] == "--list"
    if listing:
        args = args[1:]
    if len(args) != 1:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(check(args[0], listing))
