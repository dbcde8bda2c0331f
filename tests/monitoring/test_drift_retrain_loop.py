"""The drift-to-retrain loop end to end on the local backend: a one-component pipeline pushed and
run with kfp.local (the wine example's three components would triple the time), its model
serving staging through `mlops-bot serve`, requests with a shifted
feature sent over HTTP and logged, `mlops-bot monitor` flagging that feature, retraining started
once for the drift episode and its better model offered as a Deployment (the real PyGithub client
against the fake GitHub), and a second monitoring run in the same episode starting nothing."""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import sys
import urllib.request
from pathlib import Path

import pytest

from mlops_bot.backends.factory import backends_for
from mlops_bot.config import load_config
from mlops_bot.flows.monitor import monitor
from mlops_bot.flows.promote_inputs import model_candidate
from mlops_bot.flows.schedules import parse_now
from mlops_bot.github.pygithub_client import ClientSettings
from mlops_bot.github.pygithub_forge import GithubForge
from mlops_bot.monitoring.samples import training_data_uri
from tests.support.cli import cli_json
from tests.support.fake_github import FakeGitHub
from tests.support.gitrepo import GitRepoBuilder
from tests.support.processes import Process

pytestmark = pytest.mark.slow

DEFINITION = '''\
from kfp import dsl
from kfp.dsl import Dataset, Metrics, Model, Output


@dsl.component
def train(train_data: Output[Dataset], model: Output[Model], metrics: Output[Metrics],
          seed: int = 0) -> None:
    """Two wine-like features, a logistic regression, its training data and its accuracy."""
    import random

    import joblib
    from sklearn.linear_model import LogisticRegression

    rng = random.Random(seed)
    rows = [[round(rng.gauss(12, 1), 3), round(rng.gauss(3.3, 0.15), 3)] for _ in range(300)]
    labels = [int(alcohol > 12) for alcohol, _ in rows]
    with open(train_data.path, "w") as handle:
        handle.write("alcohol,ph,target\\n" + "".join(
            f"{a},{p},{y}\\n" for (a, p), y in zip(rows, labels)))
    fitted = LogisticRegression().fit(rows, labels)
    joblib.dump(fitted, model.path)
    model.metadata.update({"framework": "scikit-learn", "feature_names": ["alcohol", "ph"],
                           "classes": [0, 1]})
    metrics.log_metric("accuracy", float(fitted.score(rows, labels)))


@dsl.pipeline(name="tiny")
def tiny(seed: int = 0) -> None:
    train(seed=seed)
'''
MLOPS_YAML = """\
local: {builder: venv}  # seconds: no image build, runs in a layered virtualenv
environments:
  staging:
    endpoint: wine-staging
    thresholds:
      accuracy: {min: 0.5}
    monitoring:
      drift: null
      alerts: {github_issue: true}
      retrain_on_drift: weekly
schedules:
  - name: weekly
    pipeline: tiny
    cron: "0 3 * * 1"
    parameters: {seed: 1}
    environment: staging
    auto_promote: true
"""
FAST = ClientSettings(retries=0, pace=False)


def _post(url: str, instances: list[dict[str, float]]) -> dict:
    request = urllib.request.Request(url, data=json.dumps({"instances": instances}).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def _serve_shifted_requests(repo: Path, instances: list[dict[str, float]]) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "MLOPS_BOT_"))}
    process = Process([sys.executable, "-m", "mlops_bot", "serve", "staging", "--port", "0"],
                      cwd=repo, env=env)
    try:
        url = process.wait_for(r"^Serving staging at (http://127\.0\.0\.1:\d+)").group(1)
        for start in range(0, len(instances), 20):
            answer = _post(f"{url}/predict", instances[start:start + 20])
            assert answer["deployedModelId"] == "tiny-1"
    finally:
        assert process.stop() == 0, process.seen  # Ctrl-C: the request log is written out


def test_drift_starts_one_retraining_per_episode_and_offers_the_better_model(tmp_path):
    repo = GitRepoBuilder(tmp_path / "repo")
    repo.commit({".gitignore": ".mlops/\n", "mlops.yaml": MLOPS_YAML,
                 "pipelines/tiny/definition.py": DEFINITION})
    [pushed] = cli_json("push", cwd=repo.path)["runs"]
    assert pushed["status"] == "succeeded"
    # The push's model serves staging, with a poor accuracy on record: a retrained one beats it.
    backends = backends_for(load_config(repo.path), repo.path)
    run = backends.runner.get(pushed["run_id"])
    assert run is not None
    version = backends.models.register(dataclasses.replace(
        model_candidate(backends, run), metrics={**run.metrics, "accuracy": 0.2}))
    backends.endpoints.deploy(backends.endpoints.ensure("staging", "wine-staging"), version,
                              {"0": 100})
    # Requests: the training rows, with alcohol 3 units (3 standard deviations) higher.
    with training_data_uri(run.artifacts, run.run_id, backends.artifact_root).open() as handle:
        rows = [{k: float(v) for k, v in row.items() if k != "target"}
                for row in csv.DictReader(handle)]
    _serve_shifted_requests(repo.path, [{**row, "alcohol": row["alcohol"] + 3} for row in rows])

    github = FakeGitHub().start()
    try:
        github.actions_token()
        github.repo().commits.add(run.git_sha)  # a Deployment names a commit GitHub has
        forge = GithubForge("octo/models", github.token, github.url, settings=FAST)
        first = monitor(repo.path, "staging", None, parse_now(None), forge, environ={})
        assert {f.feature for f in first.drifted} == {"alcohol"}
        assert first.requests == len(rows) and len(first.features) == 2
        retrain = first.retrain
        assert retrain is not None and retrain["started"] and retrain["status"] == "succeeded"
        assert retrain["decision"] == "offered", retrain["message"]
        [deployment] = github.repo().deployments.values()
        assert deployment.fields["payload"]["run_id"] == retrain["run_id"]
        assert deployment.fields["payload"]["schedule"] == "weekly"
        assert [s["state"] for s in deployment.statuses] == ["queued"]  # awaits approval
        runs = {r.run_id for r in backends.runner.runs("tiny")}
        assert retrain["run_id"] in runs and len(runs) == 2
        # The same drift an hour later: the episode goes on, nothing is started or offered again.
        second = monitor(repo.path, "staging", None, parse_now(None), forge, environ={})
        assert {f.feature for f in second.drifted} == {"alcohol"} and second.retrain is None
        assert any("not again until drift clears" in note for note in second.notes)
        assert {r.run_id for r in backends.runner.runs("tiny")} == runs
        assert len(github.repo().deployments) == 1
        issues = [i for i in github.repo().issues.values() if i.title.startswith("mlops-bot: drift")]
        assert len(issues) == 1 and len(issues[0].comments) == 1
    finally:
        github.stop()
    # Nothing was deployed by monitoring itself: the champion still serves all traffic.
    endpoint = backends.endpoints.get("staging")
    assert endpoint is not None and endpoint.traffic == {"tiny-1": 100}
