"""GitHub failing under the comment, plan and status jobs, through the action's entry point
against the fake GitHub: a 502 on one route (after the client's retries where it retries: not
a POST), or a 422. The job exits 1, not 3: one sentence on stderr and in the job summary, saying
what was asked, GitHub's answer (never the token) and that re-running the job is the fix; and it
leaves nothing half-done (a Deployment it created ends, a lock stays as it was).

The comment job runs as in test_comment_without_cloud: backend gcp, no cloud credentials, the
push job's record written straight into the fake.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mlops_bot.github.locks import lock_ref
from mlops_bot.github.run_checks import RunCheck
from mlops_bot.report.markdown import plain
from tests.support.action import CLOSED, UNREACHABLE_GCP_CONFIG, ActionRun, run_action
from tests.support.fake_github import ACTIONS_BOT, NOW, FakeGitHub
from tests.support.gitrepo import GitRepoBuilder, pipeline_files
from tests.support.run_checks import write_check

TOKEN = "ghs_do_not_print_this_token_0123456789"
NO_GOOGLE = {"GOOGLE_APPLICATION_CREDENTIALS": "/nonexistent/credentials.json",
             "GCE_METADATA_HOST": "127.0.0.1:9", "GCE_METADATA_IP": "127.0.0.1:9"}
ENV = {"GITHUB_REPOSITORY": "octo/models", **NO_GOOGLE}


@pytest.fixture
def scene(github: FakeGitHub, tmp_path: Path) -> tuple[GitRepoBuilder, str]:
    """#7 whose head the push job ran alpha for (its record on the head), alice may write,
    and the workflow token is one that must never be printed."""
    github.token = TOKEN
    repo = GitRepoBuilder(tmp_path / "repo")
    sha = repo.commit({"mlops.yaml": UNREACHABLE_GCP_CONFIG, **pipeline_files("alpha")})
    github.add_pull(7, sha)
    github.set_permission("alice", "write")
    write_check(github, RunCheck(
        pipeline="alpha", recorded_on=sha, run_status="succeeded", backend="gcp",
        version="v-0123456789abcdef", run_id="alpha-0123456789abcdef", produced_by=sha,
        parameters={"size": 1}, metrics={"accuracy": 0.93}))
    return repo, sha


def ask(repo: GitRepoBuilder, tmp: Path, github: FakeGitHub, body: str) -> ActionRun:
    event = {"action": "created",
             "issue": {"number": 7, "pull_request": {"url": f"{github.url}/pulls/7"}},
             "comment": {"id": 555, "body": body, "user": {"login": "alice", "type": "User"},
                         "created_at": NOW}}
    return run_action(repo.path, tmp, "issue_comment", event, inputs={"github-token": TOKEN},
                      env={"GITHUB_API_URL": github.url, **ENV})


def failed(run: ActionRun, *said: str) -> str:
    """The job failed as GitHub failing should: exit 1, one sentence (on stderr and in the job
    summary) holding `said` and the way on, no traceback, no token. Returns the sentence."""
    assert run.returncode == 1, run.stderr
    assert (run.outputs["decision"], run.outputs["reason_code"]) == ("stop", "failed")
    assert "Traceback" not in run.stderr and "unexpected failure" not in run.stderr
    for text in (run.stderr, run.summary, *run.outputs.values()):
        assert TOKEN not in text
    [line] = [line for line in run.stderr.splitlines()
              if line.startswith("mlops-bot: stop (failed): ")]
    for text in (*said, "re-run this job once GitHub answers again"):
        assert text in line, line
    assert plain(said[0]) in run.summary, run.summary
    return line


def told(github: FakeGitHub, marker: str = "staging") -> str:
    [body] = [c.body for c in github.comments(7) if c.author == ACTIONS_BOT
              and c.body.startswith(f"<!-- mlops-bot:{marker} -->")]
    return body


# -- the comment job: /deploy ----------------------------------------------------------------
def test_a_deployment_github_fails_to_create_fails_the_job_with_a_sentence(scene, tmp_path,
                                                                           github):
    repo, sha = scene
    github.fail("create_deployment", 502, times=None)
    run = ask(repo, tmp_path, github, "/deploy staging")
    failed(run, f"GitHub failed to create a deployment of {sha[:12]} to staging in octo/models",
           "(502 Server Error)", "`/deploy staging` was not done")
    assert not github.repo().deployments
    assert "GitHub failed while this command ran, so it was not done" in told(github)


def test_a_deployment_github_refuses_with_422_fails_the_job_with_its_answer(scene, tmp_path,
                                                                            github):
    repo, _ = scene
    github.fail("create_deployment", 422, message="Validation Failed")
    run = ask(repo, tmp_path, github, "/deploy staging")
    failed(run, "GitHub failed to create a deployment", "(422 Validation Failed)")
    assert len(github.calls("create_deployment")) == 1  # a POST is never retried
    assert not github.repo().deployments


def test_a_deployment_left_without_its_queued_status_is_ended(scene, tmp_path, github):
    repo, _ = scene
    github.fail("create_status", 502)  # once: the POST of `queued`, which is not retried
    run = ask(repo, tmp_path, github, "/deploy staging")
    [deployment] = github.repo().deployments.values()
    failed(run, f"GitHub failed to set deployment {deployment.id} to queued",
           f"(deployment {deployment.id}, which it had created, was ended)")
    assert [s["state"] for s in deployment.statuses] == ["error"]  # nothing waits for approval


def test_a_request_the_pr_could_not_be_told_of_is_ended(scene, tmp_path, github):
    repo, _ = scene
    github.fail("create_comment", 502, times=None)
    run = ask(repo, tmp_path, github, "/deploy staging")
    [deployment] = github.repo().deployments.values()
    line = failed(run, "GitHub failed to comment on pull request #7",
                  f"(deployment {deployment.id}, which it had created, was ended)")
    assert "warning: could not tell #7" in run.stderr and "Traceback" not in line
    assert [s["state"] for s in deployment.statuses] == ["queued", "error"]


def test_the_next_request_ends_one_github_left_without_any_status(scene, tmp_path, github):
    repo, _ = scene
    github.fail("create_status", 502, times=2)  # `queued`, then the `error` that would end it
    first = ask(repo, tmp_path, github, "/deploy staging")
    [left] = github.repo().deployments.values()
    failed(first, f"could not be ended either: GitHub failed to set deployment {left.id} to "
           "error", "the next request to staging ends it")
    assert left.statuses == []
    again = ask(repo, tmp_path, github, "/deploy staging")
    assert (again.returncode, again.outputs["reason_code"]) == (0, "ok"), again.stderr
    assert [s["state"] for s in left.statuses] == ["error"]
    assert "superseded by deployment" in left.statuses[-1]["description"]


# -- the comment job: /lock, /unlock, /plan --------------------------------------------------
def test_an_unlock_github_fails_keeps_the_lock_and_fails_the_job(scene, tmp_path, github):
    repo, _ = scene
    locked = ask(repo, tmp_path, github, "/lock staging")
    assert locked.outputs["reason_code"] == "ok", locked.stderr
    github.fail("delete_ref", 502, times=None)  # a DELETE: retried, then given up
    run = ask(repo, tmp_path, github, "/unlock staging")
    failed(run, "GitHub failed to delete", "(502 Server Error)", "`/unlock staging` was not done")
    assert len(github.calls("delete_ref")) == 4  # the request and the client's 3 retries
    assert lock_ref("staging") in github.repo().refs  # still locked, as the sentence says


def test_a_lock_github_fails_to_take_fails_the_job(scene, tmp_path, github):
    repo, _ = scene
    github.fail("create_ref", 502)
    run = ask(repo, tmp_path, github, "/lock staging")
    failed(run, "GitHub failed to create refs/heads/mlops-bot-lock/staging",
           "`/lock staging` was not done")
    assert not github.repo().refs


def test_a_plan_github_fails_to_show_fails_the_job(scene, tmp_path, github):
    repo, _ = scene
    github.fail("list_comments", 502, times=None)
    run = ask(repo, tmp_path, github, "/plan")
    failed(run, "GitHub failed to comment on pull request #7", "`/plan` was not done")


def test_a_reply_github_fails_to_post_fails_the_job(scene, tmp_path, github):
    repo, _ = scene
    github.fail("create_comment", 502, times=None)
    run = ask(repo, tmp_path, github, "/deploy stagign")  # answered with "did you mean"
    failed(run, "GitHub failed to comment on pull request #7")


# -- the plan (pull_request) and status jobs -------------------------------------------------
def test_the_plan_comment_github_fails_to_write_fails_the_job(scene, tmp_path, github):
    repo, sha = scene
    base = repo.commit({"README.md": "docs\n"})
    github.fail("create_comment", 502, times=None)
    event = {"pull_request": {"number": 7, "base": {"sha": base}, "head": {"sha": sha}}}
    run = run_action(repo.path, tmp_path, "pull_request", event, inputs={"github-token": TOKEN},
                     env={"GITHUB_API_URL": github.url, **ENV})
    failed(run, "GitHub failed to comment on pull request #7", "(502 Server Error)")


def test_status_stops_at_the_first_commit_github_fails_to_answer_for(github, tmp_path):
    github.token = TOKEN
    repo = GitRepoBuilder(tmp_path / "repo")
    repo.commit({"mlops.yaml": "environments:\n  staging:\n    endpoint: alpha-staging\n"})
    repo.git("branch", "other")
    repo.commit({"README.md": "docs\n"})
    github.fail("list_check_runs", 502, times=None)
    run = run_action(repo.path, tmp_path, "workflow_dispatch", {},
                     inputs={"github-token": TOKEN, "command": "status"},
                     env={"GITHUB_API_URL": github.url, **ENV})
    assert run.returncode == 1, run.stderr
    assert run.outputs["reason_code"] == "failed" and "Traceback" not in run.stderr
    assert "GitHub failed to list the check runs of" in run.stderr
    assert "1 commit(s) after it were not looked at: run the status job again" in run.stderr
    assert "GitHub failed to list the check runs of" in run.summary
    assert len(github.calls("list_check_runs")) == 4  # one commit: the request and 3 retries
    assert TOKEN not in run.stderr + run.summary


def test_an_unreachable_github_fails_the_comment_job_with_a_sentence(scene, tmp_path, github):
    repo, _ = scene
    event = {"action": "created",
             "issue": {"number": 7, "pull_request": {"url": f"{github.url}/pulls/7"}},
             "comment": {"id": 555, "body": "/deploy staging", "created_at": NOW,
                         "user": {"login": "alice", "type": "User"}}}
    run = run_action(repo.path, tmp_path, "issue_comment", event, inputs={"github-token": TOKEN},
                     env={"GITHUB_API_URL": CLOSED, **ENV})  # nothing listens there
    failed(run, f"cannot reach GitHub at {CLOSED} to read the token's user",
           "check GITHUB_API_URL", "`/deploy staging` was not done")
