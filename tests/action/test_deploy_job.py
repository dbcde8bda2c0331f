"""The approved deploy job (`command: promote`) end to end: `/deploy` through the action creates
the Deployment, then the promote step promotes exactly that commit's model on the local backend,
with deployment statuses, the sticky comment and the job summary saying how it went."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from mlops_bot.backends.local.endpoints import url_file
from mlops_bot.github.run_checks import RunCheck
from mlops_bot.serving.state import endpoint_state_path, read_state
from tests.action.conftest import Pushed
from tests.support.action import ActionRun, run_action
from tests.support.comments import comment, sticky
from tests.support.fake_github import FakeGitHub
from tests.support.gitrepo import GitRepoBuilder
from tests.support.run_checks import push_event, pushed_with_checks, records, write_check

pytestmark = pytest.mark.slow

EXAMPLE = Path(__file__).parents[2] / "pipelines" / "wine_quality"
MLOPS_YAML = """\
environments:
  staging:
    endpoint: wine-staging
    canary_percent: 20
    thresholds:
      accuracy: {min: %s}
"""


@pytest.fixture(scope="module")
def pushed(tmp_path_factory: pytest.TempPathFactory) -> Pushed:
    """The example pipeline pushed once by the push job (conftest's `workspace` copies it and
    its check runs for each test)."""
    folder = tmp_path_factory.mktemp("deploy-job")
    repo = GitRepoBuilder(folder / "repo")
    base = repo.commit({".gitignore": ".mlops/\n", "mlops.yaml": MLOPS_YAML % "0.5"})
    shutil.copytree(EXAMPLE, repo.path / "pipelines" / "wine_quality")
    head = repo.commit()
    checks = pushed_with_checks(repo.path, folder, base, head)
    assert [c["conclusion"] for c in checks] == ["success"]
    return repo.path, head, checks


def approved_deploy(repo: GitRepoBuilder, tmp: Path, github: FakeGitHub, head: str,
                    body: str = "/deploy staging") -> ActionRun:
    """The comment job, then (as if the reviewers approved) the deploy job with its outputs."""
    github.add_pull(7, head)
    github.set_permission("alice", "write")
    asked = comment(repo, tmp, github, body)
    assert asked.outputs["decision"] == "proceed", asked.stderr
    return promote_step(repo, tmp, github, asked.outputs)


def promote_step(repo: GitRepoBuilder, tmp: Path, github: FakeGitHub,
                 outputs: dict[str, str]) -> ActionRun:
    event = {"action": "created", "issue": {"number": 7}, "comment": {"id": 555}}
    return run_action(repo.path, tmp, "issue_comment", event, inputs={
        "github-token": github.token, "command": "promote",
        "environment": outputs["environment"], "sha": outputs["sha"],
        "deployment-id": outputs["deployment_id"]},
        env={"GITHUB_API_URL": github.url, "GITHUB_REPOSITORY": "octo/models"})


def serving(repo: GitRepoBuilder) -> list[tuple[str, int]]:
    state = read_state(endpoint_state_path(repo.path / ".mlops", "staging"), "staging")
    return [(d.model, d.traffic) for d in state.deployed]


def test_an_approved_deploy_promotes_the_pinned_commit(workspace, tmp_path, github):
    repo, head = workspace
    # As `mlops-bot serve staging` records where it listens: the deployment links to it.
    url = url_file(repo.path / ".mlops", "staging")
    url.parent.mkdir(parents=True, exist_ok=True)
    url.write_text("http://127.0.0.1:8080\n")
    job = approved_deploy(repo, tmp_path, github, head)
    assert job.returncode == 0, job.stderr
    assert (job.outputs["decision"], job.outputs["reason_code"]) == ("proceed", "ok")
    assert serving(repo) == [("wine_quality", 100)]
    [deployment] = github.repo().deployments.values()
    assert [s["state"] for s in deployment.statuses] == ["queued", "in_progress", "success"]
    assert deployment.statuses[-1]["environment_url"] == "http://127.0.0.1:8080"
    body = sticky(github)
    assert head[:7] in body and "wine_quality" in body and "accuracy" in body
    assert "accuracy" in job.summary  # the same report in the job summary
    assert not (repo.path / ".mlops" / "locks" / "staging.json").exists()  # lock released


def test_a_moved_pr_head_promotes_nothing(workspace, tmp_path, github):
    repo, head = workspace
    github.add_pull(7, head)
    github.set_permission("alice", "write")
    asked = comment(repo, tmp_path, github, "/deploy staging")
    github.add_pull(7, "e" * 40)  # a new push to the PR while the deploy waited for approval
    job = promote_step(repo, tmp_path, github, asked.outputs)
    assert job.outputs["reason_code"] == "ref_changed", job.stderr
    assert serving(repo) == []
    [deployment] = github.repo().deployments.values()
    assert deployment.statuses[-1]["state"] == "error"
    assert "/deploy staging" in sticky(github)


def test_a_gate_refusal_fails_the_job_and_shows_the_metric_table(workspace, tmp_path, github):
    repo, head = workspace
    (repo.path / "mlops.yaml").write_text(MLOPS_YAML % "1.5")
    job = approved_deploy(repo, tmp_path, github, head)
    assert job.returncode == 1
    assert job.outputs["reason_code"] == "failed"
    assert serving(repo) == []
    [deployment] = github.repo().deployments.values()
    assert deployment.statuses[-1]["state"] == "error"
    body = sticky(github)
    assert "accuracy" in body and "1.5" in body


def test_inputs_that_disagree_with_the_deployment_are_refused(workspace, tmp_path, github):
    repo, head = workspace
    github.add_pull(7, head)
    github.set_permission("alice", "write")
    asked = comment(repo, tmp_path, github, "/deploy staging")
    job = promote_step(repo, tmp_path, github, {**asked.outputs, "sha": "e" * 40})
    assert job.outputs["reason_code"] == "inputs_mismatch", job.stderr
    assert "not eeeeeeeeeeee to staging as the job's inputs say" in job.stderr
    assert serving(repo) == []
    [deployment] = github.repo().deployments.values()
    assert [s["state"] for s in deployment.statuses] == ["queued", "error"]


def test_a_rollback_with_nothing_before_fails_clearly(workspace, tmp_path, github):
    repo, head = workspace
    job = approved_deploy(repo, tmp_path, github, head, "/rollback staging wine_quality")
    assert job.returncode == 1 and job.outputs["reason_code"] == "failed"
    [deployment] = github.repo().deployments.values()
    assert deployment.statuses[-1]["state"] == "error"


def test_an_unexpected_failure_still_ends_the_deployment_with_error(workspace, tmp_path, github):
    repo, head = workspace
    # A state folder broken under the job (a file where the model registry's folder goes): not
    # a refusal the flow foresees, but the deployment must still end.
    shutil.rmtree(repo.path / ".mlops" / "models", ignore_errors=True)
    (repo.path / ".mlops" / "models").write_text("not a folder\n")
    job = approved_deploy(repo, tmp_path, github, head)
    assert job.returncode == 3, job.stderr
    assert "Traceback" in job.stderr  # the cause stays in the job log
    [deployment] = github.repo().deployments.values()
    # Ended by the job, and again by the action's last word on a crash (github/action.py).
    states = [s["state"] for s in deployment.statuses]
    assert states[:2] == ["queued", "in_progress"] and set(states[2:]) == {"error"}, states
    assert "unexpected failure" in deployment.statuses[-1]["description"]
    assert "unexpected failure" in sticky(github)
    # The action's outputs are written too, so the workflow's later steps see why.
    assert (job.outputs["decision"], job.outputs["reason_code"]) == ("stop", "failed")
    assert job.outputs["deployment_id"] == str(deployment.id)
    assert "unexpected failure" in json.loads(job.outputs["result"])["message"]


def head_record(github: FakeGitHub, sha: str) -> dict[str, Any]:
    """The record of the push job's check run on `sha`."""
    [check] = records(github, sha).values()
    return json.loads(check["output"]["text"].split("```json\n")[1].split("\n```")[0])


