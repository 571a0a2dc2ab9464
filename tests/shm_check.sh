#!/usr/bin/env bash
# Tests leave the machine as they found it. Runs as the first (`baseline`) and the last (`check`)
# test of every ctest run (a CMake fixture): `check` fails naming each shared-memory segment in
# /dev/shm, and each harness directory /tmp/ipd-<instance>, of this build tree's test instances
# (IPD_TEST_INSTANCE_PREFIX, tests/common/instance.h) that appeared during the run, and removes
# them. What was there before the run (a crashed earlier run, another ctest of the same tree) is
# in the baseline and left alone; other trees' tests use other prefixes.
set -euo pipefail
: "${IPD_BUILD_DIR:?set by ctest}" "${IPD_TEST_INSTANCE_PREFIX:?set by ctest}"
baseline=$IPD_BUILD_DIR/Testing/shm-baseline.txt

list() {
    shopt -s nullglob
    local f
    for f in /dev/shm/imgpulld."$IPD_TEST_INSTANCE_PREFIX"* /tmp/ipd-"$IPD_TEST_INSTANCE_PREFIX"*; do
        echo "$f"
    done | sort
}

case "${1:-}" in
baseline)
    mkdir -p "$(dirname "$baseline")"
    list >"$baseline"
    # The run's simulator request log (tests/integration/test_rbac.sh) starts empty.
    if [ -n "${KUBESIM_REQUEST_LOG:-}" ]; then
        : >"$KUBESIM_REQUEST_LOG"
    fi
    if [ -s "$baseline" ]; then
        echo "present before this run (not counted): $(tr '\n' ' ' <"$baseline")"
    fi
    ;;
check)
    [ -f "$baseline" ] || : >"$baseline"
    left=$(list | comm -13 "$baseline" -)
    if [ -n "$left" ]; then
        echo "FAIL: the tests left these behind (now removed):" >&2
        echo "$left" | sed 's/^/  /' >&2
        echo "$left" | xargs rm -rf --
        exit 1
    fi
    echo "no shared-memory segment or directory of a test instance (${IPD_TEST_INSTANCE_PREFIX}*) left"
    ;;
*)
    echo "usage: $0 baseline|check" >&2
    exit 2
    ;;
esac
