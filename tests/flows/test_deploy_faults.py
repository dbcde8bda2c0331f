"""Deploys stopped at each step by SIGTERM (a cancelled job, `docker stop`) or SIGKILL, for real.

A real `mlops-bot deploy` of a pushed run (local backend) is stopped at the canary, during the
smoke test, at full traffic and after the previous model's undeploy (tests/support/paused.py
holds it there), then signalled. After SIGTERM the endpoint is back as it was at once and the
lock is released; after SIGKILL the next deploy or rollback puts back what the killed one left
(and says so), taking over the dead process's lock. The same through the action's deploy job
against the fake GitHub, whose deployment ends `error` with the reason and whose outputs are
written. Two deploys at once: one promotes, the other is refused with env_locked.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from mlops_bot.backends.local.endpoints import LocalEndpoints
from mlops_bot.backends.local.models import LocalModelRegistry
from mlops_bot.backends.model_types import NEW_DEPLOYMENT
from tests.support.action import ENTRYPOINT, read_outputs
from tests.support.cli import cli, cli_json
from tests.support.fake_github import FakeGitHub
from tests.support.gitrepo import GitRepoBuilder
from tests.support.models import candidate, train_wine_model, wine_features
from tests.support.processes import Process
from tests.support.run_checks import give_checks, pushed_with_checks

pytestmark = pytest.mark.slow

EXAMPLE = Path(__file__).parents[2] / "pipelines" / "wine_quality"
MLOPS_YAML = """\
environments:
  staging:
    endpoint: wine-staging
    canary_percent: 25
    tolerance: 1
local:
  builder: venv
"""
FIRST = "wine_quality-1"  # the model serving before each deploy (registered by `serving_first`)
CANDIDATE = "wine_quality-2"  # the pushed run's model


class Project:
    def __init__(self, path: Path, head: str, run_id: str, checks: list[dict[str, Any]]):
        self.path, self.head, self.run_id, self.checks = path, head, run_id, checks


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Project:
    """The example pipeline pushed once through the action (its run and check runs)."""
    folder = tmp_path_factory.mktemp("faults")
    repo = GitRepoBuilder(folder / "repo")
    base = repo.commit({".gitignore": ".mlops/\n", "mlops.yaml": MLOPS_YAML})
    shutil.copytree(EXAMPLE, repo.path / "pipelines" / "wine_quality")
    head = repo.commit()
    checks = pushed_with_checks(repo.path, folder, base, head)
    return Project(repo.path, head, _run_of(repo.path), checks)


def _run_of(repo: Path) -> str:
    [only] = cli_json("runs", "list", cwd=repo)["runs"]
    return str(only["run_id"])


@pytest.fixture(scope="module")
def serving_first(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Model registry and endpoints with wine_quality version 1 serving staging (made once)."""
    folder = tmp_path_factory.mktemp("first")
    models = LocalModelRegistry(folder / "models")
    first = models.register(candidate("run-first", train_wine_model(folder / "model"),
                                      feature_names=tuple(wine_features()), classes=(0, 1, 2)))
    endpoints = LocalEndpoints(folder)
    endpoints.deploy(endpoints.ensure("staging", "wine-staging"), first, {NEW_DEPLOYMENT: 100})
    models.set_aliases("wine_quality", first.version, ["staging"])
    return folder


@pytest.fixture
def state(project: Project, serving_first: Path, tmp_path: Path) -> Path:
    """A state folder sharing the pushed runs, with wine_quality version 1 serving staging."""
    folder = tmp_path / "state"
    folder.mkdir()
    for shared in ("runs", "registry", "envs"):
        (folder / shared).symlink_to(project.path / ".mlops" / shared)
    for own in ("models", "endpoints"):
        shutil.copytree(serving_first / own, folder / own)
    return folder


def environment(state: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "INPUT_"))}
    return {**env, "MLOPS_BOT_STATE_DIR": str(state), **extra}


def traffic(state: Path) -> dict[str, int]:
    record = LocalEndpoints(state).get("staging")
    assert record is not None
    return record.traffic


def intent(state: Path) -> object:
    record = LocalEndpoints(state).get("staging")
    return record.intent if record is not None else None


