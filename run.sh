#!/usr/bin/env bash
# The app in one command, on a fresh machine or this one: installs what is missing (./install.sh,
# quick when nothing changed), then starts the workbench on http://127.0.0.1:8501.
# Extra arguments go to `streamlit run` (e.g. ./run.sh --server.port 8600).
set -euo pipefail
cd "$(dirname "$0")"
./install.sh
if [ "${VENV:-.venv}" = "none" ]; then PY=${PYTHON:-python3}; else PY=${VENV:-.venv}/bin/python; fi
exec "$PY" -m streamlit run app.py "$@"
