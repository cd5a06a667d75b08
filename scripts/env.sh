# Sourced by the other scripts: creates .venv with Python 3.11 and installs
# tfc_repro (editable) and its pinned dependencies when needed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [ ! -x .venv/bin/python ]; then
  PYTHON=""
  for candidate in python3.11 python3; do
    if command -v "$candidate" >/dev/null &&
       "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
      PYTHON=$candidate; break
    fi
  done
  if [ -z "$PYTHON" ]; then
    echo "error: tfc-repro needs Python 3.11 (python3.11 not found)" >&2
    exit 1
  fi
  "$PYTHON" -m venv .venv
fi
# shellcheck disable=SC1091
source .venv/bin/activate
if [ ! -f .venv/.installed ] || [ setup.py -nt .venv/.installed ]; then
  echo "Installing tfc_repro and its dependencies into .venv ..." >&2
  python -m pip install -q --upgrade pip
  python -m pip install -q -e ".[test]"
  touch .venv/.installed
fi
# Data that would be downloaded on a user's machine may be given as a folder
# holding kodak/ (and train/); make a relative path absolute.
if [ -n "${TFC_REPRO_DATA:-}" ]; then
  TFC_REPRO_DATA=$(cd "$TFC_REPRO_DATA" && pwd)
  export TFC_REPRO_DATA
fi
