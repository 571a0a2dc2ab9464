#!/usr/bin/env bash
# Runs the whole suite twice: a -Werror build, then an ASan+UBSan build (leaks fail).
# Usage: scripts/run-tests.sh [release|asan]   (default: both)
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)
which=${1:-all}

skip=() # ctest arguments that leave tests out of the next run

run() {
    local dir=$1
    shift
    cmake -S . -B "$dir" -DIPD_WERROR=ON -DIPD_TESTS=ON "$@" >/dev/null
    cmake --build "$dir" -j "$jobs"
    (cd "$dir" && ctest --output-on-failure -j "$jobs" --timeout 600 "${skip[@]}")
}

if [ "$which" = all ] || [ "$which" = release ]; then
    echo "== -Werror build =="
    run build -DCMAKE_BUILD_TYPE=RelWithDebInfo
fi
if [ "$which" = all ] || [ "$which" = asan ]; then
    echo "== ASan+UBSan build =="
    # fuzz/libfuzzer builds its own clang targets with ASan and UBSan, the same in both runs: once is enough.
    [ "$which" = all ] && skip=(-E '^fuzz/libfuzzer$')
    run build-asan -DCMAKE_BUILD_TYPE=Debug -DIPD_SANITIZE=ON
fi
