#!/usr/bin/env bash
# The test command: installs what it needs, lints, type-checks and runs the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
# The container tests need a Docker engine and base images; CI must have them, a laptop may not.
if ! bash scripts/docker.sh; then
  [ -n "${CI:-}" ] && { echo "test.sh: CI needs a Docker engine (see above)" >&2; exit 1; }
  echo "test.sh: no Docker engine: the container tests are skipped (CI runs them)" >&2
fi
.venv/bin/ruff check .
.venv/bin/mypy
# Three workers on two cores: most tests wait on processes, containers and fake servers, so a
# third keeps both cores busy; a module's tests stay on one worker, with its module fixtures.
.venv/bin/python -m pytest -q -n "${MLOPS_BOT_TEST_WORKERS:-3}" --dist loadscope "$@"
