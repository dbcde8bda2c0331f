"""Attacks on what `/deploy` pins, replayed through the action's entry point against the fake
GitHub (the real PyGithub client): each test is named for the attack and shows the refusal, its
reason code, that no Deployment was created, and what the PR is told. Each entry point run
takes seconds (PyGithub paces its requests), so the variants of each rule (which reviews count,
which check states are green, the base, forks, case-insensitive deployer lists) are in
tests/flows/test_deploy_requirements.py, in process against the same fake.

The comment is made at NOW (12:00:00); `add_pull` logs the PR branch's creation an hour earlier.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mlops_bot.github.run_checks import RunCheck
from tests.support.action import ActionRun, run_action
from tests.support.comments import comment, sticky
from tests.support.fake_github import NOW, FakeGitHub
from tests.support.fake_github_pulls import add_review, add_status, push_head
from tests.support.gitrepo import GitRepoBuilder, pipeline_files
from tests.support.run_checks import write_check

CONFIG = """
environments:
  staging:
    endpoint: alpha-staging
  production:
    endpoint: alpha-production
    require: [approved, checks, base]
  listed:
    endpoint: alpha-listed
    deployers: {users: [Alice]}
  forks:
    endpoint: alpha-forks
    allow_forks: true
"""
AFTER = "2024-05-01T12:00:30Z"  # 30 s after the comment
BEFORE = "2024-05-01T11:59:59Z"
OTHER = "c0ffee" + "1" * 34  # a commit that ran green on another branch


@pytest.fixture
def repo(tmp_path: Path) -> tuple[GitRepoBuilder, str]:
    repo = GitRepoBuilder(tmp_path / "repo")
    return repo, repo.commit({"mlops.yaml": CONFIG, **pipeline_files("alpha")})


def ran(github: FakeGitHub, sha: str) -> None:
    """The push job's check run on `sha`: a successful run of alpha."""
    write_check(github, RunCheck(pipeline="alpha", recorded_on=sha, run_status="succeeded",
                                 backend="local", version="v-0123456789abcdef",
                                 run_id="alpha-0123456789abcdef", produced_by=sha,
                                 metrics={"accuracy": 0.9}))


def refused(run: ActionRun, github: FakeGitHub, code: str) -> str:
    """The run was refused with `code`, no Deployment exists, and the sticky reply says so."""
    assert run.returncode == 0, run.stderr
    assert (run.outputs["decision"], run.outputs["reason_code"]) == ("stop", code), run.stderr
    assert not github.repo().deployments
    body = sticky(github)
    assert "refused" in body and f"reason: `{code}`" in body
    return body


def deployed(run: ActionRun, github: FakeGitHub, sha: str) -> None:
    assert (run.outputs["decision"], run.outputs["reason_code"]) == ("proceed", "ok"), run.stderr
    [deployment] = github.repo().deployments.values()
    assert deployment.fields["ref"] == sha and deployment.statuses[-1]["state"] == "queued"


@pytest.fixture
def pr(repo, github) -> str:
    """PR #7 of the repository's head, pushed before the comment, with a successful run;
    alice (who comments) may write, bob reviews with write permission."""
    _, head = repo
    github.add_pull(7, head)
    github.set_permission("alice", "write")
    github.set_permission("bob", "write")
    ran(github, head)
    return head


# -- the head the comment was written for --------------------------------------------------------
def test_force_push_after_deploy_comment_is_refused(repo, tmp_path, github, pr):
    push_head(github, 7, OTHER, at=AFTER, force=True)
    ran(github, OTHER)
    body = refused(comment(repo[0], tmp_path, github, "/deploy staging"), github,
                   "head_pushed_after_comment")
    assert "was pushed at 2024-05-01 12:00:30 UTC, after this comment (2024-05-01 12:00:00 UTC)"\
        in body
    assert f"`/deploy staging alpha {OTHER[:12]}`" in body  # how to deploy the new head


def test_pinned_sha_that_is_not_the_head_is_refused(repo, tmp_path, github, pr):
    push_head(github, 7, OTHER, at=AFTER, force=True)
    ran(github, OTHER)
    body = refused(comment(repo[0], tmp_path, github, f"/deploy staging alpha {pr[:7]}"),
                   github, "sha_not_head")
    assert f"`{pr[:7]}` is not the head of #7" in body and f"`{OTHER[:12]}`" in body


