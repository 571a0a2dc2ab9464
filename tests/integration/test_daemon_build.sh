#!/usr/bin/env bash
# `make demo` and `make deb` need the build packages alone, and `make deb`'s package is right.
# One build serves both checks (a daemon build costs minutes on a loaded machine):
#  * every pkg-config module of the test packages (scripts/install-deps.sh --list-test) is
#    hidden; configuring the test tree must then fail, naming criterion and the fix (so the
#    hiding works); scripts/build-deb.sh (make deb: -DIPD_TESTS=OFF) must build and package
#    the daemon, and no file of the test packages may take part in the build;
#  * the package: its file list, the conffile, Depends computed by dpkg-shlibdeps; in the
#    package extracted to a scratch root, the unit passes `systemd-analyze verify` (no message
#    at all: unknown or malformed settings are only warnings there) and the shipped
#    configuration passes `imgpulld --check-config`; the manual pages render without warnings
#    and name every option of --help and every directive of --config-example (they come from
#    the same table); lintian reports no error.
set -uo pipefail
: "${IPD_SOURCE_DIR:?set by ctest}"
work=$(mktemp -d /tmp/ipd-daemon-build.XXXXXX)
trap 'rm -rf "$work"' EXIT
failures=0
fail() {
    echo "FAIL: $*" >&2
    failures=$((failures + 1))
}
die() {
    echo "FAIL: $*" >&2
    exit 1
}
for tool in dpkg-deb dpkg-shlibdeps fakeroot lintian systemd-analyze man pkg-config; do
    command -v "$tool" >/dev/null || die "$tool is missing (scripts/install-deps.sh --test)"
done

# The .pc files and headers/libraries the test packages own (each alternative of an entry).
test_pkgs=$(bash "$IPD_SOURCE_DIR/scripts/install-deps.sh" --list-test | tr '|' '\n')
: >"$work/test-files"
for p in $test_pkgs; do
    dpkg-query -L "$p" 2>/dev/null >>"$work/test-files" || true
done
grep -q '/criterion\.pc$' "$work/test-files" || die "criterion.pc is not owned by a test package: is libcriterion-dev installed?"

# A pkg-config directory holding every module of the system but the test packages'.
mkdir "$work/pc"
IFS=: read -r -a pc_dirs <<<"$(pkg-config --variable pc_path pkg-config)"
for d in "${pc_dirs[@]}"; do
    for f in "$d"/*.pc; do
        [ -e "$f" ] || continue
        grep -qxF "$f" "$work/test-files" && continue
        [ -e "$work/pc/$(basename "$f")" ] || ln -s "$f" "$work/pc/"
    done
done
export PKG_CONFIG_LIBDIR=$work/pc PKG_CONFIG_PATH=
pkg-config --exists criterion && die "criterion is still visible to pkg-config"
pkg-config --exists jansson || die "the hidden pkg-config directory lost the build packages' modules"

echo "--- the test tree needs the test packages, and says how to install them"
if cmake -S "$IPD_SOURCE_DIR" -B "$work/with-tests" -DIPD_TESTS=ON >"$work/with-tests.log" 2>&1; then
    die "configuring the test tree succeeded without criterion: the hiding does not work"
fi
msg=$(tr -s ' \n' '  ' <"$work/with-tests.log") # CMake wraps its messages
grep -q "criterion not found" <<<"$msg" && grep -q "install-deps.sh --test" <<<"$msg" && grep -q "IPD_TESTS=OFF" <<<"$msg" ||
    { cat "$work/with-tests.log" >&2; die "the configure error does not name criterion, install-deps.sh --test and IPD_TESTS=OFF"; }

echo "--- make deb builds the daemon and its package without them"
deb=$("$IPD_SOURCE_DIR/scripts/build-deb.sh" "$work/daemon" "$work" 2>"$work/build.log" | tail -1)
version=$(sed -n 's/^project(imgpulld VERSION \([0-9.]*\).*/\1/p' "$IPD_SOURCE_DIR/CMakeLists.txt")
arch=$(dpkg --print-architecture)
[ "$deb" = "$work/imgpulld_${version}_${arch}.deb" ] && [ -f "$deb" ] ||
    { tail -40 "$work/build.log" >&2; die "no imgpulld_${version}_${arch}.deb (got '$deb')"; }
grep -q '^IPD_TESTS:BOOL=OFF$' "$work/daemon/CMakeCache.txt" || die "IPD_TESTS is not off in the cache"
"$work/daemon/imgpulld" --version | grep -q '^imgpulld ' || die "the built daemon does not run"

echo "--- no file of the test packages took part in the build"
grep -E '\.(h|so|a|pc)$' "$work/test-files" | sort -u >"$work/test-build-files"
find "$work/daemon" \( -name '*.d' -o -name 'link.txt' -o -name 'flags.make' -o -name 'compiler_depend.make' \) \
    -exec cat {} + 2>/dev/null | tr ' \\:' '\n\n\n' | sed 's/^[[:space:]]*//' | sort -u >"$work/used-files"
