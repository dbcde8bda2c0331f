"""Promotion on the local backend, end to end: real pushes and runs (kfp.local), the real
`mlops-bot deploy/rollback/endpoints` commands, and predictions over HTTP from `mlops-bot serve`.

The pipeline runs are made once per module (they cost seconds each); every test gets its own
state folder whose runs, registry and environments are those shared runs, and whose model
registry and endpoints start empty.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mlops_bot.backends.factory import Backends, backends_for
from mlops_bot.backends.local.endpoints import LocalEndpoints, url_file
from mlops_bot.backends.model_types import NEW_DEPLOYMENT, EndpointRecord
from mlops_bot.config import Config, load_config, parse_config
from mlops_bot.flows.promote import promote
from mlops_bot.flows.promote_inputs import model_candidate
from mlops_bot.serving.state import endpoint_state_path, read_state
from tests.serving.helpers import Client, wait_for
from tests.support.cli import cli, cli_json
from tests.support.gitrepo import GitRepoBuilder, pipeline_files
from tests.support.processes import Process
from tests.support.state import fresh_state

pytestmark = pytest.mark.slow

EXAMPLE = Path(__file__).parents[2] / "pipelines" / "wine_quality"
SAMPLE = json.loads((EXAMPLE / "serving" / "sample_instances.json").read_text())["instances"]
MLOPS_YAML = """\
environments:
  staging:
    endpoint: wine-staging
    canary_percent: 25
    tolerance: 0.02
    thresholds:
      accuracy: {min: 0.8}
