#!/usr/bin/env bash
# Creates .venv (once) and installs mlops-bot with the pinned dependency set. Safe to re-run.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
  .venv/bin/python -m pip install --quiet --upgrade pip
fi
stamp=.venv/.installed-$(cat pyproject.toml constraints.txt | sha256sum | cut -c1-16)
if [ ! -f "$stamp" ]; then
  .venv/bin/python -m pip install --quiet -c constraints.txt -e ".[dev,example,sklearn]"
  rm -f .venv/.installed-* && touch "$stamp"
fi
