#!/usr/bin/env bash
# The layer rules (tests/style/layers.txt): which module (and worker room) may include which, which
# system libraries each may use, and which symbols each built library must not reference (the
# master no h2o, the worker no table writer). First plants one violation of each kind in a scratch
# tree to show the checker reports it, then checks the real tree and this build's libraries.
set -euo pipefail
: "${IPD_SOURCE_DIR:?set by ctest}" "${IPD_BUILD_DIR:?set by ctest}"
python3 "$IPD_SOURCE_DIR/tests/style/layers.py" --self-test
python3 "$IPD_SOURCE_DIR/tests/style/layers.py" "$IPD_SOURCE_DIR" "$IPD_BUILD_DIR"