"""


@dataclass(frozen=True)
class Project:
    path: Path
    first: str  # the commit of the first push
    second: str  # HEAD: the same pipeline with other parameters (another model)
    runs: dict[str, str]  # first, second, worse (a weaker model), failed, alpha (no model)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Project:
    builder = GitRepoBuilder(tmp_path_factory.mktemp("promote") / "repo")
    shutil.copytree(EXAMPLE, builder.path / "pipelines" / "wine_quality")
    first = builder.commit({".gitignore": ".mlops/\n", "mlops.yaml": MLOPS_YAML,
                            **pipeline_files("alpha")})
    pushed = {r["pipeline"]: r["run_id"] for r in cli_json("push", cwd=builder.path)["runs"]}
    run_py = (builder.path / "pipelines/wine_quality/run.py").read_text()
    second = builder.commit({"pipelines/wine_quality/run.py": run_py.replace(
        '"n_estimators": 100', '"n_estimators": 5').replace('"max_depth": 0', '"max_depth": 2')})
    [again] = cli_json("push", cwd=builder.path)["runs"]
    worse = cli_json("run", "wine_quality", "--param", "n_estimators=1", "--param", "max_depth=1",
                     cwd=builder.path)
    failed = cli_json("run", "wine_quality", "--param", "test_size=1.5", cwd=builder.path,
                      expect=1)
    assert (again["status"], worse["status"], failed["status"]) == (
        "succeeded", "succeeded", "failed")
    assert worse["metrics"]["accuracy"] < 0.8
    return Project(builder.path, first, second, {
        "first": pushed["wine_quality"], "alpha": pushed["alpha"], "second": again["run_id"],
        "worse": worse["run_id"], "failed": failed["run_id"]})


@pytest.fixture
def state(project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return fresh_state(project.path, tmp_path, monkeypatch)


def deploy(project: Project, *args: str, expect: int = 0, env: dict[str, str] | None = None
           ) -> dict[str, Any]:
    return cli_json("deploy", "staging", "--pipeline", "wine_quality", *args, cwd=project.path,
                    expect=expect, env=env)


def backends(project: Project) -> Backends:
    return backends_for(load_config(project.path), project.path)


def served(state: Path) -> list[tuple[str, int]]:
    document = read_state(endpoint_state_path(state, "staging"), "staging")
    return [(d.deployed_model_id, d.traffic) for d in document.deployed]


def test_push_deploy_serve_canary_rollback(project, state):
    server = Process([sys.executable, "-m", "mlops_bot", "serve", "staging", "--port", "0",
                      "--poll-interval", "0.1"], project.path, dict(os.environ))
    try:
        url = server.wait_for(r"Serving staging at (http://127\.0\.0\.1:\d+)").group(1)
        assert url_file(state, "staging").read_text().strip() == url
        client = Client(url)

        first = deploy(project, "--run", project.runs["first"])
        assert (first["status"], first["model_version"], first["url"]) == ("promoted", "1", url)
        assert [s["action"] for s in first["steps"]] == ["create", "deploy"]
        assert first["smoke"]["predictions"] == len(SAMPLE)
        answer = wait_for(lambda: _answer_from(client, "wine_quality-1"), what="model 1")
        assert len(answer["predictions"]) == len(SAMPLE) and answer["modelVersionId"] == "1"

        second = deploy(project)  # HEAD: the second commit's run
        assert (second["status"], second["git_sha"], second["run_id"]) == (
            "promoted", project.second, project.runs["second"])
        assert second["previous"]["deployed_model_id"] == "wine_quality-1"
        assert [(s["action"], s["traffic"]) for s in second["steps"]] == [
            ("deploy", {"wine_quality-1": 75, "wine_quality-2": 25}),
            ("traffic", {"wine_quality-1": 0, "wine_quality-2": 100}),
            ("undeploy", {"wine_quality-2": 100})]
        [accuracy] = [m for m in second["gate"]["metrics"] if m["name"] == "accuracy"]
        assert accuracy["ok"] and accuracy["champion"] == first["gate"]["metrics"][0]["candidate"]
        wait_for(lambda: _answer_from(client, "wine_quality-2"), what="model 2")

        shown = cli_json("endpoints", "show", "staging", cwd=project.path)
        [model] = shown["deployed"]
        assert model["lineage"] == {
            "git_sha": project.second, "image": second["image"],
            "registry_version": second["registry_version"], "run_id": project.runs["second"],
            "model_version": "2"}
        assert second["image"].startswith("mlops-local/wine_quality:")
        assert sorted(model["aliases"]) == [f"sha-{project.second[:7]}", "staging"]
        assert shown["url"] == url and model["traffic"] == 100

        summary = state / "summary.md"
        back = cli_json("rollback", "staging", cwd=project.path,
                        env={"GITHUB_STEP_SUMMARY": str(summary)})
        markdown = summary.read_text()
        assert markdown.startswith("### :rewind: Rolled back `staging`\n\nstaging rolled back "
                                   "from wine_quality version 2 to wine_quality version 1")
        assert "| to version | `1` |" in markdown and f"| url | `{url}` |" in markdown
        assert (back["status"], back["from_version"], back["to_version"]) == (
            "rolled_back", "2", "1")
        assert back["to_lineage"]["run_id"] == project.runs["first"]
        assert [s["action"] for s in back["steps"]] == ["deploy", "undeploy"]
        answer = wait_for(lambda: _answer_from(client, "wine_quality-1"), what="model 1 again")
        assert answer["modelVersionId"] == "1"
        assert served(state) == [("wine_quality-1", 100)]
        listed = cli("endpoints", "list", cwd=project.path)
        assert "wine_quality-1" in listed.stdout and url in listed.stdout
    finally:
        assert server.stop() == 0, server.seen
    assert not url_file(state, "staging").exists()


def _answer_from(client: Client, deployed_model_id: str) -> dict[str, Any] | None:
    status, answer = client.predict({"instances": SAMPLE})
    return answer if status == 200 and answer["deployedModelId"] == deployed_model_id else None


def test_deploying_what_already_serves_changes_nothing(project, state):
    deploy(project, "--run", project.runs["first"])
    path = endpoint_state_path(state, "staging")
    before = path.read_bytes()
    again = deploy(project, "--run", project.runs["first"])
    assert again["status"] == "unchanged" and again["ok"]
    assert "already serves 100% of staging: nothing to do" in again["message"]
    assert again["steps"] == [] and path.read_bytes() == before
    assert [p.name for p in (state / "models" / "wine_quality").glob("*.json")
            if p.name[0].isdigit()] == ["1.json"]


def test_the_gate_refuses_a_worse_model_with_the_metric_table(project, state, tmp_path):
    deploy(project, "--run", project.runs["first"])
    before = endpoint_state_path(state, "staging").read_bytes()
    summary = tmp_path / "summary.md"
    refused = deploy(project, "--run", project.runs["worse"], expect=1,
                     env={"GITHUB_STEP_SUMMARY": str(summary)})
    assert refused["status"] == "gate_failed" and not refused["ok"]
    [accuracy] = [m for m in refused["gate"]["metrics"] if m["name"] == "accuracy"]
    assert accuracy["champion"] == 1.0 and accuracy["candidate"] < 0.8 and not accuracy["ok"]
    assert f"accuracy {accuracy['candidate']:.4g} is below the minimum 0.8" in refused["message"]
    assert "worse than the champion's 1 (tolerance 0.02)" in refused["message"]
    assert endpoint_state_path(state, "staging").read_bytes() == before
    assert len(list((state / "models" / "wine_quality").glob("[0-9]*.json"))) == 1
    markdown = summary.read_text()
    assert "Not deployed to `staging`: the metric gate refused it" in markdown
    assert (f"| accuracy | {accuracy['candidate']:.4f} | metrics artifact `metrics` of task "
            "`evaluate` | 1.0000 | >= 0.8; >= champion - 0.02 (0.98) | FAIL |") in markdown

    text = cli("deploy", "staging", "--pipeline", "wine_quality", "--run",
               project.runs["worse"], cwd=project.path)
    assert text.returncode == 1
    said = f"run {project.runs['worse']} of wine_quality is not promoted to staging"
    assert text.stdout.startswith(said) and said not in text.stderr  # said once
    assert "accuracy" in text.stdout and "FAIL" in text.stdout


def test_a_failed_smoke_test_restores_the_traffic_split_exactly(project, state, tmp_path):
    bad = tmp_path / "smoke.json"  # 12 values where the model takes 13
    bad.write_text(json.dumps({"instances": [row[:12] for row in SAMPLE]}))
    config = _config(f"    smoke_instances: {bad.name}\n    tolerance: 1\n")
    used = backends(project)
    _split_70_30(project, used)
    result = promote(used, config, "staging", "wine_quality", repo_root=tmp_path,
                     run_id=project.runs["worse"])
    assert result.status == "smoke_failed" and not result.ok
    assert "expected 13 feature values, got 12" in result.message
    assert "the traffic split was restored (wine_quality-1 70%, wine_quality-2 30%)" in \
        result.message
    assert [s.action for s in result.steps] == ["deploy", "restore", "restore-undeploy"]
    assert result.steps[0].traffic == {"wine_quality-1": 53, "wine_quality-2": 22,
                                       "wine_quality-3": 25}
    assert result.traffic_after == result.traffic_before == {"wine_quality-1": 70,
                                                             "wine_quality-2": 30}
    assert served(state) == [("wine_quality-1", 70), ("wine_quality-2", 30)]


def _config(extra: str) -> Config:
    return parse_config(MLOPS_YAML.replace("    thresholds:\n      accuracy: {min: 0.8}\n", "")
                        .replace("    tolerance: 0.02\n", "") + extra, "test mlops.yaml")


def _split_70_30(project: Project, used: Backends) -> EndpointRecord:
    promote(used, load_config(project.path), "staging", "wine_quality", repo_root=project.path,
            run_id=project.runs["first"])
    second = used.models.register(model_candidate(used, used.runner.get(project.runs["second"])))
    record = used.endpoints.get("staging")
    return used.endpoints.deploy(record, second, {"wine_quality-1": 70, NEW_DEPLOYMENT: 30})


class _OperatorMovesTraffic(LocalEndpoints):
    """Someone else changes the endpoint while the smoke test runs (another process would)."""

    def predict(self, endpoint: EndpointRecord, instances: list[Any],
                deployed_model_id: str | None = None) -> list[Any]:
        other = LocalEndpoints(self.state_dir)
        current = other.get(endpoint.environment)
        other.set_traffic(current, {k: 50 for k in current.traffic})
        return super().predict(endpoint, instances, deployed_model_id)


def test_a_concurrent_change_aborts_without_overwriting(project, state):
    config = load_config(project.path)
    used = backends(project)
    promote(used, config, "staging", "wine_quality", repo_root=project.path,
            run_id=project.runs["first"])
    racing = dataclasses.replace(used, endpoints=_OperatorMovesTraffic(state))
    result = promote(racing, config, "staging", "wine_quality", repo_root=project.path,
                     run_id=project.runs["second"])
    assert result.status == "concurrent_change" and not result.ok
    # Revisions: created 1; the first promotion's record 2, deploy 3, record removed 4; this
    # one's record 5, canary 6; theirs 7.
    assert "the staging endpoint changed while this ran (revision 6 was read, it is now 7)" in \
        result.message
    assert LocalEndpoints(state).get("staging").intent is None  # its record taken off theirs
    assert served(state) == [("wine_quality-1", 50), ("wine_quality-2", 50)]  # theirs, kept
    assert [s.action for s in result.steps] == ["deploy"]


def test_refusals_when_there_is_no_model_to_promote(project, state):
    nothing = deploy(project, "--sha", "0" * 40, expect=1)
    assert (nothing["status"], nothing["message"]) == (
        "no_run", "no run of wine_quality for commit 000000000000: `mlops-bot push` builds and "
        "runs it (or pass --run RUN_ID)")
    missing = deploy(project, "--run", "wine-quality-nope", expect=1)
    assert missing["status"] == "no_run" and "there is no run wine-quality-nope" in \
        missing["message"]
    failed = deploy(project, "--run", project.runs["failed"], expect=1)
    assert failed["status"] == "run_failed"
    assert f"run {project.runs['failed']} of wine_quality at {project.first[:12]} failed" in \
        failed["message"] and "Inner task failed: 'load-data'" in failed["message"]
    no_model = cli_json("deploy", "staging", "--pipeline", "alpha", "--run",
                        project.runs["alpha"], cwd=project.path, expect=1)
    assert no_model["status"] == "no_model" and "produced no model artifact" in \
        no_model["message"]
    wrong = deploy(project, "--run", project.runs["alpha"], expect=1)
    assert "is of pipeline alpha, not wine_quality" in wrong["message"]
    unknown = cli("deploy", "stagin", "--pipeline", "wine_quality", cwd=project.path)
    assert unknown.returncode == 1 and "unknown environment 'stagin': did you mean 'staging'?" \
        in unknown.stderr
    not_a_commit = cli("deploy", "staging", "--pipeline", "wine_quality", "--sha", "deadbee",
                       cwd=project.path)
    assert not_a_commit.returncode == 1 and "--sha deadbee is not a commit" in not_a_commit.stderr
    assert not (state / "endpoints").exists()  # a refusal touches nothing


def test_rollback_refusals(project, state):
    empty = cli_json("rollback", "staging", cwd=project.path, expect=1)
    assert empty["status"] == "nothing_deployed"
    deploy(project, "--run", project.runs["first"])
    alone = cli_json("rollback", "staging", cwd=project.path, expect=1)
    assert alone["status"] == "no_previous"
    assert alone["message"] == ("no earlier version of wine_quality served staging: there is "
                                "nothing to roll back to")
