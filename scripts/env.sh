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
if [ ! -f .venv/.installed ] || [ setup.py -nt .venv/.installed ] ||
   [ scripts/env.sh -nt .venv/.installed ]; then
  echo "Installing tfc_repro and its dependencies into .venv ..." >&2
  python -m pip install -q --upgrade pip
  python -m pip install -q -e ".[test]"
  # tensorflow-metadata 1.14.0 declares protobuf<4.21, which on Python 3.11
  # resolves to protobuf 3.20.3 in pure Python (it has no 3.11 wheel): TF
  # then writes SavedModels 1.7x and loads them 4x slower
  # (results/bench/protobuf.json). protobuf 4.25 (<5, as TF 2.14 requires)
  # is compiled and reads tensorflow-metadata's messages as well; it
  # replaces 3.20.3 over that declared bound.
  python -m pip install -q --no-deps --no-warn-conflicts "protobuf==4.25.9"
  touch .venv/.installed
fi
# Data that would be downloaded on a user's machine may be given as a folder
# holding kodak/ (and train/); make a relative path absolute.
if [ -n "${TFC_REPRO_DATA:-}" ]; then
  TFC_REPRO_DATA=$(cd "$TFC_REPRO_DATA" && pwd)
  export TFC_REPRO_DATA
fi
