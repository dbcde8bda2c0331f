#!/usr/bin/env bash
# The main job, locally, with no cloud and no network: installs mlops-bot, makes a scratch git
# repository from the example pipeline and runs the push flow on it (plan, build, compile,
# publish, run), then shows the registry version and the run's metrics. It deploys the model to
# staging, serves it over HTTP and asks it for predictions. A second commit changes a run
# parameter (same version, new run), which is deployed as a canary then rolled back; pushing
# the same range again does nothing new.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
bot=$PWD/.venv/bin/mlops-bot
work=${MLOPS_DEMO_DIR:-$(mktemp -d)/wine-demo}
mkdir -p "$work"
cp -r pipelines mlops.yaml "$work/"
cd "$work"
export GIT_AUTHOR_NAME=demo GIT_AUTHOR_EMAIL=demo@example.com
export GIT_COMMITTER_NAME=demo GIT_COMMITTER_EMAIL=demo@example.com
printf '.mlops/\n' > .gitignore
git init -q -b main && git add -A && git commit -qm "Add the wine_quality pipeline"
server=""
trap '[ -n "$server" ] && kill "$server" 2>/dev/null; true' EXIT

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
step "scratch repository: $work"
step "mlops-bot push   (first commit: builds the image, compiles, publishes, runs)"
"$bot" push
step "mlops-bot registry show wine_quality:main"
"$bot" registry show wine_quality:main
step "mlops-bot deploy staging --pipeline wine_quality   (gate, canary, smoke test, 100%)"
"$bot" deploy staging --pipeline wine_quality
step "mlops-bot serve staging --port 0 &   then POST /predict"
"$bot" serve staging --port 0 2>"$work/serve.log" &
server=$!
for _ in $(seq 100); do [ -f .mlops/endpoints/staging.url ] && break; sleep 0.1; done
url=$(cat .mlops/endpoints/staging.url)
python3 - "$url" pipelines/wine_quality/serving/sample_instances.json <<'PY'
import json, sys, urllib.request
body = open(sys.argv[2], "rb").read()
request = urllib.request.Request(sys.argv[1] + "/predict", body, {"Content-Type": "application/json"})
print(json.dumps(json.load(urllib.request.urlopen(request, timeout=10))))
PY
step "change a run parameter (more trees): same version, a new run"
sed -i 's/"n_estimators": 100/"n_estimators": 200/' pipelines/wine_quality/run.py
git commit -qam "Use 200 trees"
"$bot" plan --base HEAD~1 --head HEAD
"$bot" push
step "mlops-bot deploy staging --pipeline wine_quality --traffic 20   (the new model)"
"$bot" deploy staging --pipeline wine_quality --traffic 20
step "mlops-bot endpoints show staging   (lineage: commit -> registry version -> run -> model)"
"$bot" endpoints show staging
step "mlops-bot rollback staging   (the model before serves again, nothing rebuilt)"
"$bot" rollback staging
step "mlops-bot push   (the same range again: nothing is rebuilt, republished or rerun)"
"$bot" push
step "mlops-bot runs list"
"$bot" runs list
