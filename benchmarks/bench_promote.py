"""Promotion benchmark: one local promotion with a champion in place (canary, smoke test, full
traffic, undeploy of the previous model), as `mlops-bot deploy` does it. Target: under 10 s.

Set-up (not timed): a git repository with the example wine_quality pipeline, pushed at two
commits with different parameters, so there are two runs and two models. Each repetition starts
from an empty model registry and endpoint, deploys the first commit's model (untimed), then
times `mlops-bot deploy staging` of HEAD, as a subprocess (what a user or CI pays) and in
process (the flow alone, without interpreter start-up and imports).

    .venv/bin/python benchmarks/bench_promote.py [--repeat 5] [--json] [--fresh]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "benchmarks" / ".work" / "promote"
TARGET_S = 10.0
MLOPS_YAML = """\
environments:
  staging:
    endpoint: wine-staging
    canary_percent: 10
    tolerance: 0.02
    thresholds:
      accuracy: {min: 0.8}
"""
GIT_ENV = {"GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@example.com",
           "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@example.com",
           "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}


def _run(*args: str, cwd: Path) -> str:
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("GITHUB_")}, **GIT_ENV}
    result = subprocess.run(list(args), cwd=cwd, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def _mlops(*args: str, cwd: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(_run(sys.executable, "-m", "mlops_bot", *args,
                                               "--json", cwd=cwd))
    return document


def _commit(repo: Path, message: str) -> None:
    _run("git", "add", "-A", cwd=repo)
    _run("git", "commit", "-q", "-m", message, cwd=repo)


def prepare(fresh: bool) -> tuple[Path, str]:
    """The repository (cached under benchmarks/.work/) and the first commit's run id."""
    repo, marker = WORK / "repo", WORK / "first_run"
    if not fresh and marker.is_file():
        return repo, marker.read_text().strip()
    shutil.rmtree(WORK, ignore_errors=True)
    shutil.copytree(ROOT / "pipelines" / "wine_quality", repo / "pipelines" / "wine_quality",
                    ignore=shutil.ignore_patterns("__pycache__"))
    (repo / "mlops.yaml").write_text(MLOPS_YAML)
    (repo / ".gitignore").write_text(".mlops/\n")
    _run("git", "init", "-q", "-b", "main", cwd=repo)
    _commit(repo, "first")
    [first] = _mlops("push", cwd=repo)["runs"]
    run_py = repo / "pipelines" / "wine_quality" / "run.py"
    run_py.write_text(run_py.read_text().replace('"n_estimators": 100', '"n_estimators": 50'))
    _commit(repo, "second")
    [second] = _mlops("push", cwd=repo)["runs"]
    if first["status"] != "succeeded" or second["status"] != "succeeded":
        raise SystemExit(f"the set-up runs failed: {first['error'] or second['error']}")
    marker.write_text(first["run_id"])
    return repo, first["run_id"]


def _reset(repo: Path, first_run: str) -> None:
    for folder in ("models", "endpoints"):
        shutil.rmtree(repo / ".mlops" / folder, ignore_errors=True)
    champion = _mlops("deploy", "staging", "--pipeline", "wine_quality", "--run", first_run,
                      cwd=repo)
    assert champion["status"] == "promoted", champion["message"]


def _check(document: dict[str, Any]) -> None:
    actions = [step["action"] for step in document["steps"]]
    if document["status"] != "promoted" or actions != ["deploy", "traffic", "undeploy"]:
        raise SystemExit(f"the promotion did not go canary -> 100% -> undeploy: "
                         f"{document['status']} {actions}: {document['message']}")


def bench(repo: Path, first_run: str, repeat: int) -> dict[str, Any]:
    from mlops_bot.backends.factory import backends_for
    from mlops_bot.config import load_config
    from mlops_bot.flows.promote import promote

    cli, flow = [], []
    for _ in range(repeat):
        _reset(repo, first_run)
        started = time.perf_counter()
        document = _mlops("deploy", "staging", "--pipeline", "wine_quality", cwd=repo)
        cli.append(time.perf_counter() - started)
        _check(document)
        _reset(repo, first_run)
        config = load_config(repo)
        with contextlib.redirect_stderr(io.StringIO()):  # its progress lines
            started = time.perf_counter()
            result = promote(backends_for(config, repo), config, "staging", "wine_quality",
                             repo_root=repo)
            flow.append(time.perf_counter() - started)
        _check(result.to_dict())
    return {"repeat": repeat, "cli_median_s": round(statistics.median(cli), 3),
            "cli_max_s": round(max(cli), 3), "flow_median_s": round(statistics.median(flow), 3),
            "flow_max_s": round(max(flow), 3), "target": f"< {TARGET_S} s (cli, max)",
            "ok": max(cli) < TARGET_S}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--fresh", action="store_true", help="rebuild the set-up repository")
    args = parser.parse_args()
    os.environ.pop("MLOPS_BOT_STATE_DIR", None)
    repo, first_run = prepare(args.fresh)
    result = bench(repo, first_run, args.repeat)
    if args.json:
        print(json.dumps(result))
    else:
        print(f"local promotion (canary 10% -> smoke test -> 100% -> undeploy), "
              f"{result['repeat']} runs")
        print(f"  mlops-bot deploy (subprocess): median {result['cli_median_s']:.2f} s, "
              f"max {result['cli_max_s']:.2f} s")
        print(f"  promote() in process:          median {result['flow_median_s']:.2f} s, "
              f"max {result['flow_max_s']:.2f} s")
        print(f"  target {result['target']}: {'ok' if result['ok'] else 'MISSED'}")
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    raise SystemExit(main())
