#!/usr/bin/env bash
# The systemd files: the unit's offline security exposure must stay at or below 2.0, and the
# sysusers and tmpfiles snippets must apply to an empty root. A missing systemd-analyze is a
# failure, not a skip: Debian 12 ships it with systemd.
set -uo pipefail
: "${IPD_SOURCE_DIR:?set by ctest}"
unit=$IPD_SOURCE_DIR/systemd/imgpulld.service
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# shellcheck source=tests/common/checks.sh
. "$IPD_SOURCE_DIR/tests/common/checks.sh"

for tool in systemd-analyze systemd-sysusers systemd-tmpfiles; do
    command -v "$tool" >/dev/null || {
        echo "FAIL: $tool not found (apt-get install systemd)" >&2
        exit 1
    }
done

# --threshold is ten times the printed score: the command fails above 2.0.
systemd-analyze security --offline=yes --threshold=20 "$unit" >"$tmp/security.txt" 2>&1
status=$?
score=$(sed -n 's/.*Overall exposure level for imgpulld.service: \([0-9.]*\).*/\1/p' "$tmp/security.txt")
echo "security exposure: ${score:-unknown}"
if [ "$status" -ne 0 ] || [ -z "$score" ]; then
    cat "$tmp/security.txt" >&2
    fail "systemd-analyze security: exit $status, score ${score:-unknown} (must be <= 2.0)"
fi

# What the daemon and the operations guide rely on.
for line in Type=notify 'ExecReload=/bin/kill -HUP $MAINPID' WatchdogSec=30 KillMode=mixed Restart=on-failure \
    RuntimeDirectory=imgpulld User=imgpulld RemoveIPC=no 'ExecStart=/usr/sbin/imgpulld -c /etc/imgpulld/imgpulld.conf'; do
    grep -qxF -- "$line" "$unit" || fail "unit: missing \"$line\""
done
grep -qE '^LimitNOFILE=[0-9]+$' "$unit" || fail "unit: missing LimitNOFILE"
if grep -qE '^(IPAddressDeny=any|PrivateUsers=yes)' "$unit"; then
    fail "unit: IPAddressDeny=any and PrivateUsers=yes cut the daemon off from the API server and Redis"
fi

mkdir -p "$tmp/root/etc"
systemd-sysusers --root="$tmp/root" "$IPD_SOURCE_DIR/systemd/imgpulld.sysusers.conf" >"$tmp/sysusers.txt" 2>&1 ||
    fail "systemd-sysusers: $(cat "$tmp/sysusers.txt")"
grep -q '^imgpulld:x:[0-9]*:[0-9]*:.*:/usr/sbin/nologin$' "$tmp/root/etc/passwd" ||
    fail "sysusers: no imgpulld account in $(cat "$tmp/root/etc/passwd" 2>/dev/null)"
systemd-tmpfiles --root="$tmp/root" --create "$IPD_SOURCE_DIR/systemd/imgpulld.tmpfiles.conf" >"$tmp/tmpfiles.txt" 2>&1 ||
    fail "systemd-tmpfiles: $(cat "$tmp/tmpfiles.txt")"
[ "$(stat -c %a "$tmp/root/etc/imgpulld" 2>/dev/null)" = 750 ] || fail "tmpfiles: /etc/imgpulld is not 0750"

# The system calls the daemon makes must survive the unit's SystemCallFilter= lines (applied in
# order: the first allow-list, then "~" lines remove and plain lines add). shm_group needs
# fchown on the table and the stats segment.
/usr/bin/python3 - "$unit" <<'PY' || fail "unit: SystemCallFilter= blocks a system call the daemon needs"
import subprocess, sys
def expand(name, seen=None):
    seen = set() if seen is None else seen
    if not name.startswith("@"):
        return {name}
    if name in seen:
        return set()
    seen.add(name)
    out = subprocess.run(["systemd-analyze", "syscall-filter", name], capture_output=True, text=True).stdout
    calls = set()
    for line in out.splitlines()[1:]:
        item = line.strip()
        if item and not item.startswith("#"):
            calls |= expand(item, seen)
    return calls
allowed = None
for line in open(sys.argv[1]):
    if not line.startswith("SystemCallFilter="):
        continue
    value = line.split("=", 1)[1].strip()
    deny = value.startswith("~")
    names = set()
    for item in value.lstrip("~").split():
        names |= expand(item)
    if allowed is None:
        allowed = set() if deny else names
        continue
    allowed = allowed - names if deny else allowed | names
needed = ["fchown", "fchmod", "ftruncate", "mmap", "memfd_create", "epoll_wait", "accept4", "eventfd2", "signalfd4"]
missing = [c for c in needed if allowed is not None and c not in allowed]
if missing:
    print("blocked by SystemCallFilter=: " + " ".join(missing), file=sys.stderr)
    sys.exit(1)
print("system calls the daemon needs: allowed")
PY

checks_done "systemd unit checks passed"
