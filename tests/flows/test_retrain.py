"""Scheduled retraining on the local backend, end to end: the example pipeline pushed and run with
kfp.local, `mlops-bot retrain` and the retrain flow against a fake GitHub (PyGithub), champions
deployed to the local endpoints.

The push and the first retraining run are made once per module (they cost seconds); every test
gets its own state folder sharing those runs, registry and environments, with an empty model
registry and empty endpoints, so each test crowns its own champion.
"""

from __future__ import annotations

import dataclasses
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mlops_bot.backends.factory import Backends, backends_for
from mlops_bot.config import Config, load_config
from mlops_bot.flows.promote_inputs import model_candidate
from mlops_bot.flows.results.retrain import RetrainResult
from mlops_bot.flows.retrain import RetrainFlow, report
from mlops_bot.flows.schedules import parse_now
from mlops_bot.github.pygithub_client import ClientSettings
from mlops_bot.github.pygithub_forge import GithubForge
from tests.support.action import run_action
from tests.support.cli import cli, cli_json
from tests.support.fake_github import FakeGitHub
from tests.support.gitrepo import GitRepoBuilder
from tests.support.state import fresh_state

pytestmark = pytest.mark.slow

EXAMPLE = Path(__file__).parents[2] / "pipelines" / "wine_quality"
MLOPS_YAML = """\
environments:
  staging:
    endpoint: wine-staging
    thresholds:
      accuracy: {min: 0.5}
schedules:
  - name: weekly
    pipeline: wine_quality
    cron: "0 3 * * 1"
    parameters: {n_estimators: 10}
    environment: staging
    auto_promote: true
    margin: 0.01
    tracking_issue: Weekly retraining
"""
NOW = "2026-03-04T12:00:00Z"  # a Wednesday: the window opened Monday 2026-03-02 03:00 UTC
SAME_WINDOW = "2026-03-09T02:59:00Z"  # the last minute of that window
FAST = ClientSettings(retries=0, pace=False)


@dataclass(frozen=True)
class Project:
    path: Path
    push_run: str  # the run `mlops-bot push` made (its model crowns the champions)
    first: dict[str, Any]  # `mlops-bot retrain --json` in the window of NOW


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Project:
    repo = GitRepoBuilder(tmp_path_factory.mktemp("retrain") / "repo")
    shutil.copytree(EXAMPLE, repo.path / "pipelines" / "wine_quality")
    repo.commit({".gitignore": ".mlops/\n", "mlops.yaml": MLOPS_YAML})
    [pushed] = cli_json("push", cwd=repo.path)["runs"]
    assert pushed["status"] == "succeeded"
    first = cli_json("retrain", "--now", NOW, cwd=repo.path)
    return Project(repo.path, pushed["run_id"], first)


