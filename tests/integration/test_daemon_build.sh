#!/usr/bin/env bash
# `make demo` and `make deb` build the daemon from the build packages alone: configure and build
# it (-DIPD_TESTS=OFF) in a scratch directory with every pkg-config module of the test packages
# (scripts/install-deps.sh --list-test) hidden, then check that no file of those packages took
# part in the build. Also checks that the hiding works: the same configure with the test tree on
# must fail, naming criterion and the command that installs it.
set -uo pipefail
: "${IPD_SOURCE_DIR:?set by ctest}"
work=$(mktemp -d /tmp/ipd-daemon-build.XXXXXX)
trap 'rm -rf "$work"' EXIT
fail() {
    echo "FAIL: $*" >&2
    exit 1
}

# The .pc files and headers/libraries the test packages own (each alternative of an entry).
test_pkgs=$(bash "$IPD_SOURCE_DIR/scripts/install-deps.sh" --list-test | tr '|' '\n')
: >"$work/test-files"
for p in $test_pkgs; do
    dpkg-query -L "$p" 2>/dev/null >>"$work/test-files" || true
done
grep -q '/criterion\.pc$' "$work/test-files" || fail "criterion.pc is not owned by a test package: is libcriterion-dev installed?"

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
pkg-config --exists criterion && fail "criterion is still visible to pkg-config"
pkg-config --exists jansson || fail "the hidden pkg-config directory lost the build packages' modules"

echo "--- the test tree needs the test packages, and says how to install them"
if cmake -S "$IPD_SOURCE_DIR" -B "$work/with-tests" -DIPD_TESTS=ON >"$work/with-tests.log" 2>&1; then
    fail "configuring the test tree succeeded without criterion: the hiding does not work"
fi
msg=$(tr -s ' \n' '  ' <"$work/with-tests.log") # CMake wraps its messages
grep -q "criterion not found" <<<"$msg" && grep -q "install-deps.sh --test" <<<"$msg" && grep -q "IPD_TESTS=OFF" <<<"$msg" ||
    { cat "$work/with-tests.log" >&2; fail "the configure error does not name criterion, install-deps.sh --test and IPD_TESTS=OFF"; }

echo "--- the daemon configures and builds without them"
cmake -S "$IPD_SOURCE_DIR" -B "$work/daemon" -DIPD_TESTS=OFF -DIPD_WERROR=ON \
    >"$work/configure.log" 2>&1 || { cat "$work/configure.log" >&2; fail "configure with -DIPD_TESTS=OFF"; }
grep -q '^IPD_TESTS:BOOL=OFF$' "$work/daemon/CMakeCache.txt" || fail "IPD_TESTS is not off in the cache"
cmake --build "$work/daemon" -j 2 --target imgpulld >"$work/build.log" 2>&1 ||
    { tail -40 "$work/build.log" >&2; fail "building imgpulld without the test packages"; }
"$work/daemon/imgpulld" --version | grep -q '^imgpulld ' || fail "the built daemon does not run"

echo "--- no file of the test packages took part in the build"
grep -E '\.(h|so|a|pc)$' "$work/test-files" | sort -u >"$work/test-build-files"
find "$work/daemon" \( -name '*.d' -o -name 'link.txt' -o -name 'flags.make' -o -name 'compiler_depend.make' \) \
    -exec cat {} + 2>/dev/null | tr ' \\:' '\n\n\n' | sed 's/^[[:space:]]*//' | sort -u >"$work/used-files"
used=$(comm -12 "$work/test-build-files" "$work/used-files")
[ -z "$used" ] || fail "the daemon's build used files of the test packages: $used"
[ -s "$work/used-files" ] || fail "no dependency information found in the build tree"
grep -q '/jansson\.h$' "$work/used-files" || fail "the dependency scan did not see the build packages' headers"
echo "PASS: the daemon builds from the build packages alone"
