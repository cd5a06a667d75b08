#!/usr/bin/env bash
# Runs the test suite (creating .venv first if needed). Extra arguments go to
# pytest, e.g. `bash scripts/test.sh -m "not slow"` for the fast tests only.
source "$(dirname "$0")/env.sh"
python -m pytest -q tests "$@"