def test_a_docs_only_head_deploys_the_run_an_earlier_commit_produced(workspace, tmp_path, github):
    repo, head = workspace
    docs = repo.commit({"README.md": "how to use the model\n"})
    pushed = push_event(repo.path, tmp_path, github, head, docs, branch="feature")
    assert pushed.outputs["reason_code"] == "nothing_changed", pushed.stderr
    job = approved_deploy(repo, tmp_path, github, docs)
    assert job.returncode == 0, job.stderr
    assert serving(repo) == [("wine_quality", 100)]
    [deployment] = github.repo().deployments.values()
    assert deployment.fields["ref"] == docs
    report = sticky(github)
    assert f"commit {docs[:12]} (the PR head) compiles wine_quality to the same registry " \
           f"version as commit {head[:12]}" in report
    assert f"commit {head[:12]}" in job.summary


@pytest.mark.parametrize(("forged", "code", "why"), [
    ({"run_id": "wine-quality-0000000000000000"}, "run_missing", "does not exist on the backend"),
    ({"version": "v-ffffffffffffffff"}, "record_mismatch", "registry version v-ffffffffffffffff"),
    ({"parameters": {"n_estimators": 1000}}, "record_mismatch", "parameters"),
    ({"produced_by": "c" * 40}, "record_mismatch", "producing commit cccccccccccc"),
    ({"run_id": "failed-run"}, "run_missing", "is failed on the backend"),
])
def test_the_deploy_job_refuses_a_run_the_backend_does_not_hold_as_claimed(
        workspace, tmp_path, github, forged, code, why):
    repo, head = workspace
    real = head_record(github, head)
    if forged.get("run_id") == "failed-run":  # the backend holds the run, but it failed
        runs = repo.path / ".mlops" / "runs"
        document = json.loads((runs / real["run_id"] / "run.json").read_text())
        (runs / "failed-run").mkdir()
        (runs / "failed-run" / "run.json").write_text(json.dumps(
            {**document, "run_id": "failed-run", "status": "failed", "error": "task train"}))
    # A check run anyone with `checks: write` could write, newer than the push job's.
    write_check(github, RunCheck(**{k: v for k, v in {**real, **forged}.items()
                                    if k != "schema_version"}))
    job = approved_deploy(repo, tmp_path, github, head)
    assert job.outputs["reason_code"] == code, job.stderr
    assert serving(repo) == []
    [deployment] = github.repo().deployments.values()
    assert [s["state"] for s in deployment.statuses] == ["queued", "error"]
    assert why in sticky(github)


