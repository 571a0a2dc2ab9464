# Sourced by shell tests that go on after a failed check, to report every failure in one run:
#   fail MESSAGE...   prints "FAIL: MESSAGE" on stderr and counts the failure
#   checks_done TEXT  exits 1 saying how many checks failed, or prints TEXT when none did
failures=0

fail() {
    echo "FAIL: $*" >&2
    failures=$((failures + 1))
}

checks_done() {
    if [ "$failures" -ne 0 ]; then
        echo "$failures check(s) failed" >&2
        exit 1
    fi
    echo "$1"
}
