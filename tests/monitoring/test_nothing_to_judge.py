"""Nothing to judge is not a failure: with no model serving the environment, no request logged in
the window, or backend gcp (Vertex AI monitors), `mlops-bot monitor` and the hourly action say
the environment was skipped and why (stdout, the job summary, --json `status: skipped`) and
exit 0; drift still exits 1 and alerts, and a settings mistake still fails."""

from __future__ import annotations

import json
import time

import pytest

from tests.monitoring.synthetic import MLOPS_YAML, NOW, NOW_ISO, log_requests, make_state, rows
from tests.support.action import run_action
from tests.support.cli import cli

DAY = 86400
ISSUE_YAML = MLOPS_YAML + "      alerts: {github_issue: true}\n"
TWO_ENVIRONMENTS = ISSUE_YAML + "  production:\n    endpoint: wine-prod\n    monitoring: {}\n"
GCP_YAML = """\
backend: gcp
gcp: {project: test-project, region: europe-west4, artifact_repository: images,
      registry_bucket: registry}
environments:
  staging:
    endpoint: wine-staging
    monitoring: {}
"""


@pytest.mark.parametrize(("setup", "args", "reason", "sentence"), [
    ("nothing_serving", (), "nothing_serving", "nothing serves staging, so there is nothing to "
     "monitor: deploy a model first (`mlops-bot deploy staging --pipeline P`)"),
    ("no_requests", (), "no_requests", "no requests to staging were logged in the last 1d"),
    ("old_requests", ("--window", "6h"), "no_requests", "no requests to staging were logged in "
     "the last 6h"),
])
def test_a_run_with_nothing_to_judge_is_skipped_and_says_why(tmp_path, setup, args, reason,
                                                              sentence):
    repo = tmp_path / "repo"
    state = make_state(repo, serve=setup != "nothing_serving")
    if setup == "old_requests":  # requests half a day old: none in the last 6h
        log_requests(state, rows(50, 2), NOW - DAY / 2)
    summary = tmp_path / "summary.md"
    env = {"GITHUB_STEP_SUMMARY": str(summary)}

    text = cli("monitor", "staging", "--now", NOW_ISO, *args, cwd=repo, env=env)
    assert text.returncode == 0, text.stderr
    first, second = text.stdout.splitlines()
    assert first.startswith("mlops-bot monitor staging: skipped, nothing to judge: " + sentence)
    assert second == "(not a failure: the next monitoring run checks again)"
    assert "Traceback" not in text.stderr
    assert summary.read_text().startswith("### Model monitoring: `staging`\n\nSkipped, nothing "
                                          "to judge: ")
    assert "not a failure: the next monitoring run checks again" in summary.read_text()

    document = json.loads(cli("monitor", "staging", "--now", NOW_ISO, *args, "--json",
                              cwd=repo).stdout)
    assert document["status"] == "skipped" and document["reason"] == reason
    assert document["message"].startswith(sentence) and document["drift"] is False
    assert document["environment"] == "staging" and "error" not in document
    # Nothing was judged: no verdict recorded for `monitoring status`, no episode opened.
    folder = state / "monitoring" / "staging"
    assert not (folder / "last.json").exists() and not (folder / "episode.json").exists()


def test_judged_runs_say_their_status_in_json_and_drift_still_exits_1(tmp_path):
    repo = tmp_path / "repo"
    state = make_state(repo)
    log_requests(state, rows(300, 2), NOW)
    calm = cli("monitor", "staging", "--now", NOW_ISO, "--json", cwd=repo)
    assert calm.returncode == 0 and json.loads(calm.stdout)["status"] == "ok"
    log_requests(state, rows(300, 3, shift=1.0), NOW + DAY)
    drift = cli("monitor", "staging", "--now", "2026-05-29T20:26:40Z", "--json", cwd=repo)
    assert drift.returncode == 1, drift.stderr
    assert json.loads(drift.stdout)["status"] == "drift"