def paused_deploy(project: Project, state: Path, step: str) -> Process:
    process = Process([sys.executable, "-m", "tests.support.paused", step, "deploy", "staging",
                       "--pipeline", "wine_quality", "--run", project.run_id, "--json"],
                      project.path, environment(state, PYTHONPATH=str(Path(__file__).parents[2])))
    process.wait_for(f"PAUSED {step}", timeout=120)
    return process


def stopped(process: Process, how: signal.Signals) -> int:
    process.popen.send_signal(how)
    return process.popen.wait(60)


# What the endpoint is at each pause: the state a SIGKILL leaves.
LEFT = {"canary": {FIRST: 75, CANDIDATE: 25}, "smoke": {FIRST: 75, CANDIDATE: 25},
        "full": {FIRST: 0, CANDIDATE: 100}, "undeploy": {CANDIDATE: 100}}


@pytest.mark.parametrize("step", ["canary", "smoke", "full"])
def test_sigterm_puts_the_split_back_and_releases_the_lock(project, state, step):
    deploy = paused_deploy(project, state, step)
    assert traffic(state) == LEFT[step] and intent(state) is not None
    assert (state / "locks" / "staging.json").exists()
    assert stopped(deploy, signal.SIGTERM) == 143
    assert traffic(state) == {FIRST: 100}
    assert intent(state) is None
    assert not (state / "locks" / "staging.json").exists()
    stderr = "".join(deploy.seen["stderr"])
    assert "was interrupted (SIGTERM); the traffic split was restored (wine_quality-1 100%)" in \
        stderr
    assert json.loads("".join(deploy.seen["stdout"]))["error"]["code"] == "interrupted"


def test_sigterm_after_the_previous_model_was_undeployed_completes_the_promotion(project, state):
    deploy = paused_deploy(project, state, "undeploy")
    assert stopped(deploy, signal.SIGTERM) == 143
    assert traffic(state) == {CANDIDATE: 100} and intent(state) is None
    assert "so it was completed; `mlops-bot rollback staging` goes back" in \
        "".join(deploy.seen["stderr"])
    assert not (state / "locks" / "staging.json").exists()
    back = cli_json("rollback", "staging", cwd=project.path, env=environment(state))
    assert (back["status"], back["from_version"], back["to_version"]) == ("rolled_back", "2", "1")
    assert traffic(state) == {"wine_quality-1": 100}


@pytest.mark.parametrize("step", ["canary", "full"])
def test_after_sigkill_rollback_puts_back_the_recorded_split(project, state, step):
    deploy = paused_deploy(project, state, step)
    assert stopped(deploy, signal.SIGKILL) == -9
    assert traffic(state) == LEFT[step]  # nothing could run: the record stays
    back = cli("rollback", "staging", "--json", cwd=project.path, env=environment(state))
    assert back.returncode == 0, back.stderr
    document = json.loads(back.stdout)
    assert document["status"] == "rolled_back"
    assert document["message"].startswith(
        "staging rolled back: a deploy of wine_quality version 2 to staging (started ")
    assert document["message"].endswith(
        "stopped half-way: the traffic split it recorded was put back (wine_quality-1 100%)")
    assert document["traffic_before"] == LEFT[step]
    assert "taking over the lock of staging held by" in back.stderr
    assert "no longer runs" in back.stderr
    assert traffic(state) == {FIRST: 100} and intent(state) is None
    assert not (state / "locks" / "staging.json").exists()


@pytest.mark.parametrize("step", ["smoke", "undeploy"])
def test_after_sigkill_the_next_deploy_recovers_first_then_promotes(project, state, step):
    deploy = paused_deploy(project, state, step)
    assert stopped(deploy, signal.SIGKILL) == -9
    again = cli("deploy", "staging", "--pipeline", "wine_quality", "--run", project.run_id,
                "--json", cwd=project.path, env=environment(state))
    assert again.returncode == 0, again.stderr
    document = json.loads(again.stdout)
    [note] = [n for n in document["notes"] if "stopped half-way" in n]
    if step == "smoke":
        assert note.endswith("the traffic split it recorded was put back (wine_quality-1 100%)")
        assert document["status"] == "promoted" and document["traffic_before"] == {FIRST: 100}
    else:
        assert "so it was completed" in note
        assert document["status"] == "unchanged"  # it already serves 100%
    assert traffic(state) == {CANDIDATE: 100} and intent(state) is None
    assert not (state / "locks" / "staging.json").exists()
    if step == "undeploy":  # the aliases the killed one did not move were moved
        back = cli_json("rollback", "staging", cwd=project.path, env=environment(state))
        assert (back["status"], back["to_version"]) == ("rolled_back", "1")
        assert traffic(state) == {"wine_quality-1": 100}


