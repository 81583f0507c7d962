#!/usr/bin/env bash
# The test command: set up the environment (idempotent), then run the whole pytest suite,
# including the integration test that trains and evaluates a paper row on synthetic data.
#   ./run_tests.sh            everything
#   ./run_tests.sh -m 'not integration'   the fast unit tests only (any pytest options work)
set -euo pipefail
cd "$(dirname "$0")"
PY=$(tools/bootstrap.sh)
exec "$PY" -m pytest "$@"