def test_the_hourly_action_skips_environments_with_nothing_to_judge_and_succeeds(
        tmp_path, github):
    repo = tmp_path / "repo"
    make_state(repo, config=TWO_ENVIRONMENTS)  # staging serves, with no request; production not
    github.add_issue("an older issue")  # the repository exists on the fake
    done = run_action(repo, tmp_path, "schedule", {}, inputs={
        "command": "monitor", "github-token": github.token},
        env={"GITHUB_API_URL": github.url, "GITHUB_REPOSITORY": "octo/models"})
    assert done.returncode == 0, done.stderr
    assert done.outputs["decision"] == "stop" and done.outputs["reason_code"] == "ok"
    result = json.loads(done.outputs["result"])
    details = result["details"]
    assert details["failed"] == []
    assert {name: (e["status"], e["reason"]) for name, e in details["environments"].items()} == {
        "staging": ("skipped", "no_requests"), "production": ("skipped", "nothing_serving")}
    assert result["message"].startswith("monitored no environment; drift in none; skipped "
                                        "staging: no requests to staging were logged")
    assert "skipped production: nothing serves production" in result["message"]
    assert done.summary.count("Skipped, nothing to judge") == 2
    assert "### Model monitoring: `production`" in done.summary
    assert [i.title for i in github.repo().issues.values()] == ["an older issue"]


def test_drift_beside_a_skipped_environment_is_still_reported(tmp_path, github):
    repo = tmp_path / "repo"
    log_requests(make_state(repo, config=TWO_ENVIRONMENTS), rows(300, 2, shift=1.0),
                 time.time())
    github.add_issue("an older issue")
    done = run_action(repo, tmp_path, "schedule", {}, inputs={
        "command": "monitor", "github-token": github.token},
        env={"GITHUB_API_URL": github.url, "GITHUB_REPOSITORY": "octo/models"})
    assert done.returncode == 0, done.stderr
    details = json.loads(done.outputs["result"])["details"]
    assert details["environments"]["staging"]["status"] == "drift"
    assert details["environments"]["staging"]["drift"] is True
    assert details["environments"]["production"]["status"] == "skipped"
    assert "**DRIFT**" in done.summary and "Skipped, nothing to judge: nothing serves " \
        "production" in done.summary
    assert [i.title for i in github.repo().issues.values()][-1] == (
        "mlops-bot: drift in staging (window 1d)")


def test_a_settings_mistake_still_fails_the_hourly_action(tmp_path, github):
    repo = tmp_path / "repo"
    log_requests(make_state(repo, config=MLOPS_YAML + "      features: [alcohl]\n"),
                 rows(50, 2), time.time())
    github.add_issue("an older issue")
    done = run_action(repo, tmp_path, "schedule", {}, inputs={
        "command": "monitor", "github-token": github.token},
        env={"GITHUB_API_URL": github.url, "GITHUB_REPOSITORY": "octo/models"})
    assert done.returncode == 1
    assert done.outputs["reason_code"] == "failed"
    [failed] = json.loads(done.outputs["result"])["details"]["failed"]
    assert failed.startswith("staging: environments.staging.monitoring.features: 'alcohl' is "
                             "not a feature")


def test_on_backend_gcp_the_hourly_action_leaves_monitoring_to_vertex(tmp_path, github):
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "mlops.yaml").write_text(GCP_YAML)
    github.add_issue("an older issue")
    done = run_action(repo, tmp_path, "schedule", {}, inputs={
        "command": "monitor", "github-token": github.token},
        env={"GITHUB_API_URL": github.url, "GITHUB_REPOSITORY": "octo/models"})
    assert done.returncode == 0, done.stderr
    staging = json.loads(done.outputs["result"])["details"]["environments"]["staging"]
    assert staging["status"] == "skipped" and staging["reason"] == "watched_by_vertex"
    assert "`mlops-bot monitoring status staging` reads its verdicts" in staging["message"]
    explicit = cli("monitor", "staging", cwd=repo)
    assert explicit.returncode == 0, explicit.stderr
    assert "on backend gcp Vertex AI Model Monitoring watches the endpoint" in explicit.stdout


def test_a_quiet_hour_leaves_a_drift_episode_open(tmp_path):
    repo = tmp_path / "repo"
    state = make_state(repo)
    log_requests(state, rows(300, 2, shift=1.0), NOW)
    assert cli("monitor", "staging", "--now", NOW_ISO, cwd=repo).returncode == 1
    episode = state / "monitoring" / "staging" / "episode.json"
    started = json.loads(episode.read_text())["started"]
    # Two days on, no request in the last day: skipped, and the drift is not taken as over.
    quiet = cli("monitor", "staging", "--now", "2026-05-30T20:26:40Z", cwd=repo)
    assert quiet.returncode == 0 and "skipped, nothing to judge" in quiet.stdout
    assert json.loads(episode.read_text())["started"] == started
