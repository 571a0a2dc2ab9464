#!/usr/bin/env bash
# Documentation names paths relative to the repository: commands copied from docs/ or a README
# work in any checkout. Fails on an absolute path into a checkout (this one's, or the directory
# holding it) and on CMake pointed at an absolute source or build tree.
set -uo pipefail
: "${IPD_SOURCE_DIR:?set by ctest}"
cd "$IPD_SOURCE_DIR" || exit 1
parent=$(dirname "$IPD_SOURCE_DIR")
docs=$(find docs -name '*.md'; find . -name README.md -not -path './build*' -not -path './.git/*')
bad=$(grep -nE -e "(^|[^[:alnum:]_.])(${IPD_SOURCE_DIR}|${parent})/" -e 'cmake (-S|-B|--build) +/' $docs)
if [ -n "$bad" ]; then
    echo "FAIL: absolute paths in the documentation (write them relative to the repository):" >&2
    echo "$bad" >&2
    exit 1
fi
echo "documentation paths are relative to the repository ($(echo $docs | wc -w) files)"