used=$(comm -12 "$work/test-build-files" "$work/used-files")
[ -z "$used" ] || die "the daemon's build used files of the test packages: $used"
[ -s "$work/used-files" ] || die "no dependency information found in the build tree"
grep -q '/jansson\.h$' "$work/used-files" || die "the dependency scan did not see the build packages' headers"

echo "--- file list, conffiles, Depends"
dpkg-deb -c "$deb" | awk '{print $1, $2, $6}' | sed 's| \./| /|; s|/$||' | sort -k3 >"$work/files"
cat >"$work/want" <<'LIST'
-rw-r--r-- root/root /etc/imgpulld/imgpulld.conf
-rw-r--r-- root/root /usr/lib/systemd/system/imgpulld.service
-rw-r--r-- root/root /usr/lib/sysusers.d/imgpulld.conf
-rw-r--r-- root/root /usr/lib/tmpfiles.d/imgpulld.conf
-rw-r--r-- root/root /usr/share/doc/imgpulld/README.Debian
-rw-r--r-- root/root /usr/share/doc/imgpulld/changelog.gz
-rw-r--r-- root/root /usr/share/doc/imgpulld/copyright
-rw-r--r-- root/root /usr/share/man/man5/imgpulld.conf.5.gz
-rw-r--r-- root/root /usr/share/man/man8/imgpulld.8.gz
-rwxr-xr-x root/root /usr/sbin/imgpulld
LIST
grep -v '^d' "$work/files" | sort -k3 | diff -u <(sort -k3 "$work/want") - >&2 || fail "the package's files differ (- wanted, + found)"
dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles >"$work/conffiles" 2>/dev/null
[ "$(cat "$work/conffiles")" = /etc/imgpulld/imgpulld.conf ] || fail "conffiles: $(cat "$work/conffiles")"
depends=$(dpkg-deb -f "$deb" Depends)
echo "Depends: $depends"
# What the binary links, as dpkg-shlibdeps found it: each library's package must be there.
for lib in libc6 libcurl4 libh2o-evloop libjansson4 libssl3 libyaml-0-2; do
    grep -q "\(^\|, \)$lib" <<<"$depends" || fail "Depends lacks $lib: $depends"
done

echo "--- the unit and the configuration, installed"
root=$work/root
dpkg-deb -x "$deb" "$root"
# verify resolves the unit's dependencies (sysinit.target, ...): the host's targets go in too.
cp -n /usr/lib/systemd/system/*.target "$root/usr/lib/systemd/system/"
systemd-analyze verify --man=no --root="$root" imgpulld.service >"$work/verify" 2>&1
status=$?
if [ "$status" -ne 0 ] || [ -s "$work/verify" ]; then
    cat "$work/verify" >&2
    fail "systemd-analyze verify: exit $status"
fi
"$root/usr/sbin/imgpulld" -c "$root/etc/imgpulld/imgpulld.conf" --check-config >"$work/check" 2>&1 ||
    fail "--check-config rejects the shipped configuration: $(cat "$work/check")"

echo "--- manual pages"
for page in man8/imgpulld.8.gz man5/imgpulld.conf.5.gz; do
    LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -E UTF-8 -l -Tutf8 "$root/usr/share/man/$page" >"$work/$(basename "$page").txt" \
        2>"$work/man.err"
    [ -s "$work/man.err" ] && fail "$page: $(cat "$work/man.err")"
done
# Rendered text is overstruck (bold, underline) and hyphenates long words: compare with both
# undone and lines joined.
flat() { sed 's/.\x08//g' "$1" | tr '\n' ' ' | sed 's/‐  *//g' | tr -s ' '; }
flat "$work/imgpulld.8.gz.txt" >"$work/man8.flat"
flat "$work/imgpulld.conf.5.gz.txt" >"$work/man5.flat"
for opt in $("$root/usr/sbin/imgpulld" --help | grep -o -- '--[a-z][a-z-]*' | sort -u); do
    grep -qF -- "$opt" "$work/man8.flat" || fail "imgpulld(8) does not describe $opt"
done
for d in $("$root/usr/sbin/imgpulld" --config-example | sed -n 's/^#\([a-z_]*\) .*/\1/p'); do
    grep -qF -- "$d " "$work/man5.flat" || fail "imgpulld.conf(5) does not describe $d"
done

echo "--- lintian"
# lintian leaves Berkeley DB files of its own (mldbm-elf-*) in TMPDIR: they go with $work.
TMPDIR="$work" lintian --tag-display-limit 0 "$deb" >"$work/lintian" 2>&1
cat "$work/lintian"
grep -q '^E: ' "$work/lintian" && fail "lintian reports errors"

if [ "$failures" -ne 0 ]; then
    echo "$failures check(s) failed" >&2
    exit 1
fi
echo "PASS: the daemon and $(basename "$deb") build from the build packages alone"
