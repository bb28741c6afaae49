#!/usr/bin/env bash
# Installs what is missing: creates .venv (unless VENV=none) and synthwb's dependencies. Safe to run
# again: when nothing changed since the last install (requirements, pyproject) and the imports work,
# it only says so (no network). ./run.sh and ./check.sh call it first.
#   ./install.sh              # CPU (torch 2.13.0 CPU wheel where available)
#   VENV=none ./install.sh    # into the current Python environment
#   E2E=1 ./install.sh        # also Debian's Chromium for browser tests (needs root + apt)
#   FORCE=1 ./install.sh      # reinstall even if the last install is still current
# uni2ts 2.0.0 pins torch<2.5 / numpy~=1.26 / gluonts~=0.14 but runs on current versions, so it
# is installed with --no-deps after its real imports (requirements.txt); pip may then print a
# harmless "uni2ts requires ..." notice.
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
STAMP=""
if [ "${VENV:-.venv}" != "none" ]; then
  VENV_DIR=${VENV:-.venv}
  [ -x "$VENV_DIR/bin/python" ] || "$PY" -m venv "$VENV_DIR"
  PY="$VENV_DIR/bin/python"
  STAMP="$VENV_DIR/.synthwb-install"
fi
WANT=$(cat requirements.txt requirements-nodeps.txt pyproject.toml | sha256sum | cut -d' ' -f1)
check_imports() {
  "$PY" - <<'PY'
import torch, polars, streamlit, uni2ts, ruff, pytest, synthwb  # noqa: F401  fail loudly if the install is incomplete
from uni2ts.model.moirai import MoiraiModule  # noqa: F401
print(f"synthwb deps ok: torch {torch.__version__}, polars {polars.__version__}, streamlit {streamlit.__version__}")
PY
}
installed() {  # every package still there (found, not imported: a second, not half a minute)
  "$PY" -c "import importlib.util as u, sys; sys.exit(any(u.find_spec(m) is None for m in
    ('torch', 'polars', 'streamlit', 'uni2ts', 'ruff', 'pytest', 'synthwb')))" 2>/dev/null
}
if [ "${FORCE:-0}" != "1" ] && [ -n "$STAMP" ] && [ "$(cat "$STAMP" 2>/dev/null)" = "$WANT" ] && installed; then
  echo "(already installed in $VENV_DIR; FORCE=1 ./install.sh reinstalls)"
else
  "$PY" -m pip install --quiet --upgrade pip
  "$PY" -m pip install --quiet -r requirements.txt
  "$PY" -m pip install --quiet --no-deps -r requirements-nodeps.txt
  "$PY" -m pip install --quiet --no-deps -e .   # synthwb itself: `synthwb ...` / `python -m synthwb` anywhere
  check_imports
  [ -z "$STAMP" ] || echo "$WANT" > "$STAMP"
fi
if [ "${E2E:-0}" = "1" ] && [ ! -x /usr/bin/chromium ]; then
  if command -v apt-get >/dev/null 2>&1; then
    SUDO=""; [ "$(id -u)" = "0" ] || SUDO="sudo"
    $SUDO apt-get update -qq && $SUDO apt-get install -y -qq chromium fonts-dejavu-core >/dev/null
  else
    echo "E2E=1: no apt-get here; install Chromium at /usr/bin/chromium yourself" >&2
  fi
fi
