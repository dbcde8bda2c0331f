"""GitHub failing under the approved deploy job (`command: promote`), through the action's entry
point against the fake GitHub: the job exits 1 with one sentence (stderr and job summary) saying
what was asked, GitHub's answer and what it left, never with a traceback; nothing is half-done.

Before the Deployment is `in_progress` nothing was promoted and it still waits: re-running the
job deploys it. After, the promotion stands; the lock is released all the same (or said to lapse
when GitHub would not delete it), and a Deployment GitHub would not end is said to show
`in_progress` until the next deploy to the environment ends it (flows/superseded.end_abandoned).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from mlops_bot.github.locks import lock_ref
from tests.action.conftest import Pushed
from tests.action.test_deploy_job import EXAMPLE, MLOPS_YAML, promote_step, serving
from tests.support.action import ActionRun
from tests.support.comments import comment
from tests.support.fake_github import FakeGitHub
from tests.support.gitrepo import GitRepoBuilder
from tests.support.run_checks import pushed_with_checks

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pushed(tmp_path_factory: pytest.TempPathFactory) -> Pushed:
    """The example pipeline pushed once (conftest's `workspace` copies it for each test)."""
    folder = tmp_path_factory.mktemp("deploy-job-github-failures")
    repo = GitRepoBuilder(folder / "repo")
    base = repo.commit({".gitignore": ".mlops/\n", "mlops.yaml": MLOPS_YAML % "0.5"})
    shutil.copytree(EXAMPLE, repo.path / "pipelines" / "wine_quality")
    head = repo.commit()
    return repo.path, head, pushed_with_checks(repo.path, folder, base, head)


def requested(repo: GitRepoBuilder, tmp: Path, github: FakeGitHub, head: str) -> dict[str, str]:
    """`/deploy staging` on #7 by alice: the comment job's outputs, its Deployment queued."""
    github.add_pull(7, head)
    github.set_permission("alice", "write")
    asked = comment(repo, tmp, github, "/deploy staging")
    assert asked.outputs["decision"] == "proceed", asked.stderr
    return asked.outputs


def failed(job: ActionRun, *said: str) -> str:
    assert job.returncode == 1, job.stderr
    assert (job.outputs["decision"], job.outputs["reason_code"]) == ("stop", "failed")
    assert "Traceback" not in job.stderr and "unexpected failure" not in job.stderr
    [line] = [line for line in job.stderr.splitlines()
              if line.startswith("mlops-bot: stop (failed): ")]
    for text in said:
        assert text in line, line
    assert ":x: " in job.summary and "GitHub failed to" in job.summary
    return line


def states(github: FakeGitHub) -> list[str]:
    [deployment] = github.repo().deployments.values()
    return [s["state"] for s in deployment.statuses]


def test_a_deployment_github_fails_to_read_is_left_waiting(workspace, tmp_path, github):
    repo, head = workspace
    outputs = requested(repo, tmp_path, github, head)
    github.fail("get_deployment", 502, times=None)
    before = len(github.calls("get_deployment"))  # the comment job's
    job = promote_step(repo, tmp_path, github, outputs)
    failed(job, f"GitHub failed to read deployment {outputs['deployment_id']}",
           "(502 Server Error)", "nothing was promoted",
           f"deployment {outputs['deployment_id']} was left as it was",
           "re-run this job once GitHub answers again")
    assert len(github.calls("get_deployment")) - before == 4  # the request and 3 retries
    assert states(github) == ["queued"] and serving(repo) == [] and not github.repo().refs


def test_a_deployment_github_fails_to_start_promotes_nothing_and_a_rerun_deploys_it(
        workspace, tmp_path, github):
    repo, head = workspace
    outputs = requested(repo, tmp_path, github, head)
    github.fail("create_status", 502)  # `in_progress`, once
    job = promote_step(repo, tmp_path, github, outputs)
    failed(job, f"GitHub failed to set deployment {outputs['deployment_id']} to in_progress",
           "nothing was promoted", "re-run this job once GitHub answers again")
    assert states(github) == ["queued"] and serving(repo) == []
    assert lock_ref("staging") not in github.repo().refs  # released on the way out
    again = promote_step(repo, tmp_path, github, outputs)  # the re-run the sentence asks for
    assert again.returncode == 0, again.stderr
    assert states(github) == ["queued", "in_progress", "success"]
    assert serving(repo) == [("wine_quality", 100)]


def test_a_promotion_github_fails_to_end_says_so_and_releases_the_lock(workspace, tmp_path,
                                                                      github):
    repo, head = workspace
    outputs = requested(repo, tmp_path, github, head)
    deployment = outputs["deployment_id"]
    github.fail("create_status", 502, times=None, after=1)  # all after `in_progress`
    job = promote_step(repo, tmp_path, github, outputs)
    failed(job, "the deploy job ended ok: ", "but GitHub failed to report it: GitHub failed to "
           f"set deployment {deployment} to success", f"deployment {deployment} may still "
           "show in_progress: the next deploy to staging ends it", "what the deploy did stands")
    assert len(github.calls("create_status")) == 1 + 2 + 1  # queued; in_progress, success, again
    assert states(github) == ["queued", "in_progress"]
    assert serving(repo) == [("wine_quality", 100)]  # the promotion stands
    assert lock_ref("staging") not in github.repo().refs
    assert "Deployed" not in "".join(c.body for c in github.comments(7))  # never claimed


def test_a_promotion_whose_comment_github_fails_to_edit_is_still_ended(workspace, tmp_path,
                                                                      github):
    repo, head = workspace
    outputs = requested(repo, tmp_path, github, head)
    github.fail("edit_comment", 502, times=None)
    job = promote_step(repo, tmp_path, github, outputs)
    failed(job, "GitHub failed to comment on pull request #7",
           f"deployment {outputs['deployment_id']} is success")
    assert states(github) == ["queued", "in_progress", "success"]
    assert "wine_quality" in job.summary  # the report is in the job summary all the same


def test_a_lock_github_fails_to_release_is_said_to_lapse(workspace, tmp_path, github):
    repo, head = workspace
    outputs = requested(repo, tmp_path, github, head)
    github.fail("delete_ref", 502, times=None)
    job = promote_step(repo, tmp_path, github, outputs)
    assert job.returncode == 0, job.stderr  # deployed: the lock lapses by itself
    assert states(github) == ["queued", "in_progress", "success"]
    assert "the lock of staging could not be released (GitHub failed to delete" in job.stderr
    assert "it lapses 600 seconds after its last renewal" in job.summary
    assert lock_ref("staging") in github.repo().refs