def test_two_deploys_at_once_one_is_refused_with_env_locked(project, state):
    first = paused_deploy(project, state, "canary")
    second = cli("deploy", "staging", "--pipeline", "wine_quality", "--run", project.run_id,
                 "--json", cwd=project.path, env=environment(state))
    assert second.returncode == 1
    error = json.loads(second.stdout)["error"]
    assert error["code"] == "env_locked"
    assert error["message"].startswith("staging is locked by ")
    assert traffic(state) == LEFT["canary"]  # the first one's canary, untouched
    assert stopped(first, signal.SIGTERM) == 143
    assert traffic(state) == {FIRST: 100}


def test_an_expired_lock_is_taken_over(project, state):
    locks = state / "locks"
    locks.mkdir()
    (locks / "staging.json").write_text(json.dumps({
        "environment": "staging", "owner": "#12", "actor": "bob", "reason": "release",
        "created_at": "2026-01-01T00:00:00+00:00", "expires_at": "2026-01-01T00:10:00+00:00"}))
    done = cli("deploy", "staging", "--pipeline", "wine_quality", "--run", project.run_id,
               cwd=project.path, env=environment(state))
    assert done.returncode == 0, done.stderr
    assert ("taking over the lock of staging held by #12: it expired at "
            "2026-01-01T00:10:00+00:00") in done.stderr
    assert not (locks / "staging.json").exists()


# -- the action's deploy job ----------------------------------------------------------------
def requested(project: Project, state: Path, tmp: Path, github: FakeGitHub) -> dict[str, str]:
    """`/deploy staging` commented on PR 7: the comment job's outputs."""
    from tests.support.comments import comment

    give_checks(github, project.checks)
    github.add_pull(7, project.head)
    github.set_permission("alice", "write")
    asked = comment(GitRepoBuilder(project.path), tmp, github, "/deploy staging",
                    env={"MLOPS_BOT_STATE_DIR": str(state)})
    assert asked.outputs["decision"] == "proceed", asked.stderr
    return asked.outputs


def deploy_job(project: Project, state: Path, tmp: Path, github: FakeGitHub,
               asked: dict[str, str], step: str | None = None,
               **extra: str) -> tuple[subprocess.Popen[str] | Process, Path]:
    """The approved deploy job (`command: promote`) as a process, paused at `step` if given."""
    event, output = tmp / "deploy-event.json", tmp / f"deploy-output-{asked['deployment_id']}"
    event.write_text(json.dumps({"action": "created", "issue": {"number": 7},
                                 "comment": {"id": 555}}))
    output.write_text("")
    env = environment(
        state, PYTHONPATH=str(Path(__file__).parents[2]), GITHUB_EVENT_NAME="issue_comment",
        GITHUB_EVENT_PATH=str(event), GITHUB_WORKSPACE=str(project.path),
        GITHUB_OUTPUT=str(output), GITHUB_REPOSITORY="octo/models", GITHUB_API_URL=github.url,
        INPUT_COMMAND="promote", INPUT_ENVIRONMENT="staging", INPUT_SHA=asked["sha"],
        **{"INPUT_DEPLOYMENT-ID": asked["deployment_id"], "INPUT_GITHUB-TOKEN": github.token},
        **extra)
    if step is None:
        return subprocess.Popen([sys.executable, str(ENTRYPOINT)], cwd=project.path, env=env,
                                text=True, stderr=subprocess.PIPE), output
    process = Process([sys.executable, "-m", "tests.support.paused", step, "--action"],
                      project.path, env)
    process.wait_for(f"PAUSED {step}", timeout=120)
    return process, output


