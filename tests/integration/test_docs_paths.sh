#!/usr/bin/env bash
# Documentation names paths relative to the repository: commands copied from docs/ or a README
# work in any checkout. Fails on an absolute path into a checkout (this one's, or a sibling's:
# the directory holding it, a name, then one of this tree's top-level entries) and on CMake
# pointed at an absolute source or build tree. Scratch paths such as /tmp/fuzz_x stay allowed
# wherever the checkout lives (a clone in /tmp made them look like paths into a sibling).
set -uo pipefail
: "${IPD_SOURCE_DIR:?set by ctest}"
cd "$IPD_SOURCE_DIR" || exit 1
parent=$(dirname "$IPD_SOURCE_DIR")
docs=$(find docs -name '*.md'; find . -name README.md -not -path './build*' -not -path './.git/*')
top=$(ls -A | grep -vx '.git' | sed 's/[.]/[.]/g' | paste -sd'|')
bad=$(grep -nE -e "(^|[^[:alnum:]_.])(${IPD_SOURCE_DIR}/|${parent}/[^/[:space:]]+/(${top})([/[:space:]\`]|$))" \
    -e 'cmake (-S|-B|--build) +/' $docs)
if [ -n "$bad" ]; then
    echo "FAIL: absolute paths in the documentation (write them relative to the repository):" >&2
    echo "$bad" >&2
    exit 1
fi
echo "documentation paths are relative to the repository ($(echo $docs | wc -w) files)"