def test_force_push_in_the_same_second_as_the_comment_is_refused(repo, tmp_path, github, pr):
    # The comment's created_at and the activity log both count whole seconds: a push in the
    # comment's second may have come after it, so it is not "before".
    push_head(github, 7, OTHER, at=NOW, force=True)
    ran(github, OTHER)
    body = refused(comment(repo[0], tmp_path, github, "/deploy staging"), github,
                   "head_pushed_after_comment")
    assert "was pushed at 2024-05-01 12:00:00 UTC, after this comment" in body


def test_a_force_push_back_the_activity_log_has_not_recorded_yet_is_refused(
        repo, tmp_path, github, pr):
    # The malicious commit was on the branch earlier; the reviewed one replaced it; right after
    # the comment it is force-pushed back, and the comment job reads the log before GitHub has
    # recorded that push: its older push of the same commit must not count as "before".
    push_head(github, 7, OTHER, at="2024-05-01T11:30:00Z")
    push_head(github, 7, pr, at="2024-05-01T11:40:00Z", force=True)
    push_head(github, 7, OTHER, at=AFTER, force=True)
    github.repo().activity.pop()  # not in the log yet
    ran(github, OTHER)
    body = refused(comment(repo[0], tmp_path, github, "/deploy staging"), github,
                   "head_unverified")
    assert f"`/deploy staging alpha {OTHER}` (the whole SHA)" in body


@pytest.mark.parametrize("sha", [OTHER[:12].upper(), OTHER[:6]], ids=["uppercase", "6 digits"])
def test_uppercase_or_short_sha_is_answered_as_not_a_commit(repo, tmp_path, github, pr, sha):
    run = comment(repo[0], tmp_path, github, f"/deploy staging {sha}")
    assert (run.outputs["decision"], run.outputs["reason_code"]) == ("stop", "replied"), \
        run.stderr
    assert not github.repo().deployments
    body = sticky(github)
    assert "The commit is not valid: use a commit SHA: 7 to 40 lowercase hex digits" in body
    assert "Unknown pipeline" not in body


def test_a_fork_head_without_a_push_record_must_be_named_to_deploy(repo, tmp_path, github, pr):
    # A fork's pushes are in the fork's activity log, not this repository's: nothing says the
    # head was there before the comment, so the commenter names the commit they reviewed.
    github.add_pull(8, pr, head_repo="mallory/models")
    run = comment(repo[0], tmp_path, github, "/deploy forks", number=8)
    assert (run.outputs["decision"], run.outputs["reason_code"]) == ("stop", "head_unverified")
    assert not github.repo().deployments
    assert f"`/deploy forks alpha {pr}` (the whole SHA)" in sticky(github, 8)
    prefix = comment(repo[0], tmp_path, github, f"/deploy forks alpha {pr[:12]}", number=8)
    assert prefix.outputs["reason_code"] == "head_unverified", prefix.stderr
    named = comment(repo[0], tmp_path, github, f"/deploy forks alpha {pr}", number=8)
    deployed(named, github, pr)


def test_a_commit_sharing_the_reviewed_prefix_pushed_after_the_comment_is_refused(
        repo, tmp_path, github, pr):
    # The PR's author makes two commits whose SHAs share 12 hex digits (a birthday search:
    # seconds), gets one reviewed and pushes the other once the reviewer names the prefix.
    twin = pr[:12] + "f" * 28
    push_head(github, 7, twin, at=AFTER, force=True)
    ran(github, twin)
    body = refused(comment(repo[0], tmp_path, github, f"/deploy staging alpha {pr[:12]}"),
                   github, "head_pushed_after_comment")
    assert "was pushed at 2024-05-01 12:00:30 UTC, after this comment" in body


# -- the environment's requirements ------------------------------------------------------------
def test_unapproved_pr_is_refused_when_approval_required(repo, tmp_path, github, pr):
    body = refused(comment(repo[0], tmp_path, github, "/deploy production"), github,
                   "not_approved")
    assert "has approved the head" in body and "require: [approved, checks, base]" in body


