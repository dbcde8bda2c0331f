"""PR comment commands end to end: the entry point, PyGithub against the fake GitHub, and the
local backend. Each refusal is a sticky reply with its reason code."""

from __future__ import annotations

import json

import pytest

from tests.support.comments import comment, sticky


def test_deploy_pins_the_head_creates_a_deployment_and_waits_for_approval(workspace, tmp_path, github):
    repo, head = workspace
    github.add_pull(7, head)
    github.set_permission("alice", "write")
    run = comment(repo, tmp_path, github, "/deploy staging")
    assert run.returncode == 0, run.stderr
    assert (run.outputs["decision"], run.outputs["reason_code"]) == ("proceed", "ok")
    assert run.outputs["sha"] == head and run.outputs["environment"] == "staging"
    [deployment] = github.repo().deployments.values()
    assert str(deployment.id) == run.outputs["deployment_id"]
    assert deployment.fields["ref"] == head and deployment.fields["environment"] == "staging"
    payload = deployment.fields["payload"]
    payload = json.loads(payload) if isinstance(payload, str) else payload
    assert payload["pipeline"] == "alpha" and payload["pull_request"] == 7
    assert deployment.statuses[-1]["state"] == "queued"
    body = sticky(github)
    assert "waiting for approval" in body and head in body
    assert json.loads(run.outputs["versions"])[0]["pipeline"] == "alpha"


@pytest.mark.parametrize(("permission", "environment", "allowed"), [
    ("read", "staging", False), ("triage", "staging", False), ("write", "staging", True),
    ("write", "production", False), ("maintain", "production", True)])
def test_permission_is_checked_per_environment(workspace, tmp_path, github, permission,
                                               environment, allowed):
    repo, head = workspace
    github.add_pull(7, head)
    github.set_permission("bob", permission)
    run = comment(repo, tmp_path, github, f"/deploy {environment}", login="bob")
    assert run.outputs["reason_code"] == ("ok" if allowed else "permission_denied")
    assert bool(github.repo().deployments) is allowed


def test_an_error_checking_permission_denies(workspace, tmp_path, github):
    repo, head = workspace
    github.add_pull(7, head)
    github.set_permission("alice", "admin")
    github.fail("permission", 500, times=None)
    run = comment(repo, tmp_path, github, "/deploy staging")
    assert run.outputs["reason_code"] == "permission_denied"
    assert "denied" in sticky(github) and not github.repo().deployments


def test_fork_pull_requests_are_refused(workspace, tmp_path, github):
    repo, head = workspace
    github.add_pull(7, head, head_repo="mallory/models")
    github.set_permission("alice", "write")
    run = comment(repo, tmp_path, github, "/deploy staging")
    assert run.outputs["reason_code"] == "fork_refused" and not github.repo().deployments


def test_environment_locked_by_another_pull_request(workspace, tmp_path, github):
    repo, head = workspace
    github.add_pull(7, head)
    github.add_pull(8, head)
    github.set_permission("alice", "write")
    locked = comment(repo, tmp_path, github, "/lock staging --reason load test", number=8)
    assert locked.outputs["reason_code"] == "ok"
    assert "refs/heads/mlops-bot-lock/staging" in github.repo().refs  # the lock lives on GitHub
    run = comment(repo, tmp_path, github, "/deploy staging")
    assert run.outputs["reason_code"] == "env_locked"
    assert "locked by #8" in sticky(github) and "load test" in sticky(github)
    refused = comment(repo, tmp_path, github, "/unlock staging")
    assert refused.outputs["reason_code"] == "failed" and "only #8 can unlock" in sticky(github)
    assert comment(repo, tmp_path, github, "/unlock staging", number=8).outputs["reason_code"] == "ok"
    assert not github.repo().refs
    assert comment(repo, tmp_path, github, "/deploy staging").outputs["reason_code"] == "ok"


def test_deploy_without_a_successful_run_says_how_to_get_one(workspace, tmp_path, github):
    repo, _ = workspace
    other = "f" * 40
    github.add_pull(7, other)
    github.set_permission("alice", "write")
    run = comment(repo, tmp_path, github, "/deploy staging")
    assert run.outputs["reason_code"] == "run_missing"
    reply = sticky(github)
    assert "no check run `mlops-bot: alpha` on commit `ffffffffffff`" in reply
    assert "push to the PR branch" in reply and "mlops-push.yml" in reply
    assert not github.repo().deployments


def test_rollback_needs_no_run_of_the_pr_and_waits_for_approval(workspace, tmp_path, github):
    repo, _ = workspace
    other = "f" * 40  # a head with no run: a rollback puts back what served before
    github.add_pull(7, other)
    github.set_permission("alice", "write")
    run = comment(repo, tmp_path, github, "/rollback staging alpha")
    assert (run.outputs["decision"], run.outputs["reason_code"]) == ("proceed", "ok"), run.stderr
    [deployment] = github.repo().deployments.values()
    payload = deployment.fields["payload"]
    payload = json.loads(payload) if isinstance(payload, str) else payload
    assert (payload["action"], payload["pipeline"], payload["pull_request"]) == (
        "rollback", "alpha", 7)
    assert "run_id" not in payload
    assert deployment.statuses[-1]["state"] == "queued"
    assert "Roll back `alpha` in `staging`" in sticky(github)


def test_unknown_environment_gets_a_did_you_mean_reply(workspace, tmp_path, github):
    repo, head = workspace
    github.add_pull(7, head)
    run = comment(repo, tmp_path, github, "/deploy stagin")
    assert run.outputs["reason_code"] == "replied"
    assert "staging" in sticky(github)


@pytest.mark.parametrize(("kwargs", "body"), [
    ({"action": "edited"}, "/deploy staging"),
    ({"user_type": "Bot"}, "/deploy staging"),
    ({"pull": False}, "/deploy staging"),
    ({}, "looks good to me"),
    ({}, "/deployx staging"),
])
def test_comments_that_are_not_commands_are_ignored_silently(workspace, tmp_path, github, kwargs, body):
    repo, head = workspace
    github.add_pull(7, head)
    run = comment(repo, tmp_path, github, body, **kwargs)
    assert (run.returncode, run.outputs["reason_code"]) == (0, "ignored")
    assert not github.writes()
