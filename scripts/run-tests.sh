#!/usr/bin/env bash
# Runs the whole suite twice: a -Werror build, then an ASan+UBSan build (leaks fail).
# Usage: scripts/run-tests.sh [release|asan]   (default: both)
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)
which=${1:-all}

run() {
    local dir=$1
    shift
    cmake -S . -B "$dir" -DIPD_WERROR=ON -DIPD_TESTS=ON "$@" >/dev/null
    cmake --build "$dir" -j "$jobs"
    (cd "$dir" && ctest --output-on-failure -j "$jobs" --timeout 600)
}

if [ "$which" = all ] || [ "$which" = release ]; then
    echo "== -Werror build =="
    run build -DCMAKE_BUILD_TYPE=RelWithDebInfo
fi
if [ "$which" = all ] || [ "$which" = asan ]; then
    echo "== ASan+UBSan build =="
    run build-asan -DCMAKE_BUILD_TYPE=Debug -DIPD_SANITIZE=ON
fi