def test_red_check_on_the_head_is_refused_when_checks_required(repo, tmp_path, github, pr):
    add_review(github, 7, "bob", "APPROVED")
    add_status(github, pr, "ci/test", "success")
    add_status(github, pr, "ci/test", "failure")  # the latest status of a context counts
    add_status(github, pr, "ci/docs", "pending")
    body = refused(comment(repo[0], tmp_path, github, "/deploy production"), github,
                   "checks_not_green")
    assert "`ci/docs` (pending), `ci/test` (failure)" in body


# -- who may deploy ------------------------------------------------------------------------------
def test_permission_check_error_tells_the_pr_no_api_internals(repo, tmp_path, github, pr):
    github.fail("permission", 502, times=None,
                message="upstream http://10.1.2.3:8080/internal/authz timed out")
    run = comment(repo[0], tmp_path, github, "/deploy staging")
    body = refused(run, github, "permission_denied")
    assert "Could not check @alice's permission on GitHub" in body
    for internal in ("10.1.2.3", "/internal/authz", "502", "127.0.0.1", github.url):
        assert internal not in body
    assert "10.1.2.3" in run.stderr  # the detail is in the job log only


@pytest.mark.parametrize("login", ["alice", "ALICE"])
def test_a_listed_deployer_commenting_in_another_case_may_deploy(repo, tmp_path, github, pr,
                                                                  login):
    github.set_permission(login, "write")
    deployed(comment(repo[0], tmp_path, github, "/deploy listed", login=login), github, pr)


def test_a_writer_not_in_the_deployer_list_is_refused(repo, tmp_path, github, pr):
    github.set_permission("alicia", "write")  # a prefix or lookalike of a listed login is not it
    body = refused(comment(repo[0], tmp_path, github, "/deploy listed", login="alicia"), github,
                   "permission_denied")
    assert "@alicia has `write` permission; this needs `write` or more and be one of `Alice`" \
        in body


# -- after approval: the deploy job looks again ----------------------------------------------------
def test_approval_dismissed_while_the_deploy_waited_is_refused_by_the_deploy_job(
        repo, tmp_path, github, pr):
    add_review(github, 7, "bob", "APPROVED")
    asked = comment(repo[0], tmp_path, github, "/deploy production")
    deployed(asked, github, pr)
    add_review(github, 7, "bob", "DISMISSED")  # e.g. the reviewer saw something late
    run = run_action(repo[0].path, tmp_path, "issue_comment", {
        "action": "created", "issue": {"number": 7}, "comment": {"id": 555}},
        inputs={"github-token": github.token, "command": "promote",
                "environment": "production", "sha": pr,
                "deployment-id": asked.outputs["deployment_id"]},
        env={"GITHUB_API_URL": github.url, "GITHUB_REPOSITORY": "octo/models"})
    assert (run.outputs["decision"], run.outputs["reason_code"]) == ("stop", "not_approved"), \
        run.stderr
    [deployment] = github.repo().deployments.values()
    assert deployment.statuses[-1]["state"] == "error"
    assert "reason: `not_approved`" in sticky(github)




def test_a_rollback_is_not_held_to_the_requirements_of_the_pr_it_was_asked_on(
        repo, tmp_path, github, pr):
    # `require` is about deploying the PR's commit; a rollback puts back what served before, so
    # neither job holds it to the PR's approval (an unapproved PR may ask for an emergency one).
    asked = comment(repo[0], tmp_path, github, "/rollback production")
    assert (asked.outputs["decision"], asked.outputs["reason_code"]) == ("proceed", "ok")
    run = run_action(repo[0].path, tmp_path, "issue_comment", {
        "action": "created", "issue": {"number": 7}, "comment": {"id": 555}},
        inputs={"github-token": github.token, "command": "promote",
                "environment": "production", "sha": pr,
                "deployment-id": asked.outputs["deployment_id"]},
        env={"GITHUB_API_URL": github.url, "GITHUB_REPOSITORY": "octo/models"})
    # Past every check of the Deployment and the PR: the rollback itself finds nothing served.
    assert run.outputs["reason_code"] == "failed", run.stderr
    assert "there is nothing to roll back" in run.outputs["result"]
