"""The action image for real: `docker build` of the repository's Dockerfile (once per module),
then the container run as GitHub runs a `using: docker` action (tests.support.action.run_in_image:
workspace at /github/workspace, file commands, event file, GITHUB_* and INPUT_*, the image's USER).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from tests.action.conftest import CONFIG
from tests.support.action import RUNNER_UID, hand_to, run_action
from tests.support.comments import comment, sticky
from tests.support.docker import docker, require_docker
from tests.support.gitrepo import GitRepoBuilder, pipeline_files
from tests.support.run_checks import push_event

pytestmark = pytest.mark.docker

ROOT = Path(__file__).parents[2]
EXAMPLE = ROOT / "pipelines" / "wine_quality"
PUSH = {"ref": "refs/heads/main"}
STAGING = "environments:\n  staging:\n    endpoint: wine-staging\n"


@pytest.fixture(scope="module")
def image() -> str:
    """The action image built from the repository's Dockerfile (cached layers make it seconds
    after the first build on a machine)."""
    require_docker()
    tag = "mlops-bot-action:test"
    docker("build", "--quiet", "--tag", tag, str(ROOT), timeout=1800)
    return tag


def changed_pipeline(tmp_path: Path) -> tuple[GitRepoBuilder, str, str]:
    repo = GitRepoBuilder(tmp_path / "repo")
    base = repo.commit({".gitignore": ".mlops/\n", "mlops.yaml": CONFIG,
                        **pipeline_files("alpha")})
    head = repo.commit({"pipelines/alpha/src/logic.py": "X = 1\n"})
    return repo, base, head


def test_a_dry_run_push_writes_outputs_and_the_job_summary(docker_engine, image, tmp_path):
    repo, base, head = changed_pipeline(tmp_path)
    hand_to(repo.path, RUNNER_UID)  # a GitHub-hosted runner's checkout
    run = run_action(repo.path, tmp_path, "push", {"before": base, "after": head, **PUSH},
                     inputs={"dry-run": "true"}, image=image)
    assert run.returncode == 0, run.stderr
    assert (run.outputs["decision"], run.outputs["reason_code"]) == ("proceed", "ok")
    assert run.outputs["sha"] == head
    assert json.loads(run.outputs["pipelines"]) == {"include": [{"pipeline": "alpha"}]}
    assert json.loads(run.outputs["versions"]) == []
    assert json.loads(run.outputs["result"])["schema_version"] == 1
    assert f"push main @ {head[:12]}" in run.summary and "dry run" in run.summary
    assert not (repo.path / ".mlops").exists()


def test_push_then_deploy_from_a_comment_on_the_local_backend(docker_engine, image, tmp_path,
                                                              github):
    """The issue's loop, every job in the image: the push job builds, publishes and runs the
    example, `/deploy staging` creates the Deployment, the approved deploy job loads the model,
    smoke-tests it and ends the Deployment in success (it died on `No module named 'numpy'`)."""
    repo = GitRepoBuilder(tmp_path / "repo")
    base = repo.commit({".gitignore": ".mlops/\n", "mlops.yaml": STAGING})
    shutil.copytree(EXAMPLE, repo.path / "pipelines" / "wine_quality")
    head = repo.commit()
    hand_to(repo.path, RUNNER_UID)
    # Deploying on backend local needs state that outlives a job: a self-hosted runner's
    # persistent folder, here the workspace every job of the test mounts.
    state = {"MLOPS_BOT_STATE_DIR": "/github/workspace/.mlops"}
    pushed = push_event(repo.path, tmp_path, github, base, head, env=state, image=image)
    assert pushed.returncode == 0, pushed.stderr
    assert (pushed.outputs["decision"], pushed.outputs["reason_code"]) == ("proceed", "ok")
    [version] = json.loads(pushed.outputs["versions"])
    assert (version["pipeline"], version["status"]) == ("wine_quality", "published")
    [pipeline_run] = json.loads(pushed.outputs["result"])["details"]["runs"]
    assert pipeline_run["status"] == "succeeded", pushed.stderr
    assert f"| wine_quality | {version['version']} | published |" in pushed.summary
    assert f"| {pipeline_run['run_id']} | succeeded |" in pushed.summary
    # The local backend's state, written under the workspace by the container's user.
    written = repo.path / ".mlops"
    assert (written / "registry" / "pipelines" / "wine_quality").is_dir()
    assert json.loads((written / "runs" / pipeline_run["run_id"] / "run.json").read_text())
    assert (written / "runs").stat().st_uid == RUNNER_UID

    github.add_pull(7, head)
    github.set_permission("alice", "write")
    asked = comment(repo, tmp_path, github, "/deploy staging", image=image, env=state)
    assert asked.outputs["decision"] == "proceed", asked.stderr
    job = run_action(repo.path, tmp_path, "issue_comment", {
        "action": "created", "issue": {"number": 7}, "comment": {"id": 555}}, inputs={
        "github-token": github.token, "command": "promote", "sha": asked.outputs["sha"],
        "environment": asked.outputs["environment"],
        "deployment-id": asked.outputs["deployment_id"]},
        env={"GITHUB_API_URL": github.url, "GITHUB_REPOSITORY": "octo/models", **state},
        image=image)
    assert job.returncode == 0, job.stderr
    assert (job.outputs["decision"], job.outputs["reason_code"]) == ("proceed", "ok")
    [deployment] = github.repo().deployments.values()
    assert deployment.statuses[-1]["state"] == "success"
    result = json.loads(job.outputs["result"])["details"]
    assert result["smoke"]["instances"] > 0 and result["traffic_after"], result
    assert "wine_quality" in job.summary


def test_comment_commands_reach_github_from_the_container(docker_engine, image, tmp_path,
                                                           github):
    repo, _, head = changed_pipeline(tmp_path)
    hand_to(repo.path, RUNNER_UID)
    github.add_pull(7, head)
    github.set_permission("alice", "write")
    helped = comment(repo, tmp_path, github, "/help", image=image)
    assert helped.returncode == 0, helped.stderr
    assert "/deploy" in sticky(github) and "/lock" in sticky(github)
    locked = comment(repo, tmp_path, github, "/lock staging --reason load test", image=image)
    assert locked.returncode == 0, locked.stderr
    assert (locked.outputs["reason_code"], locked.outputs["environment"]) == ("ok", "staging")
    # Its own sticky reply beside the help one: the environment's.
    [reply] = [c for c in github.comments(7) if str(c.id) == locked.outputs["comment_id"]]
    assert "staging" in reply.body and "load test" in reply.body


def test_a_workspace_owned_by_another_user_is_read(docker_engine, image, tmp_path):
    # A self-hosted runner running as root: its checkout is root's, read-only to uid 1001; the
    # runner's own files (outputs, summary, home) are writable, as the runner makes them.
    repo, base, head = changed_pipeline(tmp_path)
    hand_to(repo.path, 0, 0o644)
    try:
        _read_a_workspace_owned_by_root(image, repo, base, head, tmp_path)
    finally:
        hand_to(repo.path, os.geteuid(), 0o644)  # the test's own again, so it can be removed


def _read_a_workspace_owned_by_root(image, repo, base, head, tmp_path):
    # Git in the image refuses this checkout; mlops-bot says so, with the fix, not "not a commit".
    refused = docker("run", "--rm", "-v", f"{repo.path}:/work", "--workdir", "/work",
                     "--entrypoint", "mlops-bot", image, "plan", "--base", base, "--head", head,
                     check=False)
    assert refused.returncode != 0 and "not a commit" not in refused.stderr
    assert "git refuses to read /work: it is owned by another user" in refused.stderr
    assert "safe.directory /work" in refused.stderr
    # The action trusts exactly the workspace it is given.
    run = run_action(repo.path, tmp_path, "push", {"before": base, "after": head, **PUSH},
                     inputs={"dry-run": "true"}, image=image)
    assert run.returncode == 0, run.stderr
    assert "dubious ownership" not in run.stderr and "not a commit" not in run.stderr
    assert (run.outputs["decision"], run.outputs["sha"]) == ("proceed", head)
    assert json.loads(run.outputs["pipelines"]) == {"include": [{"pipeline": "alpha"}]}
    assert "dry run" in run.summary
