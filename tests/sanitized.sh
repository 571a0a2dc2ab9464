#!/usr/bin/env bash
# Runs one test under the sanitizer build and fails it on any sanitizer report. Criterion runs
# each test in a child process and ignores the exit status LeakSanitizer gives that child, so
# a leak would otherwise pass; the report itself is the signal.
set -uo pipefail
out=$(mktemp)
"$@" >"$out" 2>&1
rc=$?
cat "$out"
if grep -qE 'ERROR: (LeakSanitizer|AddressSanitizer)|runtime error:|SUMMARY: (Address|Undefined|Leak)Sanitizer' "$out"; then
    echo "sanitizer report found: failing the test" >&2
    rc=1
fi
rm -f "$out"
exit $rc
