#!/usr/bin/env bash
# The main job, locally, with no cloud and no network: installs mlops-bot, makes a scratch git
# repository from the example pipeline and runs the push flow on it (plan, build, compile,
# publish, run), then shows the registry version and the run's metrics. A second commit changes
# a run parameter (same version, new run), and pushing that range again does nothing new.
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
printf '.mlops/\n' > .gitignore
git init -q -b main && git add -A && git commit -qm "Add the wine_quality pipeline"

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
step "scratch repository: $work"
step "mlops-bot push   (first commit: builds the environment, compiles, publishes, runs)"
"$bot" push
step "mlops-bot registry show wine_quality:main"
"$bot" registry show wine_quality:main
step "change a run parameter (more trees): same version, a new run"
sed -i 's/"n_estimators": 100/"n_estimators": 200/' pipelines/wine_quality/run.py
git commit -qam "Use 200 trees"
"$bot" plan --base HEAD~1 --head HEAD
"$bot" push
step "mlops-bot push   (the same range again: nothing is rebuilt, republished or rerun)"
"$bot" push
step "mlops-bot runs list"
"$bot" runs list
