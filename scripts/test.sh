#!/usr/bin/env bash
# Runs the test suite (creating .venv first if needed) on two processes
# (pytest-xdist; much of a test's time is single-threaded tracing and
# SavedModel serialization). Tests that share an expensive fixture run on
# the same process, which builds it once (--dist loadgroup; the groups are
# made in tests/conftest.py). Extra arguments go to pytest, e.g.
# `bash scripts/test.sh -m "not slow"` for the fast tests only, or `-n 0` for
# one process. The 15 slowest tests are listed at the end.
source "$(dirname "$0")/env.sh"
python -m pytest -q -n "${TEST_WORKERS:-2}" --dist loadgroup --durations=15 tests \
  "$@"
