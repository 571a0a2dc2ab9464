#!/usr/bin/env bash
# Self-test of the Kubernetes simulator: selectors, pagination, watch resume
# and 410, the pull simulation and the /_sim/ controls (python unittest).
set -euo pipefail
src="${IPD_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}"
exec timeout 120 /usr/bin/python3 -W ignore "$src/tests/kubesim/test_kubesim.py" -v