def test_the_deploy_job_holds_the_lock_on_github_while_it_promotes(workspace, tmp_path, github):
    repo, head = workspace
    job = approved_deploy(repo, tmp_path, github, head)
    assert job.returncode == 0, job.stderr
    [taken] = github.calls("create_ref")
    assert taken.body["ref"] == "refs/heads/mlops-bot-lock/staging"
    assert len(github.calls("delete_ref")) == 1 and not github.repo().refs  # released after


def test_a_lock_another_pr_took_meanwhile_stops_the_deploy_job(workspace, tmp_path, github):
    repo, head = workspace
    github.add_pull(7, head)
    github.add_pull(8, head)
    github.set_permission("alice", "write")
    asked = comment(repo, tmp_path, github, "/deploy staging")
    assert comment(repo, tmp_path, github, "/lock staging", number=8).outputs[
        "reason_code"] == "ok"
    job = promote_step(repo, tmp_path, github, asked.outputs)
    assert job.outputs["reason_code"] == "env_locked", job.stderr
    assert serving(repo) == []
    assert "refs/heads/mlops-bot-lock/staging" in github.repo().refs  # #8's lock stays


def test_a_lock_the_pr_took_itself_stays_after_its_deploy(workspace, tmp_path, github):
    repo, head = workspace
    github.add_pull(7, head)
    github.set_permission("alice", "write")
    assert comment(repo, tmp_path, github, "/lock staging").outputs["reason_code"] == "ok"
    job = approved_deploy(repo, tmp_path, github, head)
    assert job.returncode == 0, job.stderr
    assert "refs/heads/mlops-bot-lock/staging" in github.repo().refs
