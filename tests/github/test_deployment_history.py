"""A deployment's statuses are read past GitHub's first page (100): a `success` or `failure` a
spammer buried under re-queued statuses still makes the deploy job refuse it as a replay, and a
deployment with more statuses than the job reads is refused rather than guessed about.

Through the real PyGithub client against the fake GitHub, which pages as GitHub does (per_page
at most 100, newest first, Link rel="next"); the deploy job through the action's entry point.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mlops_bot.flows.deployment_checks import HISTORY_READ
from mlops_bot.github.deployment_payload import stamped
from mlops_bot.github.pygithub_client import ClientSettings
from mlops_bot.github.pygithub_forge import GithubForge
from tests.support.action import ActionRun, run_action
from tests.support.fake_github import NOW, FakeGitHub
from tests.support.gitrepo import GitRepoBuilder, pipeline_files

CONFIG = "environments:\n  staging:\n    endpoint: alpha-staging\n"


def forge(github: FakeGitHub) -> GithubForge:
    return GithubForge("octo/models", github.token, github.url,
                       settings=ClientSettings(timeout=5, backoff_factor=0, pace=False))


def add_statuses(github: FakeGitHub, deployment: int, states: list[str],
                 login: str = "mallory") -> None:
    """Statuses as a user with `deployments: write` adds them (straight into the fake's state:
    posting thousands would only slow the test)."""
    statuses = github.repo().deployments[deployment].statuses
    for state in states:
        statuses.append({"state": state, "description": "re-queued", "id": 90000 + len(statuses),
                         "created_at": NOW, "creator": github.user_json(login)})


def requested(github: FakeGitHub, sha: str) -> int:
    """What `/deploy staging` on #7 leaves: the bot's Deployment of `sha`, queued."""
    made = forge(github)
    deployment = made.create_deployment(sha, "staging", stamped({
        "action": "deploy", "pipeline": "alpha", "version": "v-0123456789abcdef",
        "run_id": "alpha-0123456789abcdef", "parameters": {"size": 1}, "produced_by": sha,
        "backend": "local", "sha": sha, "pull_request": 7, "requested_by": "alice"}),
        "deploy alpha")
    made.set_deployment_status(deployment, "queued", "waiting for approval")
    return deployment


def deploy_job(github: FakeGitHub, repo: GitRepoBuilder, tmp: Path, sha: str,
               deployment: int) -> ActionRun:
    event = {"action": "created", "issue": {"number": 7, "pull_request": {}},
             "comment": {"id": 555}}
    return run_action(repo.path, tmp, "issue_comment", event, inputs={
        "github-token": github.token, "command": "promote", "environment": "staging",
        "sha": sha, "deployment-id": str(deployment)},
        env={"GITHUB_API_URL": github.url, "GITHUB_REPOSITORY": "octo/models"})


@pytest.fixture
def scene(github: FakeGitHub, tmp_path: Path) -> tuple[GitRepoBuilder, str]:
    repo = GitRepoBuilder(tmp_path / "repo")
    sha = repo.commit({"mlops.yaml": CONFIG, **pipeline_files("alpha")})
    github.add_pull(7, sha)
    return repo, sha


def test_every_page_of_statuses_is_read_newest_first(github):
    github.repo().commits.add("a" * 40)
    deployment = requested(github, "a" * 40)
    add_statuses(github, deployment, ["success"] + ["queued"] * 148)  # 150 in all
    states = forge(github).deployment_states(deployment, limit=HISTORY_READ + 1)
    assert len(states) == 150
    assert states[0] == "queued" and states[-2:] == ["success", "queued"]
    pages = github.calls("list_statuses")
    assert [(r.query["per_page"], r.query.get("page", "1")) for r in pages] == [
        ("100", "1"), ("100", "2")]


def test_only_the_pages_a_caller_wants_are_read(github):
    github.repo().commits.add("a" * 40)
    deployment = requested(github, "a" * 40)
    add_statuses(github, deployment, ["queued"] * 149)
    assert forge(github).deployment_states(deployment, limit=1) == ["queued"]
    assert len(github.calls("list_statuses")) == 1


@pytest.mark.slow
def test_a_success_beyond_the_first_page_of_statuses_is_a_replay(github, scene, tmp_path):
    repo, sha = scene
    deployment = requested(github, sha)
    add_statuses(github, deployment, ["in_progress", "success"], login="github-actions[bot]")
    add_statuses(github, deployment, ["queued"] * 147)  # 150: the success is on page 2
    job = deploy_job(github, repo, tmp_path, sha, deployment)
    assert (job.outputs["decision"], job.outputs["reason_code"]) == ("stop", "replayed"), \
        job.stderr
    assert job.returncode == 0 and "Traceback" not in job.stderr
    assert f"deployment {deployment} is success before it was set queued again" in job.stderr
    statuses = github.repo().deployments[deployment].statuses
    assert len(statuses) == 150 and statuses[-1]["state"] == "queued"  # left as it is
    assert not github.calls("create_ref")  # no lock taken: nothing was promoted
    assert len(github.calls("list_statuses")) == 2


@pytest.mark.slow
def test_more_statuses_than_the_job_reads_is_refused_not_guessed(github, scene, tmp_path):
    repo, sha = scene
    deployment = requested(github, sha)
    add_statuses(github, deployment, ["queued"] * HISTORY_READ)  # all waiting, but too many
    job = deploy_job(github, repo, tmp_path, sha, deployment)
    assert job.outputs["reason_code"] == "replayed", job.stderr
    assert f"has more than {HISTORY_READ:,} statuses" in job.stderr
    assert github.repo().deployments[deployment].statuses[-1]["state"] == "queued"
    assert not github.calls("create_ref")
    assert len(github.calls("list_statuses")) == HISTORY_READ // 100 + 1
