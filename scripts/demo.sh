#!/usr/bin/env bash
# The main job, locally, with no cloud and no network: installs mlops-bot, makes a scratch git
# repository from the example pipeline, changes its model code and plans that change.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
bot=$PWD/.venv/bin/mlops-bot
work=${MLOPS_DEMO_DIR:-$(mktemp -d)/wine-demo}
mkdir -p "$work"
cp -r pipelines "$work/"
cd "$work"
export GIT_AUTHOR_NAME=demo GIT_AUTHOR_EMAIL=demo@example.com
export GIT_COMMITTER_NAME=demo GIT_COMMITTER_EMAIL=demo@example.com
git init -q -b main && git add -A && git commit -qm "Add the wine_quality pipeline"
echo "==> scratch repository: $work"
echo "==> mlops-bot pipelines"
"$bot" pipelines
printf '\n# Tuned by the demo.\nDEFAULT_N_ESTIMATORS = 200\n' >> pipelines/wine_quality/src/model.py
git commit -qam "Tune the wine model"
echo
echo "==> mlops-bot plan --base HEAD~1 --head HEAD"
"$bot" plan --base HEAD~1 --head HEAD
