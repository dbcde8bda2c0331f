"""What the deploy job reads of GitHub to verify a Deployment, through the real PyGithub client
against the fake GitHub: the payload schema, a deployment's creator, task and statuses, an
environment's required reviewers; and the retrain tracking issue, found only among the bot's own.
"""

from __future__ import annotations

import pytest

from mlops_bot.github.console_forge import ConsoleForge
from mlops_bot.github.deployment_payload import (
    DEPLOY_TASK,
    PayloadInvalid,
    parse_payload,
    stamped,
)
from mlops_bot.github.pygithub_client import ClientSettings
from mlops_bot.github.pygithub_forge import GithubForge
from tests.support.fake_github import ACTIONS_BOT, FakeGitHub
from tests.support.fake_github_environments import protect, remove_environment

SHA = "3f2b" + "a" * 36
DEPLOY = {"action": "deploy", "pipeline": "alpha", "version": "v-1", "run_id": "alpha-1",
          "sha": SHA, "pull_request": 7, "requested_by": "alice", "traffic": None}


@pytest.fixture
def fake(monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    server = FakeGitHub().start()
    server.actions_token()
    server.repo("octo/models").commits.add(SHA)
    yield server
    server.stop()


def forge_for(fake: FakeGitHub) -> GithubForge:
    return GithubForge("octo/models", fake.token, fake.url,
                       settings=ClientSettings(timeout=2, backoff_factor=0, pace=False))


# -- the payload schema ------------------------------------------------------------------------
def test_a_payload_is_written_and_read_through_one_schema():
    written = stamped(DEPLOY)
    assert written == {"schema": "mlops-bot/deployment", "schema_version": 1,
                       "trigger": "comment", **{k: v for k, v in DEPLOY.items() if v is not None}}
    read = parse_payload(written)
    assert (read.pull_request, read.run_id, read.traffic) == (7, "alpha-1", None)
    retrain = stamped({**DEPLOY, "pull_request": None, "trigger": "retrain",
                       "schedule": "weekly", "tracking_issue": 3})
    assert parse_payload(retrain).tracking_issue == 3


@pytest.mark.parametrize(("changes", "why"), [
    ({"schema": None}, "not of schema mlops-bot/deployment version 1"),
    ({"schema_version": "1"}, "not of schema"),
    ({"run_id": None}, "a deploy names its pipeline, version and run_id"),
    ({"sha": "main"}, "sha: String should match pattern"),
    ({"pull_request": 0}, "pull_request: Input should be greater than or equal to 1"),
    ({"traffic": 101}, "traffic: Input should be less than or equal to 100"),
    ({"parameters": "x"}, "parameters: Input should be a valid dictionary"),
    ({"requested_by": "@team\nSecurity review passed"}, "requested_by: String should match"),
])
def test_a_payload_off_the_schema_is_refused_without_echoing_it(changes, why):
    payload = {k: v for k, v in {**stamped(DEPLOY), **changes}.items() if v is not None}
    with pytest.raises(PayloadInvalid, match=why) as refused:
        parse_payload(payload)
    assert "Security review" not in str(refused.value)


def test_writing_a_payload_the_deploy_job_would_refuse_is_a_bug():
    with pytest.raises(ValueError, match="names its pull_request"):
        stamped({**DEPLOY, "pull_request": None})


# -- deployments: creator, task, statuses ----------------------------------------------------
def test_a_deployment_reads_back_its_creator_task_and_latest_status_first(fake):
    forge = forge_for(fake)
    made = forge.create_deployment(SHA, "staging", stamped(DEPLOY), "deploy alpha")
    forge.set_deployment_status(made, "queued", "waiting for approval")
    forge.set_deployment_status(made, "in_progress", "promoting")
    found = forge.deployment(made)
    assert (found.creator, found.task) == (ACTIONS_BOT, DEPLOY_TASK)
    assert forge.bot_login() == ACTIONS_BOT  # the Actions token may not read /user
    assert forge.deployment_states(made) == ["in_progress", "queued"]
    [listed] = forge.recent_deployments("staging")
    assert (listed.id, listed.creator, listed.task) == (made, ACTIONS_BOT, DEPLOY_TASK)


def test_a_payload_that_is_not_json_reads_as_empty(fake):
    forge = forge_for(fake)
    made = forge.create_deployment(SHA, "staging", {}, "odd")
    fake.repo().deployments[made].fields["payload"] = "not json {"
    assert forge.deployment(made).payload == {}  # which the deploy job's schema then refuses


# -- environments: required reviewers -------------------------------------------------------
def test_an_environments_required_reviewers_are_read_from_its_protection_rules(fake):
    forge = forge_for(fake)
    protect(fake, "staging", ["carol", "team:ml-leads"])
    assert forge.environment_reviewers("staging") == ["carol", "ml-leads"]
    assert forge.environment_reviewers("STAGING") == ["carol", "ml-leads"]  # as GitHub matches
    protect(fake, "staging", [])
    assert forge.environment_reviewers("staging") == []  # a branch policy alone is no reviewer
    remove_environment(fake, "staging")
    assert forge.environment_reviewers("staging") is None
    [request] = fake.calls("get_environment")[:1]
    assert request.path == "/repos/octo/models/environments/staging"


def test_reading_the_protection_needs_actions_read(fake):
    fake.token_permissions = {"deployments: write", "contents: write"}
    with pytest.raises(Exception, match="actions: read"):
        forge_for(fake).environment_reviewers("staging")


def test_locally_the_person_running_the_command_approves_it():
    forge = ConsoleForge(user="dana")
    assert forge.environment_reviewers("staging") == ["dana"] and forge.bot_login() == "dana"


# -- the tracking issue ------------------------------------------------------------------------
def test_the_tracking_issue_is_found_only_among_the_bots_own(fake):
    forge = forge_for(fake)
    title = "mlops-bot: scheduled retraining"
    fake.add_issue(title, author="mallory")  # anyone can open an issue of that title
    fake.add_issue(title, author=ACTIONS_BOT, body="an issue another workflow opened")
    assert forge.find_issue(title) is None
    opened = forge.create_issue(title, "reports land here")
    assert fake.thread(opened).body.startswith("<!-- mlops-bot:tracking-issue -->\n")
    assert forge.find_issue(title) == opened
    assert forge.find_issue("another title") is None
