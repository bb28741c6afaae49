#!/usr/bin/env bash
# One-command install: creates .venv (unless VENV=none) and installs synthwb's dependencies.
#   ./install.sh              # CPU (torch 2.13.0 CPU wheel where available)
#   VENV=none ./install.sh    # into the current Python environment
#   E2E=1 ./install.sh        # also Debian's Chromium for browser tests (needs root + apt)
# uni2ts 2.0.0 pins torch<2.5 / numpy~=1.26 / gluonts~=0.14 but runs on current versions, so it
# is installed with --no-deps after its real imports (requirements.txt); pip may then print a
# harmless "uni2ts requires ..." notice.
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
if [ "${VENV:-.venv}" != "none" ]; then
  VENV_DIR=${VENV:-.venv}
  [ -x "$VENV_DIR/bin/python" ] || "$PY" -m venv "$VENV_DIR"
  PY="$VENV_DIR/bin/python"
fi
"$PY" -m pip install --quiet --upgrade pip
"$PY" -m pip install --quiet -r requirements.txt
"$PY" -m pip install --quiet --no-deps -r requirements-nodeps.txt
"$PY" -m pip install --quiet --no-deps -e .   # synthwb itself: `synthwb ...` / `python -m synthwb` anywhere
"$PY" - <<'PY'
import torch, polars, streamlit, uni2ts  # noqa: F401  fail loudly if the install is incomplete
from uni2ts.model.moirai import MoiraiModule  # noqa: F401
print(f"synthwb deps ok: torch {torch.__version__}, polars {polars.__version__}, streamlit {streamlit.__version__}")
PY
if [ "${E2E:-0}" = "1" ] && [ ! -x /usr/bin/chromium ]; then
  if command -v apt-get >/dev/null 2>&1; then
    SUDO=""; [ "$(id -u)" = "0" ] || SUDO="sudo"
    $SUDO apt-get update -qq && $SUDO apt-get install -y -qq chromium fonts-dejavu-core >/dev/null
  else
    echo "E2E=1: no apt-get here; install Chromium at /usr/bin/chromium yourself" >&2
  fi
fi
