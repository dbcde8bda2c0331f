"""GithubForge: the real PyGithub client against the fake GitHub server in tests/support."""

from __future__ import annotations

import socket
import time

import pytest

from mlops_bot.errors import UserError
from mlops_bot.github.console_forge import ConsoleForge
from mlops_bot.github.forge import Forge, PullRequest
from mlops_bot.github.pygithub_client import ClientSettings, ForgeError
from mlops_bot.github.pygithub_comments import COMMENT_LIMIT, with_marker
from mlops_bot.github.pygithub_forge import GithubForge
from tests.support.fake_github import ACTIONS_BOT, FakeGitHub

SHA = "3f2b" + "a" * 36
FAST = ClientSettings(timeout=2, backoff_factor=0, pace=False)  # retries stay on, sleeps off
MARK = "<!-- mlops-bot:deploy-staging -->"


@pytest.fixture
def fake(monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")  # requests honours proxy variables
    server = FakeGitHub().start()
    server.repo("octo/models")
    yield server
    server.stop()


def forge_for(fake: FakeGitHub, **options) -> GithubForge:
    options.setdefault("settings", FAST)
    return GithubForge("octo/models", options.pop("token", "t"), fake.url, **options)


# -- permission ---------------------------------------------------------------------------------
@pytest.mark.parametrize(("answer", "expected"), [
    ({"permission": "admin", "role_name": "admin"}, "admin"),
    ({"permission": "write", "role_name": "maintain"}, "maintain"),  # only role_name says maintain
    ({"permission": "write", "role_name": "write"}, "write"),
    ({"permission": "read", "role_name": "triage"}, "triage"),  # only role_name says triage
    ({"permission": "read", "role_name": "read"}, "read"),
    ({"permission": "write", "role_name": "ml-deployer"}, "write"),  # custom role: its base
    ({"permission": "write"}, "write"),  # older GHES: no role_name
    ({"permission": "none", "role_name": "none"}, "none"),
])
def test_permission_maps_role_name_then_permission(fake, answer, expected):
    fake.repo().collaborators["bob"] = answer
    assert forge_for(fake).permission("bob") == expected
    assert [r.path for r in fake.requests] == ["/repos/octo/models/collaborators/bob/permission"]


def test_a_non_collaborator_has_no_permission(fake):
    assert forge_for(fake).permission("stranger") == "none"


@pytest.mark.parametrize(("status", "error", "words"), [
    (500, ForgeError, "500"),
    (403, UserError, "permissions: metadata: read"),
    (401, UserError, "invalid"),
    (422, ForgeError, "422"),
])
def test_permission_errors_raise_and_never_allow(fake, status, error, words):
    fake.set_permission("bob", "admin")
    fake.fail("permission", status, times=None)
    with pytest.raises(error, match=words):
        forge_for(fake).permission("bob")


def test_permission_server_errors_are_retried_a_bounded_number_of_times(fake):
    fake.set_permission("bob", "write")
    fake.fail("permission", 502, times=1)
    assert forge_for(fake).permission("bob") == "write"
    assert len(fake.calls("permission")) == 2
    fake.fail("permission", 503, times=None)
    with pytest.raises(ForgeError, match="503"):
        forge_for(fake).permission("bob")
    assert len(fake.calls("permission")) == 2 + 1 + FAST.retries


def test_an_unknown_permission_value_raises(fake):
    fake.repo().collaborators["bob"] = {"permission": "superuser", "role_name": "superuser"}
    with pytest.raises(ForgeError, match="no known permission"):
        forge_for(fake).permission("bob")


def test_rate_limit_beyond_the_wait_cap_fails_fast(fake):
    reset = str(int(time.time()) + 3600)
    fake.fail("permission", 403, times=None, message="API rate limit exceeded for installation",
              headers={"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset})
    started = time.monotonic()
    with pytest.raises(ForgeError, match="rate limit"):
        forge_for(fake).permission("bob")
    assert time.monotonic() - started < 5


def test_unreachable_api_is_a_clear_error():
    with socket.socket() as sock:  # a port nobody listens on once closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    forge = GithubForge("octo/models", "t", f"http://127.0.0.1:{port}",
                        settings=ClientSettings(retries=1, backoff_factor=0, pace=False))
    with pytest.raises(ForgeError, match=f"cannot reach GitHub at http://127.0.0.1:{port}"):
        forge.permission("bob")


def test_bad_token_is_a_user_error_saying_invalid_or_scope(fake):
    fake.add_pull(5, SHA)
    with pytest.raises(UserError, match=r"rejected the token \(401 Bad credentials\).*invalid.*scope"):
        forge_for(fake, token="expired").pull_request(5)


def test_construction_is_lazy_and_validates_its_arguments():
    GithubForge("octo/models", "t", "http://127.0.0.1:9")  # no request until a call
    with pytest.raises(UserError, match="owner/name"):
        GithubForge("models", "t")
    with pytest.raises(UserError, match="no GitHub token"):
        GithubForge("octo/models", "")


# -- sticky comments ----------------------------------------------------------------------------
def test_sticky_comment_is_created_then_edited_in_place(fake):
    fake.add_pull(5, SHA)
    forge = forge_for(fake)
    first = forge.upsert_comment(5, "deploy-staging", "Deploying `3f2b` to staging")
    second = forge.upsert_comment(5, "deploy-staging", "Deployed `3f2b` to staging")
    [comment] = fake.comments(5)
    assert first == second == comment.id
    assert comment.author == "mlops-bot" and comment.updated
    assert comment.body == f"{MARK}\nDeployed `3f2b` to staging"
    assert [r.route for r in fake.writes()] == ["create_comment", "edit_comment"]
    assert len(fake.calls("get_user")) == 1  # the bot's login is asked once


def test_an_unchanged_comment_is_not_rewritten(fake):
    fake.add_pull(5, SHA)
    forge = forge_for(fake)
    forge.upsert_comment(5, "plan", "same")
    forge.upsert_comment(5, "plan", "same")
    assert [r.route for r in fake.writes()] == ["create_comment"]


def test_someone_elses_comment_with_the_marker_is_never_edited(fake):
    fake.add_pull(5, SHA)
    forged = fake.add_comment(5, "mallory", f"Deployed! {MARK}")
    new_id = forge_for(fake).upsert_comment(5, "deploy-staging", "Plan")
    assert new_id != forged.id
    assert forged.body == f"Deployed! {MARK}" and not forged.updated
    assert [r.route for r in fake.writes()] == ["create_comment"]


def test_the_bots_comment_is_found_across_pages(fake):
    fake.max_page_size = 2
    fake.add_pull(5, SHA)
    for n in range(5):
        fake.add_comment(5, "alice", f"comment {n} {MARK if n == 1 else ''}")
    mine = fake.add_comment(5, "mlops-bot", f"{MARK}\nold plan")
    assert forge_for(fake).upsert_comment(5, "deploy-staging", "new plan") == mine.id
    assert mine.body == f"{MARK}\nnew plan"
    assert len(fake.comments(5)) == 6
    assert [r.query.get("page") for r in fake.calls("list_comments")] == [None, "2", "3"]


def test_actions_token_comments_as_github_actions_bot(fake):
    fake.actions_token()  # GET /user -> 403, writes as github-actions[bot]
    fake.add_pull(5, SHA)
    mine = fake.add_comment(5, ACTIONS_BOT, f"{MARK}\nold")
    assert forge_for(fake).upsert_comment(5, "deploy-staging", "new") == mine.id
    assert mine.updated and len(fake.comments(5)) == 1


def test_a_given_bot_login_skips_the_user_lookup(fake):
    fake.add_pull(5, SHA)
    mine = fake.add_comment(5, "deployer-app[bot]", f"{MARK}\nold")
    forge = forge_for(fake, bot_login="deployer-app[bot]")
    assert forge.upsert_comment(5, "deploy-staging", "new") == mine.id
    assert fake.calls("get_user") == []


def test_commenting_without_write_permission_names_the_permission(fake):
    fake.add_pull(5, SHA)
    fake.fail("create_comment", 403, message="Resource not accessible by integration")
    with pytest.raises(UserError, match=r"Resource not accessible.*pull-requests: write"):
        forge_for(fake).upsert_comment(5, "plan", "hello")


def test_a_failed_comment_post_is_not_retried(fake):
    # GitHub may have stored it before the 502: a retry could post it twice.
    fake.add_pull(5, SHA)
    fake.fail("create_comment", 502)
    with pytest.raises(ForgeError, match="502"):
        forge_for(fake).upsert_comment(5, "plan", "hello")
    assert len(fake.calls("create_comment")) == 1


def test_the_bots_comment_quoting_another_marker_is_not_that_comment(fake):
    """A `/lock --reason` holding the deploy comment's marker: the lock comment is the bot's,
    but its first line is its own marker, so the deploy comment is not found in it."""
    fake.add_pull(5, SHA)
    lock = fake.add_comment(5, "mlops-bot", f"<!-- mlops-bot:lock -->\nlocked: {MARK}")
    new_id = forge_for(fake).upsert_comment(5, "deploy-staging", "Deployed")
    assert new_id != lock.id and not lock.updated


def test_commenting_on_a_missing_pull_request(fake):
    with pytest.raises(UserError, match="pull request #77 was not found in octo/models"):
        forge_for(fake).upsert_comment(77, "plan", "hello")


def test_marker_is_kept_when_the_body_is_cut_to_githubs_limit():
    text = with_marker("x" * (COMMENT_LIMIT + 10), "plan")
    assert len(text) <= COMMENT_LIMIT and text.startswith("<!-- mlops-bot:plan -->\n")
    assert with_marker(f"a\n{MARK}\nb", "deploy-staging") == f"{MARK}\na\n{MARK}\nb"
    with pytest.raises(ValueError, match="marker"):
        with_marker("body", "x -->")


# -- reactions ----------------------------------------------------------------------------------
def test_reaction_is_posted(fake):
    fake.add_pull(5, SHA)
    comment = fake.add_comment(5, "alice", "/deploy staging")
    forge_for(fake).react(comment.id, "eyes")
    assert comment.reactions == ["eyes"]


@pytest.mark.parametrize("status", [500, 403, 404, 401])
def test_reaction_failure_only_warns(fake, capsys, status):
    fake.add_pull(5, SHA)
    comment = fake.add_comment(5, "alice", "/deploy staging")
    fake.fail("create_reaction", status, times=None)
    forge_for(fake).react(comment.id, "rocket")
    assert "warning: could not add the rocket reaction" in capsys.readouterr().err


def test_unknown_reaction_only_warns(fake, capsys):
    forge_for(fake).react(1, "party")
    assert "not a GitHub reaction" in capsys.readouterr().err
    assert fake.requests == []


# -- deployments --------------------------------------------------------------------------------
def test_deployment_of_the_exact_sha_with_its_payload_and_statuses(fake):
    fake.repo().commits.add(SHA)
    forge = forge_for(fake)
    payload = {"sha": SHA, "pipeline": "wine", "version": "v-1a2b", "model": "models/7"}
    deployment_id = forge.create_deployment(SHA, "staging", payload, "wine v-1a2b to staging")
    forge.set_deployment_status(deployment_id, "in_progress", "promoting")
    forge.set_deployment_status(deployment_id, "success", "d" * 200,
                                environment_url="https://endpoint", log_url="https://run/42")
    [post] = fake.calls("create_deployment")
    assert post.body == {"ref": SHA, "environment": "staging", "payload": payload,
                         "description": "wine v-1a2b to staging", "auto_merge": False,
                         "required_contexts": [], "transient_environment": False,
                         "production_environment": False, "task": "deploy:mlops-bot"}
    statuses = fake.repo().deployments[deployment_id].statuses
    assert [s["state"] for s in statuses] == ["in_progress", "success"]
    assert len(statuses[1]["description"]) == 140
    assert statuses[1]["environment_url"] == "https://endpoint"
    assert statuses[1]["log_url"] == "https://run/42"
    assert "environment_url" not in statuses[0]
    assert "flash-preview" in fake.calls("create_status")[0].headers["accept"]


def test_production_is_marked_as_a_production_environment(fake):
    fake.repo().commits.add(SHA)
    forge_for(fake).create_deployment(SHA, "production", {}, "go")
    assert fake.calls("create_deployment")[0].body["production_environment"] is True


def test_deployment_needs_a_full_sha(fake):
    with pytest.raises(ValueError, match="full commit SHA"):
        forge_for(fake).create_deployment("main", "staging", {}, "x")
    assert fake.requests == []


def test_deployment_errors(fake):
    fake.repo().commits.add(SHA)
    forge = forge_for(fake)
    with pytest.raises(ForgeError, match="No ref found for"):
        forge.create_deployment("b" * 40, "staging", {}, "x")
    fake.fail("create_deployment", 403, message="Resource not accessible by integration")
    with pytest.raises(UserError, match="deployments: write"):
        forge.create_deployment(SHA, "staging", {}, "x")
    with pytest.raises(UserError, match="deployment 4242 was not found"):
        forge.set_deployment_status(4242, "failure", "x")


def test_a_timed_out_deployment_post_is_not_retried(fake):
    fake.repo().commits.add(SHA)
    fake.fail("create_deployment", 201, delay=1.5)  # answered after the client gave up
    forge = forge_for(fake, settings=ClientSettings(timeout=1, backoff_factor=0, pace=False))
    with pytest.raises(ForgeError, match="cannot reach GitHub"):
        forge.create_deployment(SHA, "staging", {}, "x")
    assert len(fake.calls("create_deployment")) == 1


# -- pull requests ------------------------------------------------------------------------------
@pytest.mark.parametrize(("head_repo", "is_fork"), [
    ("", False),  # a branch of the repository itself
    ("mallory/models", True),
    ("OCTO/Models", False),  # GitHub names are case-insensitive
    (None, True),  # the fork was deleted: head.repo is null
])
def test_pull_request_and_fork_detection(fake, head_repo, is_fork):
    fake.add_pull(12, SHA, head_ref="tune", author="carol", head_repo=head_repo)
    pull = forge_for(fake).pull_request(12)
    assert (pull.number, pull.head_sha, pull.head_ref, pull.base_ref) == (12, SHA, "tune", "main")
    assert (pull.is_fork, pull.state, pull.author) == (is_fork, "open", "carol")


def test_missing_pull_request_is_a_user_error(fake):
    with pytest.raises(UserError, match="pull request #9 was not found in octo/models"):
        forge_for(fake).pull_request(9)


# -- GitHub Enterprise Server -------------------------------------------------------------------
def test_ghes_style_api_url_with_api_v3_prefix(monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    fake = FakeGitHub(prefix="/api/v3", max_page_size=1).start()
    try:
        assert fake.url.endswith("/api/v3")
        fake.add_pull(3, SHA)
        fake.add_comment(3, "alice", "first")
        fake.set_permission("bob", "write", "maintain")
        forge = forge_for(fake)
        assert forge.permission("bob") == "maintain"
        assert not forge.pull_request(3).is_fork
        comment_id = forge.upsert_comment(3, "plan", "one")
        assert forge.upsert_comment(3, "plan", "two") == comment_id  # next page + edit via URLs
        forge.react(comment_id, "eyes")
        forge.set_deployment_status(forge.create_deployment(SHA, "staging", {}, "x"), "success", "ok")
        assert all(r.path.startswith("/api/v3/") and r.route for r in fake.requests)
        assert "edit_comment" in {r.route for r in fake.requests}
    finally:
        fake.stop()


# -- ConsoleForge, the forge of local runs ------------------------------------------------------
def test_console_forge_prints_and_remembers(capsys):
    forge: Forge = ConsoleForge(user="dana")
    assert forge.permission("dana") == "admin"
    assert forge.permission("someone") == "none"
    first = forge.upsert_comment(4, "plan", "Plan A")
    assert forge.upsert_comment(4, "plan", "Plan B") == first
    forge.react(first, "eyes")
    deployment = forge.create_deployment(SHA, "staging", {"version": "v1"}, "v1 to staging")
    forge.set_deployment_status(deployment, "success", "done", environment_url="http://127.0.0.1:8080")
    err = capsys.readouterr().err
    assert "would post comment" in err and "would update comment" in err and "Plan B" in err
    assert "would set deployment" in err and "http://127.0.0.1:8080" in err
    assert isinstance(forge, ConsoleForge)
    assert forge.comments[(4, "plan")].body.startswith("<!-- mlops-bot:plan -->\n")
    assert forge.deployments[deployment].statuses == [("success", "done")]
    assert forge.reactions == [(first, "eyes")]


def test_console_forge_has_a_pull_request_only_when_given_one():
    pull = PullRequest(4, SHA, "tune", "main", False, "open", "dana")
    with pytest.raises(UserError, match="no pull request #4 in a local run"):
        ConsoleForge().pull_request(4)
    assert ConsoleForge(pull).pull_request(4) == pull
    with pytest.raises(UserError):
        ConsoleForge(pull).pull_request(5)


def test_bot_logins_are_quoted_in_the_permission_path(fake):
    fake.set_permission("dependabot[bot]", "read")
    assert forge_for(fake).permission("dependabot[bot]") == "read"
    assert fake.requests[0].path.endswith("/collaborators/dependabot%5Bbot%5D/permission")


def test_a_deployment_reads_back_as_stored(fake):
    fake.add_pull(5, SHA)
    forge = forge_for(fake)
    deployment_id = forge.create_deployment(SHA, "staging", {"pipeline": "alpha", "pull_request": 5},
                                            "deploy alpha")
    found = forge.deployment(deployment_id)
    assert (found.id, found.sha, found.environment) == (deployment_id, SHA, "staging")
    assert found.payload == {"pipeline": "alpha", "pull_request": 5}
    with pytest.raises(UserError, match="deployment 999999 was not found in octo/models"):
        forge.deployment(999999)