@pytest.fixture
def state(project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return fresh_state(project.path, tmp_path, monkeypatch)


def backends(project: Project) -> Backends:
    return backends_for(load_config(project.path), project.path)


def crown(project: Project, **metrics: float) -> None:
    """Serve the push run's model in staging as the champion, with these metrics on record."""
    found = backends(project)
    run = found.runner.get(project.push_run)
    assert run is not None
    candidate = dataclasses.replace(model_candidate(found, run),
                                    metrics={**run.metrics, **metrics})
    version = found.models.register(candidate)
    endpoint = found.endpoints.ensure("staging", "wine-staging")
    found.endpoints.deploy(endpoint, version, {"0": 100})


def retrain(project: Project, github: FakeGitHub, now: str = NOW,
            config: Config | None = None) -> RetrainResult:
    """The flow and its report, with the real PyGithub forge talking to the fake GitHub."""
    forge = GithubForge("octo/models", github.token, github.url, settings=FAST)
    config = config or load_config(project.path)
    result = RetrainFlow(project.path, config, backends_for(config, project.path), forge,
                         parse_now(now)).run()
    report(result, config, forge, {})
    return result


def candidate_accuracy(project: Project) -> float:
    [run] = project.first["runs"]
    return float(run["metrics"]["accuracy"])


def staging_traffic(project: Project) -> dict[str, int]:
    endpoint = backends(project).endpoints.get("staging")
    return dict(endpoint.traffic) if endpoint else {}


@pytest.fixture(autouse=True)
def _commits_known(github: FakeGitHub, project: Project) -> None:
    [run] = project.first["runs"]
    github.repo().commits.add(run["git_sha"])  # a Deployment must name a commit GitHub has


# -- one run per window ---------------------------------------------------------------------------
def test_two_retrains_in_one_window_start_one_run(project, state):
    [first] = project.first["runs"]
    main = cli_json("registry", "show", "wine_quality:main", cwd=project.path)
    assert (first["started"], first["status"]) == (True, "succeeded")
    assert first["version"] == main["version"] and first["window"] == "2026-03-02T03:00:00Z"
    assert first["parameters"]["n_estimators"] == 10  # the schedule's own parameters
    again = cli_json("retrain", "--now", SAME_WINDOW, cwd=project.path)
    [second] = again["runs"]
    assert (second["started"], second["run_id"], second["version"]) == (
        False, first["run_id"], first["version"])
    assert second["metrics"] == first["metrics"]
    runs = cli_json("runs", "list", "--pipeline", "wine_quality", cwd=project.path)["runs"]
    assert sum(r["trigger"].startswith("sched-20260302t0300z") for r in runs) == 1


def test_a_moved_tag_does_not_start_a_second_run_in_the_window(project, state):
    registry = backends(project).registry
    [first] = project.first["runs"]
    spec = registry.spec("wine_quality", first["version"])
    manifest = registry.resolve("wine_quality", f"@{first['version']}").manifest
    newer = registry.publish("wine_quality", spec + b"\n# recompiled\n", manifest)
    registry.tag("wine_quality", "main", newer.version)
    try:
        [again] = cli_json("retrain", "--now", SAME_WINDOW, cwd=project.path)["runs"]
    finally:
        registry.tag("wine_quality", "main", first["version"])
    assert newer.version != first["version"]
    assert (again["started"], again["version"]) == (False, first["version"])


def test_another_window_starts_a_new_run(project, state, github):
    # A window long past (the action tests run in the window of the real clock).
    result = retrain(project, github, now="2025-01-06T03:30:00Z")
    [run] = result.runs
    [first] = project.first["runs"]
    assert run.started and run.status == "succeeded" and run.run_id != first["run_id"]
    assert run.window == "2025-01-06T03:00:00Z"


# -- the challenger against the champion ----------------------------------------------------------
def test_no_champion_yet_offers_a_deployment_but_deploys_nothing(project, state, github):
    result = retrain(project, github)
    [promotion] = result.promotions
    assert promotion.decision == "offered", promotion.message
    assert "there is no champion yet" in promotion.message
    [deployment] = github.repo().deployments.values()
    [run] = result.runs
    assert deployment.fields["ref"] == run.git_sha and deployment.fields["environment"] == "staging"
    payload = deployment.fields["payload"]
    [issue] = github.repo().issues.values()
    assert payload == {"schema": "mlops-bot/deployment", "schema_version": 1,
                       "action": "deploy", "pipeline": "wine_quality", "version": run.version,
                       "run_id": run.run_id, "sha": run.git_sha,
                       "requested_by": "mlops-bot", "trigger": "retrain", "schedule": "weekly",
                       "tracking_issue": issue.number}
    assert deployment.fields["task"] == "deploy:mlops-bot"
    assert "pull_request" not in payload
    assert [s["state"] for s in deployment.statuses] == ["queued"]
    assert promotion.deployment_id == deployment.id
    # Offered, not deployed: the environment's reviewers approve the deploy job first.
    assert backends(project).endpoints.get("staging") is None
    assert backends(project).models.versions("wine_quality") == []


def test_a_worse_champion_is_challenged_and_keeps_serving(project, state, github):
    crown(project, accuracy=0.6)
    before = staging_traffic(project)
    result = retrain(project, github)
    [promotion] = result.promotions
    assert promotion.decision == "offered", promotion.message
    assert "beats the champion (wine_quality version 1)" in promotion.message
    assert promotion.champion is not None and promotion.champion["run_id"] == project.push_run
    assert promotion.gate is not None and promotion.gate.passed
    [row] = [r for r in promotion.gate.rows if r.name == "accuracy"]
    assert row.champion == 0.6 and row.rule == ">= 0.5; >= champion + 0.01 (0.61)"
    assert len(github.repo().deployments) == 1
    assert staging_traffic(project) == before  # still only the champion, at 100%


def test_a_better_champion_is_not_challenged(project, state, github):
    crown(project, accuracy=0.999)
    result = retrain(project, github)
    [promotion] = result.promotions
    assert promotion.decision == "not_better"
    assert f"accuracy {candidate_accuracy(project):.4g} does not beat the champion's 0.999 by " \
           "the required 0.01" in promotion.message
    assert github.repo().deployments == {}


def test_a_challenger_within_the_margin_is_not_offered(project, state, github):
    crown(project, accuracy=candidate_accuracy(project) - 0.005)
    [promotion] = retrain(project, github).promotions
    assert promotion.decision == "not_better" and "required 0.01" in promotion.message
    assert github.repo().deployments == {}


def test_without_auto_promote_a_better_model_is_only_reported(project, state, github):
    config = load_config(project.path)
    schedule = config.schedules[0].model_copy(update={"auto_promote": False})
    [promotion] = retrain(project, github,
                          config=config.model_copy(update={"schedules": [schedule]})).promotions
    assert promotion.decision == "better"
    assert f"mlops-bot deploy staging --pipeline wine_quality --run {promotion.run_id}" in \
        promotion.message
    assert github.repo().deployments == {}


# -- reporting --------------------------------------------------------------------------------
def test_the_tracking_issue_is_created_then_reused(project, state, github):
    github.add_pull(3, "f" * 40)  # pull requests are issues too: never taken for the tracker
    github.add_issue("Weekly retraining", state="closed")  # a closed one is not reused
    first = retrain(project, github)
    [issue] = [i for i in github.repo().issues.values()
               if i.state == "open" and i.title == "Weekly retraining"]
    assert first.tracking_issues == {"Weekly retraining": issue.number}
    [comment] = github.comments(issue.number)
    assert "### Retraining `weekly` (window 2026-03-02T03:00:00Z)" in comment.body
    assert "| accuracy |" in comment.body and "offered" in comment.body
    second = retrain(project, github, now=SAME_WINDOW)
    assert second.tracking_issues == first.tracking_issues
    assert len(github.calls("create_issue")) == 1
    [again] = github.comments(issue.number)  # the window's comment, updated in place
    assert again.id == comment.id and "already started in this window" in again.body
    # A re-run in the window does not offer the same run twice.
    [promotion] = second.promotions
    assert promotion.decision == "already_offered"
    assert len(github.repo().deployments) == 1


def test_a_tracking_issue_someone_else_opened_with_its_title_is_not_reported_on(
        project, state, github):
    # Anyone can open an issue of the schedule's title, even with the bot's marker first.
    forged = github.add_issue("Weekly retraining", author="mallory",
                              body="<!-- mlops-bot:tracking-issue -->\nEvery model approved.")
    result = retrain(project, github)
    number = result.tracking_issues["Weekly retraining"]
    assert number != forged.number and github.thread(number).author != "mallory"
    assert forged.comments == [] and len(github.calls("create_issue")) == 1
    [deployment] = github.repo().deployments.values()
    assert deployment.fields["payload"]["tracking_issue"] == number


def test_a_report_that_cannot_be_posted_warns_and_keeps_the_result(project, state, github):
    github.fail("create_issue", 403, message="Resource not accessible by integration",
                times=None)
    result = retrain(project, github)
    assert result.ok and result.promotions[0].decision == "offered"
    assert len(result.notes) == 1  # said once, though the offer and the report both tried
    assert "could not find or open the issue 'Weekly retraining'" in result.notes[0]
    assert "issues: write" in result.notes[0]
    [deployment] = github.repo().deployments.values()  # offered all the same
    assert "tracking_issue" not in deployment.fields["payload"]


def test_the_action_retrains_on_schedule_and_hands_the_deployment_to_the_deploy_job(
        project, state, github, tmp_path):
    [first] = project.first["runs"]
    github.repo("acme/models").commits.add(first["git_sha"])
    done = run_action(project.path, tmp_path, "schedule", {"schedule": "0 3 * * 1"},
                      inputs={"github-token": github.token},
                      env={"GITHUB_API_URL": github.url, "MLOPS_BOT_STATE_DIR": str(state)})
    assert done.returncode == 0, done.stderr
    outputs = done.outputs
    assert outputs["decision"] == "proceed" and outputs["reason_code"] == "ok"
    assert outputs["environment"] == "staging"
    [deployment] = github.repo("acme/models").deployments.values()
    assert outputs["deployment_id"] == str(deployment.id)
    assert outputs["sha"] == deployment.fields["ref"] == first["git_sha"]
    assert deployment.fields["payload"]["trigger"] == "retrain"
    assert "## mlops-bot retrain" in done.summary and "| accuracy |" in done.summary


def test_a_paused_schedule_is_skipped_unless_named(project, state, github):
    config = load_config(project.path)
    paused = config.model_copy(update={"schedules": [
        config.schedules[0].model_copy(update={"paused": True})]})
    forge = GithubForge("octo/models", github.token, github.url, settings=FAST)
    flow = RetrainFlow(project.path, paused, backends_for(paused, project.path), forge,
                       parse_now(NOW))
    skipped = flow.run()
    assert skipped.runs == [] and "weekly: paused in mlops.yaml" in skipped.notes[0]
    [named] = flow.run("wine_quality").runs
    assert named.run_id == project.first["runs"][0]["run_id"] and not named.started


def test_an_unknown_pipeline_is_a_clear_error(project, state):
    done = cli("retrain", "--pipeline", "nope", cwd=project.path)
    assert done.returncode == 1
    assert "no schedule in mlops.yaml runs pipeline 'nope'" in done.stderr


def test_once_approved_the_deploy_job_promotes_the_retrained_model(project, state, github,
                                                                    tmp_path):
    [first] = project.first["runs"]
    github.repo("acme/models").commits.add(first["git_sha"])
    env = {"GITHUB_API_URL": github.url, "MLOPS_BOT_STATE_DIR": str(state)}
    offered = run_action(project.path, tmp_path, "workflow_dispatch",
                         {"inputs": {"pipeline": "wine_quality"}},
                         inputs={"github-token": github.token}, env=env)
    assert offered.outputs["decision"] == "proceed", offered.stderr
    assert staging_traffic(project) == {}  # nothing deployed before the approval
    # The reviewers approve; the deploy job runs with the retrain job's outputs.
    done = run_action(project.path, tmp_path, "workflow_dispatch", {}, inputs={
        "github-token": github.token, "command": "promote",
        "environment": offered.outputs["environment"], "sha": offered.outputs["sha"],
        "deployment-id": offered.outputs["deployment_id"]}, env=env)
    assert done.returncode == 0, done.stderr
    assert list(staging_traffic(project).values()) == [100]
    [deployment] = github.repo("acme/models").deployments.values()
    assert [s["state"] for s in deployment.statuses][-1] == "success"
    [issue] = github.repo("acme/models").issues.values()
    assert any("staging" in c.body for c in github.comments(issue.number, "acme/models"))
