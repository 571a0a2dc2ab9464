#!/usr/bin/env bash
# Every program the tests and scripts execute, and every Python module they import (found in
# their sources by tests/integration/deps/programs.py, not listed by hand), comes from a package
# that scripts/install-deps.sh --test installs, or from the base system; one that is missing or
# that no Debian package ships fails the test.
set -euo pipefail
: "${IPD_SOURCE_DIR:?set by ctest}"
/usr/bin/python3 "$IPD_SOURCE_DIR/tests/integration/deps/programs.py" --self-test
/usr/bin/python3 "$IPD_SOURCE_DIR/tests/integration/deps/programs.py" "$IPD_SOURCE_DIR"
