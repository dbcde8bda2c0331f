"""The rules of mlops_bot.flows.deploy_requirements, in process: GithubForge (the real PyGithub
client, unpaced) against the fake GitHub, which serves reviews, statuses and the activity log
paginated as GitHub does. The entry point replays the attacks in tests/github/test_attacks_pinning.py.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from mlops_bot.config import parse_config
from mlops_bot.errors import ConfigError
from mlops_bot.flows.deploy_requirements import pinned, recheck, unmet
from mlops_bot.github.pygithub_client import ClientSettings
from mlops_bot.github.pygithub_forge import GithubForge
from tests.support.fake_github import FakeGitHub
from tests.support.fake_github_pulls import add_review, add_status, log_push, push_head

HEAD, OTHER = "a" * 40, "b" * 40
COMMENTED = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
FAST = ClientSettings(timeout=2, backoff_factor=0, pace=False)
CONFIG = parse_config("""
environments:
  prod:
    endpoint: prod
    require: [approved, checks, base]
  gated:
    endpoint: gated
    require: [checks]
    required_checks: [lint]
  open:
    endpoint: open
""", "mlops.yaml")


@pytest.fixture
def fake(monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    server = FakeGitHub(max_page_size=2).start()  # pages of 2: every list is read across pages
    server.add_pull(7, HEAD)
    for login, permission in (("bob", "write"), ("carol", "maintain"), ("eve", "read")):
        server.set_permission(login, permission)
    yield server
    server.stop()


@pytest.fixture
def forge(fake) -> GithubForge:
    return GithubForge("octo/models", fake.token, fake.url, settings=FAST)


def code_of(forge: GithubForge, environment: str = "prod") -> str | None:
    found = unmet(forge, environment, CONFIG.environments[environment], forge.pull_request(7))
    return None if found is None else str(found.code)


def test_the_push_time_is_read_across_pages_of_the_activity_log(fake, forge):
    for minute in range(5):  # other branches' pushes and earlier pushes of this one
        log_push(fake, "other", "0" * 40, OTHER, f"2024-05-01T10:0{minute}:00Z", "push")
    push_head(fake, 7, OTHER, at="2024-05-01T11:30:00Z")
    push_head(fake, 7, HEAD, at="2024-05-01T11:40:00Z", force=True)
    for minute in range(3):  # newer entries of the ref that are not the head's push
        log_push(fake, "feature", "0" * 40, "0" * 40, f"2024-05-01T11:5{minute}:00Z",
                 "branch_deletion")
    pull = forge.pull_request(7)
    assert forge.head_pushed_at(pull) == datetime(2024, 5, 1, 11, 40, tzinfo=UTC)
    [first, *more] = fake.calls("list_activity")
    assert first.query["ref"] == "refs/heads/feature" and more and "after" in more[0].query
    assert pinned(forge, pull, None, COMMENTED, "/deploy prod alpha") is None


def test_a_head_pushed_back_after_the_comment_counts_its_latest_push(fake, forge):
    # HEAD was pushed before the comment, replaced, then pushed back after it: what the comment
    # saw is not what is there now (the ABA of a force push).
    push_head(fake, 7, OTHER, at="2024-05-01T11:59:00Z", force=True)
    push_head(fake, 7, HEAD, at="2024-05-01T12:00:05Z", force=True)
    found = pinned(forge, forge.pull_request(7), None, COMMENTED, "/deploy prod alpha")
    assert found is not None and found.code == "head_pushed_after_comment"


@pytest.mark.parametrize("at", ["2024-05-01T12:00:00Z", "2024-05-01T12:00:01Z"])
@pytest.mark.parametrize("force", [True, False])  # a plain push leaves no event on the PR
def test_a_push_at_or_after_the_comment_is_refused(fake, forge, at, force):
    push_head(fake, 7, OTHER, at=at, force=force)
    found = pinned(forge, forge.pull_request(7), None, COMMENTED, "/deploy prod alpha")
    assert found is not None and found.code == "head_pushed_after_comment"
    assert f"`/deploy prod alpha {OTHER[:12]}`" in found.message


def test_a_fork_head_has_no_push_record_here_and_must_be_named(fake, forge):
    fake.add_pull(8, OTHER, head_repo="mallory/models")
    pull = forge.pull_request(8)
    assert forge.head_pushed_at(pull) is None and not fake.calls("list_activity")
    unverified = pinned(forge, pull, None, COMMENTED, "/deploy prod")
    assert unverified.code == "head_unverified" and f"`/deploy prod {OTHER}`" in unverified.message
    assert pinned(forge, pull, OTHER, COMMENTED, "/deploy prod") is None
    # A prefix is not enough where no push time backs it: commits sharing one are cheap to make.
    assert pinned(forge, pull, OTHER[:12], COMMENTED, "/deploy prod").code == "head_unverified"


def test_a_named_prefix_counts_only_with_the_push_time(fake, forge):
    pull = forge.pull_request(7)  # its branch was created (pushed) an hour before the comment
    assert pinned(forge, pull, HEAD[:7], COMMENTED, "/deploy prod") is None
    push_head(fake, 7, OTHER, at="2024-05-01T12:00:30Z", force=True)
    pushed_after = pinned(forge, forge.pull_request(7), OTHER[:12], COMMENTED, "/deploy prod")
    assert pushed_after.code == "head_pushed_after_comment"
    assert pinned(forge, forge.pull_request(7), OTHER, COMMENTED, "/deploy prod") is None


def test_no_comment_time_or_push_record_is_never_taken_as_before(fake, forge):
    pull = forge.pull_request(7)
    assert pinned(forge, pull, None, None, "/deploy prod").code == "head_unverified"
    fake.repo().activity.clear()
    assert pinned(forge, pull, None, COMMENTED, "/deploy prod").code == "head_unverified"
    assert pinned(forge, pull, HEAD, None, "/deploy prod") is None  # named whole: no time needed
    assert pinned(forge, pull, HEAD[:7], None, "/deploy prod").code == "head_unverified"


@pytest.mark.parametrize(("reviews", "expected"), [
    ([], "not_approved"),
    ([("bob", "APPROVED")], None),
    ([("carol", "APPROVED")], None),  # maintain is more than write
    ([("eve", "APPROVED")], "not_approved"),  # read permission
    ([("alice", "APPROVED")], "not_approved"),  # the author
    ([("mallory", "APPROVED")], "not_approved"),  # not a collaborator (404)
    ([("bob", "APPROVED"), ("carol", "CHANGES_REQUESTED")], "not_approved"),
    ([("carol", "CHANGES_REQUESTED"), ("carol", "APPROVED"), ("bob", "APPROVED")], None),
    ([("carol", "CHANGES_REQUESTED"), ("carol", "DISMISSED"), ("bob", "APPROVED")], None),
    ([("bob", "APPROVED"), ("bob", "COMMENTED")], None),  # a comment keeps the approval
    ([("bob", "APPROVED"), ("bob", "DISMISSED")], "not_approved"),
    ([("bob", "PENDING")], "not_approved"),
    ([("BoB", "APPROVED"), ("bob", "CHANGES_REQUESTED")], "not_approved"),  # one login
], ids=repr)
def test_approval_rules(fake, forge, reviews, expected):
    add_status(fake, HEAD, "ci", "success")
    for login, state in reviews:
        add_review(fake, 7, login, state)
    assert code_of(forge) == expected


def test_an_approval_of_another_commit_does_not_count(fake, forge):
    add_review(fake, 7, "bob", "APPROVED", commit_id=OTHER)
    assert code_of(forge) == "not_approved"


def test_an_unreadable_approver_permission_does_not_count(fake, forge):
    add_review(fake, 7, "bob", "APPROVED")
    fake.fail("permission", 500, times=None)
    assert code_of(forge) == "not_approved"


@pytest.mark.parametrize(("statuses", "expected"), [
    ([], None),  # the head has only the push job's check run, green
    ([("ci", "success")], None),
    ([("ci", "pending")], "checks_not_green"),
    ([("ci", "error")], "checks_not_green"),
    ([("ci", "failure"), ("ci", "success")], None),  # the latest of a context counts
    ([("ci", "success"), ("ci", "failure")], "checks_not_green"),
], ids=repr)
def test_status_rules(fake, forge, statuses, expected):
    add_review(fake, 7, "bob", "APPROVED")
    for context, state in statuses:
        add_status(fake, HEAD, context, state)
    add_status(fake, OTHER, "ci", "failure")  # another commit's statuses do not count
    assert code_of(forge) == expected


@pytest.mark.parametrize(("conclusion", "status", "expected"), [
    ("success", "completed", None), ("neutral", "completed", None),
    ("skipped", "completed", None), ("failure", "completed", "checks_not_green"),
    ("cancelled", "completed", "checks_not_green"), ("timed_out", "completed", "checks_not_green"),
    ("action_required", "completed", "checks_not_green"), (None, "in_progress", "checks_not_green"),
])
def test_check_run_rules(fake, forge, conclusion, status, expected):
    add_review(fake, 7, "bob", "APPROVED")
    fake.repo().commits.add(HEAD)
    fake.repo().check_runs.append({
        "id": 5, "name": "build", "head_sha": HEAD, "status": status, "conclusion": conclusion,
        "details_url": None, "external_id": "", "started_at": None, "completed_at": None,
        "app": "ci", "output": {"title": None, "summary": None, "text": None}})
    assert code_of(forge) == expected


def test_required_checks_must_be_present_and_others_do_not_matter(fake, forge):
    add_status(fake, HEAD, "flaky", "failure")
    found = unmet(forge, "gated", CONFIG.environments["gated"], forge.pull_request(7))
    assert found is not None and "`lint` (missing)" in found.message
    add_status(fake, HEAD, "lint", "success")
    assert code_of(forge, "gated") is None


def test_the_base_is_compared_with_the_default_branch_github_has(fake, forge):
    add_review(fake, 7, "bob", "APPROVED")
    assert code_of(forge) is None
    fake.repo().default_branch = "trunk"
    assert code_of(forge) == "base_not_default"


def test_a_pr_into_another_branch_is_refused(fake, forge):
    fake.add_pull(9, HEAD, base_ref="release")
    add_review(fake, 9, "bob", "APPROVED")
    found = unmet(forge, "prod", CONFIG.environments["prod"], forge.pull_request(9))
    assert found is not None and found.code == "base_not_default"
    assert "targets `release`, not the default branch `main`" in found.message


@pytest.mark.parametrize(("login", "allowed"), [("alice", True), ("ALICE", True),
                                                ("alicia", False), ("mallory", False)])
def test_deployer_lists_match_logins_case_insensitively(fake, forge, login, allowed):
    from mlops_bot.flows.comment import CommentFlow
    from mlops_bot.github.comment_commands import Command

    config = parse_config("environments:\n  listed:\n    endpoint: x\n"
                          "    deployers: {users: [Alice, mallory-admin]}\n", "mlops.yaml")
    fake.set_permission(login, "write")
    flow = CommentFlow(forge, config, None, 7, 555, login, {})  # type: ignore[arg-type]
    refusal = flow._check_actor(Command("deploy", environment="listed", pipeline="alpha"))
    assert (refusal is None) is allowed


def test_recheck_reads_the_pull_request_as_it_is_now(fake, forge):
    add_review(fake, 7, "bob", "APPROVED")
    assert recheck(forge, CONFIG, "prod", 7) is None
    add_review(fake, 7, "bob", "DISMISSED")
    assert recheck(forge, CONFIG, "prod", 7).code == "not_approved"
    assert recheck(forge, CONFIG, "open", 7) is None  # no requirements: nothing is read
    assert recheck(forge, CONFIG, "unknown", 7) is None


def test_required_checks_without_checks_in_require_is_a_config_error():
    with pytest.raises(ConfigError, match="required_checks is set but `checks` is not in require"):
        parse_config("environments:\n  a:\n    endpoint: a\n    required_checks: [lint]\n",
                     "mlops.yaml")
    with pytest.raises(ConfigError, match="require"):
        parse_config("environments:\n  a:\n    endpoint: a\n    require: [merged]\n", "mlops.yaml")


def test_a_token_without_statuses_read_is_told_which_permission_to_add(fake, forge):
    from mlops_bot.errors import UserError

    add_review(fake, 7, "bob", "APPROVED")
    fake.token_permissions = {"pull-requests: read", "checks: read", "contents: read"}
    with pytest.raises(UserError, match="permissions: statuses: read"):
        code_of(forge)
