#!/usr/bin/env bash
# Everything CI runs, in one command: installs what is missing (./install.sh, with Chromium for the
# browser tests unless E2E=0), then the lint (ruff, configured in pyproject.toml) and every test.
# Extra arguments go to pytest (e.g. ./check.sh tests/test_bad_inputs.py -x). CI runs exactly this (.ci/run).
set -euo pipefail
cd "$(dirname "$0")"
E2E=${E2E:-1} ./install.sh
if [ "${VENV:-.venv}" = "none" ]; then PY=${PYTHON:-python3}; else PY=${VENV:-.venv}/bin/python; fi
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
"$PY" -m ruff check .
"$PY" -m pytest "$@"