def paused_action(project: Project, state: Path, tmp: Path, github: FakeGitHub,
                  step: str) -> tuple[Process, Path]:
    job, output = deploy_job(project, state, tmp, github, requested(project, state, tmp, github),
                             step)
    assert isinstance(job, Process)
    return job, output


def test_the_deploy_job_stopped_by_sigterm_ends_its_deployment_with_error(
        project, state, tmp_path, github):
    job, output = paused_action(project, state, tmp_path, github, "canary")
    assert "mlops-bot-lock/staging" in str(github.repo().refs)
    assert stopped(job, signal.SIGTERM) == 143
    assert traffic(state) == {FIRST: 100} and intent(state) is None
    [deployment] = github.repo().deployments.values()
    assert [s["state"] for s in deployment.statuses] == ["queued", "in_progress", "error"]
    assert deployment.statuses[-1]["description"].startswith(
        "stopped by SIGTERM; the traffic split was restored (wine_quality-1 100%)")
    outputs = read_outputs(output.read_text())
    assert (outputs["decision"], outputs["reason_code"]) == ("stop", "failed")
    assert (outputs["environment"], outputs["deployment_id"]) == ("staging", str(deployment.id))
    assert json.loads(outputs["result"])["message"] == deployment.statuses[-1]["description"]
    assert not any("mlops-bot-lock" in ref for ref in github.repo().refs)  # released


def test_a_killed_deploy_jobs_lock_is_released_by_unlock_force(project, state, tmp_path, github):
    from tests.support.comments import comment

    job, _ = paused_action(project, state, tmp_path, github, "smoke")
    assert stopped(job, signal.SIGKILL) == -9
    assert any("mlops-bot-lock/staging" in ref for ref in github.repo().refs)
    repo = GitRepoBuilder(project.path)
    github.add_pull(8, project.head)
    github.set_permission("carol", "write")
    asked = comment(repo, tmp_path, github, "/unlock staging", login="carol", number=8)
    assert "only #7 can unlock it" in json.loads(asked.outputs["result"])["message"]
    forced = comment(repo, tmp_path, github, "/unlock staging --force", login="carol", number=8)
    assert forced.outputs["reason_code"] == "ok", forced.stderr
    assert not any("mlops-bot-lock" in ref for ref in github.repo().refs)
    assert traffic(state) == LEFT["smoke"] and intent(state) is not None  # the next one restores


def test_unlock_works_on_a_closed_pull_request(project, tmp_path, github):
    from tests.support.comments import comment

    repo = GitRepoBuilder(project.path)
    pull = github.add_pull(9, project.head)
    github.set_permission("alice", "write")
    locked = comment(repo, tmp_path, github, "/lock staging --reason release", number=9)
    assert locked.outputs["reason_code"] == "ok", locked.stderr
    pull.state = "closed"
    unlocked = comment(repo, tmp_path, github, "/unlock staging", number=9)
    assert unlocked.outputs["reason_code"] == "ok", unlocked.stderr
    assert not any("mlops-bot-lock" in ref for ref in github.repo().refs)


def test_a_killed_deploy_jobs_lock_lapses_and_the_next_deploy_job_recovers(
        project, state, tmp_path, github):
    asked = requested(project, state, tmp_path, github)
    job, _ = deploy_job(project, state, tmp_path, github, asked, "full",
                        MLOPS_BOT_LOCK_SECONDS="3")
    assert isinstance(job, Process) and stopped(job, signal.SIGKILL) == -9
    assert traffic(state) == LEFT["full"]
    time.sleep(3)  # its lock lapses: nobody renews it
    again = requested(project, state, tmp_path, github)  # not refused as env_locked
    next_job, output = deploy_job(project, state, tmp_path, github, again)
    _, stderr = next_job.communicate(timeout=120)
    assert next_job.returncode == 0, stderr
    assert "taking over the lock of staging held by #7: it expired at" in stderr
    result = json.loads(read_outputs(output.read_text())["result"])
    assert result["reason_code"] == "ok"
    [note] = result["details"]["notes"]
    assert note.endswith("the traffic split it recorded was put back (wine_quality-1 100%)")
    assert traffic(state) == {CANDIDATE: 100} and intent(state) is None
    assert not any("mlops-bot-lock" in ref for ref in github.repo().refs)
