#!/usr/bin/env bash
# The test command: set up the environment (idempotent), install the host packages some tests
# need (tools/host_packages.sh: SLURM, poppler; idempotent, needs root), then run pytest.
#   ./run_tests.sh            everything
#   ./run_tests.sh -m 'not integration'   the fast unit tests only (any pytest options work)
set -euo pipefail
cd "$(dirname "$0")"
PY=$(tools/bootstrap.sh)
tools/host_packages.sh
exec "$PY" -m pytest "$@"
