"""Attacks on the approved deploy job (`command: promote`), each replayed through the action's
entry point against the fake GitHub: the refusal, its reason code, the Deployment's statuses and
what the PR is told.

Each test lays out what the comment job leaves behind after `/deploy staging` on #7 (a Deployment
of the PR head with mlops-bot's task and payload, created by the workflow token, status `queued`,
the sticky "waiting for approval" comment), through the real PyGithub client, then tampers with
one thing as an attacker with write access (or another workflow's token) could, and runs the
deploy job with the inputs the comment job would have output. The untampered request passes
every check of the Deployment and stops only at the run, which no backend holds here
(`run_missing`): every refusal below comes from the check named in its test.

The deploy jobs spend most of their time in PyGithub's pacing (a quarter second between
requests, a second between writes), so the scenarios are laid out first and their jobs run at
once, one fake GitHub each (`replayed`); each test then checks its own scenario.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from mlops_bot.github.deployment_payload import stamped
from mlops_bot.github.pygithub_client import ClientSettings
from mlops_bot.github.pygithub_forge import GithubForge
from mlops_bot.github.run_checks import RunCheck
from tests.support.action import ActionRun, run_action
from tests.support.fake_github import ACTIONS_BOT, NOW, FakeGitHub
from tests.support.fake_github_environments import protect
from tests.support.gitrepo import GitRepoBuilder, pipeline_files
from tests.support.run_checks import write_check

CONFIG = """\
environments:
  staging:
    endpoint: alpha-staging
  preview:
    endpoint: alpha-preview
    unprotected: warn
"""
WAITING = "### Deploy `alpha` to `staging`: waiting for approval"


@dataclass
class Scene:
    """One attack: its own fake GitHub and checkout, the Deployment the comment job made, and
    the deploy jobs run for it, in order."""

    github: FakeGitHub
    repo: GitRepoBuilder
    sha: str
    tmp: Path
    deployment: int = 0
    runs: list[Callable[[], ActionRun]] = field(default_factory=list)  # jobs, in order
    jobs: list[ActionRun] = field(default_factory=list)

    def states(self, deployment: int | None = None) -> list[str]:
        found = self.github.repo().deployments[deployment or self.deployment]
        return [s["state"] for s in found.statuses]

    def status(self, deployment: int | None = None) -> str:
        found = self.github.repo().deployments[deployment or self.deployment]
        return str(found.statuses[-1]["description"])

    def comment(self, marker: str, number: int = 7) -> str:
        """The bot's comment of `marker` on #`number` (the environment's: the sticky one)."""
        [found] = [c.body for c in self.github.comments(number) if c.author == ACTIONS_BOT
                   and c.body.startswith(f"<!-- mlops-bot:{marker} -->")]
        return found

    def no_lock_taken(self) -> bool:
        return not self.github.calls("create_ref") and not self.github.repo().refs


ATTACKS: dict[str, Callable[[Scene], None]] = {}


def attack(lay_out: Callable[[Scene], None]) -> Callable[[Scene], None]:
    """A scenario: `lay_out` makes the Deployment, tampers, and adds the deploy jobs to run."""
    ATTACKS[lay_out.__name__] = lay_out
    return lay_out


@pytest.fixture(scope="module")
def replayed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Scene]]:
    scenes: dict[str, Scene] = {}
    try:
        for name, lay_out in ATTACKS.items():
            tmp = tmp_path_factory.mktemp(name)
            github = FakeGitHub().start()
            github.actions_token()
            repo = GitRepoBuilder(tmp / "repo")
            sha = repo.commit({"mlops.yaml": CONFIG, **pipeline_files("alpha")})
            github.add_pull(7, sha)
            scenes[name] = scene = Scene(github, repo, sha, tmp)
            lay_out(scene)
        with ThreadPoolExecutor(len(scenes)) as pool:
            list(pool.map(_run_jobs, scenes.values()))
        yield scenes
    finally:
        for scene in scenes.values():
            scene.github.stop()


def _run_jobs(scene: Scene) -> None:
    for job in scene.runs:
        scene.jobs.append(job())


def forge(github: FakeGitHub) -> GithubForge:
    """The token's forge, as the comment job has it (without PyGithub's pacing: tests)."""
    return GithubForge("octo/models", github.token, github.url,
                       settings=ClientSettings(pace=False))


def requested(scene: Scene, *, environment: str = "staging", number: int = 7,
              payload: dict[str, Any] | None = None, drop: tuple[str, ...] = ()) -> int:
    """What `/deploy <environment>` on #`number` leaves: the Deployment (its payload changed by
    `payload`, without the keys in `drop`), queued, and the sticky comment; its id. The job
    that deploys it is added to the scene's runs."""
    sha = scene.sha
    written = stamped({"action": "deploy", "pipeline": "alpha", "version": "v-0123456789abcdef",
                       "run_id": "alpha-0123456789abcdef", "parameters": {"size": 1},
                       "produced_by": sha, "backend": "local", "sha": sha,
                       "pull_request": number, "requested_by": "alice"})
    body = {k: v for k, v in {**written, **(payload or {})}.items() if k not in drop}
    made = forge(scene.github)
    deployment = made.create_deployment(sha, environment, body, "deploy alpha")
    made.set_deployment_status(deployment, "queued", "waiting for approval")
    made.upsert_comment(number, environment, WAITING.replace("staging", environment))
    scene.deployment = scene.deployment or deployment
    return deployment


def deploy_job(scene: Scene, deployment: int, *, environment: str = "staging",
               number: int = 7) -> ActionRun:
    """The deploy job of mlops-comment.yml, approved, with the comment job's outputs."""
    event = {"action": "created", "issue": {"number": number, "pull_request": {}},
             "comment": {"id": 555}}
    return run_action(scene.repo.path, scene.tmp, "issue_comment", event, inputs={
        "github-token": scene.github.token, "command": "promote", "environment": environment,
        "sha": scene.sha, "deployment-id": str(deployment)},
        env={"GITHUB_API_URL": scene.github.url, "GITHUB_REPOSITORY": "octo/models"})


def job_of(scene: Scene, deployment: int | None = None, **arguments: Any) -> None:
    chosen = deployment or scene.deployment
    scene.runs.append(lambda: deploy_job(scene, chosen, **arguments))


def comment_job(scene: Scene, number: int, body: str) -> None:
    """The comment job of mlops-comment.yml for `body` by alice (write) on #`number`, whose
    head has the push job's record of a successful run of alpha."""
    event = {"action": "created", "issue": {"number": number, "pull_request": {}},
             "comment": {"id": 500 + number, "body": body, "created_at": NOW,
                         "user": {"login": "alice", "type": "User"}}}
    scene.runs.append(lambda: run_action(
        scene.repo.path, scene.tmp, "issue_comment", event,
        inputs={"github-token": scene.github.token},
        env={"GITHUB_API_URL": scene.github.url, "GITHUB_REPOSITORY": "octo/models"}))


def refused(job: ActionRun, code: str) -> None:
    assert (job.outputs["decision"], job.outputs["reason_code"]) == ("stop", code), job.stderr
    assert job.returncode == 0, job.stderr  # a refusal is answered on the PR, not a crash
    assert "Traceback" not in job.stderr


def pr(number: int) -> str:
    """`#number` as the bot's comments show it: no issue reference of the bot's making."""
    return f"\\#\u200b{number}"


# -- the untampered request ----------------------------------------------------------------
@attack
def untampered(scene: Scene) -> None:
    requested(scene)
    job_of(scene)


def test_an_untampered_request_passes_every_check_of_the_deployment(replayed):
    scene = replayed["untampered"]
    [job] = scene.jobs
    refused(job, "run_missing")  # the first check after the Deployment's: the backend's run
    assert scene.states() == ["queued", "error"]
    assert "alpha-0123456789abcdef" in scene.comment("staging")
    assert scene.github.calls("get_environment")  # its protection was checked on the way


# -- who made it, and for what ---------------------------------------------------------------
@attack
def created_by_another_user(scene: Scene) -> None:
    scene.github.token_login = "mallory"  # a personal token of a write user creates it
    requested(scene)
    scene.github.token_login = ACTIONS_BOT
    job_of(scene)


def test_a_deployment_created_by_another_user_is_refused(replayed):
    scene = replayed["created_by_another_user"]
    [job] = scene.jobs
    refused(job, "foreign_deployment")
    assert scene.states() == ["queued", "error"]
    assert "created by mallory, not by mlops-bot's identity (github-actions[bot])" in \
        scene.status()
    reply = scene.comment("reply")
    assert "created by mallory" in reply and "reason: `foreign_deployment`" in reply
    assert scene.no_lock_taken()


@attack
def another_task(scene: Scene) -> None:
    requested(scene)
    scene.github.repo().deployments[scene.deployment].fields["task"] = "deploy"  # Actions' own
    job_of(scene)


def test_a_deployment_with_another_task_is_refused(replayed):
    scene = replayed["another_task"]
    [job] = scene.jobs
    refused(job, "foreign_task")
    assert scene.states() == ["queued", "error"]
    assert "has task 'deploy', not mlops-bot's 'deploy:mlops-bot'" in scene.comment("reply")


# -- the payload -------------------------------------------------------------------------------
@attack
def payload_without_pull_request(scene: Scene) -> None:
    # Without it, the head-moved and PR-open checks would have nothing to check.
    requested(scene, drop=("pull_request",))
    job_of(scene)


def test_a_payload_without_pull_request_is_refused(replayed):
    scene = replayed["payload_without_pull_request"]
    [job] = scene.jobs
    refused(job, "payload_invalid")
    assert scene.states() == ["queued", "error"]
    assert "a deployment made by a comment names its pull_request" in scene.comment("reply")
    assert scene.no_lock_taken()


TAMPERED_PAYLOADS = {
    "another_schema_version": ({"schema_version": 2},
                               "not of schema mlops-bot/deployment version 1"),
    "a_string_for_a_number": ({"traffic": "100"}, "traffic: Input should be a valid integer"),
    "an_unknown_key": ({"extra": "x"}, "extra: Extra inputs are not permitted"),
    "another_pull_request": ({"pull_request": 8}, f"names {pr(8)}, but this job runs for "
                                                  f"{pr(7)}"),
    "a_retrainings_trigger": ({"trigger": "retrain", "schedule": "weekly"},
                              "names its schedule and no pull_request"),
}
for _name, (_payload, _) in TAMPERED_PAYLOADS.items():
    def _tampered(scene: Scene, payload: dict[str, Any] = _payload) -> None:
        requested(scene, payload=payload)
        job_of(scene)
    _tampered.__name__ = f"payload_{_name}"
    attack(_tampered)


@pytest.mark.parametrize("name", TAMPERED_PAYLOADS)
def test_a_payload_mlops_bot_did_not_write_is_refused(replayed, name):
    scene = replayed[f"payload_{name}"]
    [job] = scene.jobs
    refused(job, "payload_invalid")
    assert scene.states() == ["queued", "error"]
    assert TAMPERED_PAYLOADS[name][1] in scene.comment("reply")


# -- the commit, the pull request ----------------------------------------------------------------
@attack
def payload_of_another_commit(scene: Scene) -> None:
    requested(scene, payload={"sha": "c" * 40})
    job_of(scene)


@attack
def run_of_another_commit(scene: Scene) -> None:
    # No record of the push job on the Deployment's commit says that commit's run is reused.
    requested(scene, payload={"produced_by": "c" * 40})
    job_of(scene)


@pytest.mark.parametrize(("name", "why"), [
    ("payload_of_another_commit", "is of commit cccccccccccc, the deployment of"),
    ("run_of_another_commit", "was produced by cccccccccccc, and the push job's record on"),
])
def test_a_run_of_another_commit_is_refused(replayed, name, why):
    scene = replayed[name]
    [job] = scene.jobs
    refused(job, "commit_mismatch")
    assert scene.states() == ["queued", "error"]
    body = scene.comment("staging")  # the Deployment is the bot's: its own comment is told
    assert why in body and "waiting for approval" not in body


@attack
def pr_closed_while_pending(scene: Scene) -> None:
    requested(scene)
    scene.github.repo().pulls[7].state = "closed"
    job_of(scene)


def test_a_pr_closed_while_approval_was_pending_is_refused(replayed):
    scene = replayed["pr_closed_while_pending"]
    [job] = scene.jobs
    refused(job, "pr_closed")
    assert scene.states() == ["queued", "error"]
    assert f"{pr(7)} was closed while the deploy waited for approval" in scene.comment("staging")
    assert scene.no_lock_taken()


# -- replays and superseded requests -----------------------------------------------------------
@attack
def replay_after_success(scene: Scene) -> None:
    requested(scene)
    done = forge(scene.github)
    done.set_deployment_status(scene.deployment, "in_progress", "promoting")
    done.set_deployment_status(scene.deployment, "success", "promoted")
    done.upsert_comment(7, "staging", "### Deployed `alpha` to `staging`")
    job_of(scene)  # the deploy job re-run


def test_a_replay_of_a_deployment_that_reached_success_is_refused(replayed):
    scene = replayed["replay_after_success"]
    [job] = scene.jobs
    refused(job, "replayed")
    # What it did stands: still success (what serves must not look failed), its report kept.
    assert scene.states() == ["queued", "in_progress", "success"]
    assert "### Deployed `alpha` to `staging`" in scene.comment("staging")
    assert f"deployment {scene.deployment} is success, not waiting for approval" in \
        scene.comment("reply")
    assert scene.no_lock_taken()


@attack
def replay_rearmed_with_a_queued_status(scene: Scene) -> None:
    requested(scene)
    done = forge(scene.github)
    done.set_deployment_status(scene.deployment, "in_progress", "promoting")
    done.set_deployment_status(scene.deployment, "success", "promoted")
    scene.github.token_login = "mallory"  # anyone with deployments: write may add a status
    forge(scene.github).set_deployment_status(scene.deployment, "queued", "waiting again")
    scene.github.token_login = ACTIONS_BOT
    job_of(scene)  # the deploy job re-run


def test_a_replay_rearmed_with_a_queued_status_is_refused(replayed):
    scene = replayed["replay_rearmed_with_a_queued_status"]
    [job] = scene.jobs
    refused(job, "replayed")
    assert scene.states() == ["queued", "in_progress", "success", "queued"]
    assert f"deployment {scene.deployment} is success before it was set queued again" in \
        scene.comment("reply")
    assert scene.no_lock_taken()


@attack
def superseded_pending_deploy(scene: Scene) -> None:
    scene.github.add_pull(8, scene.sha)
    requested(scene)  # #7, pending: GitHub cancels its job when a third one queues
    second = requested(scene, number=8)
    job_of(scene, second, number=8)


def test_a_superseded_pending_deploy_is_ended_and_its_comment_updated(replayed):
    scene = replayed["superseded_pending_deploy"]
    first, second = sorted(scene.github.repo().deployments)
    [newer] = scene.jobs
    refused(newer, "run_missing")  # #8's own deploy goes on (and stops at its run, here)
    assert scene.states(first) == ["queued", "error"]
    assert scene.status(first) == f"superseded by deployment {second} to staging"
    told = scene.comment("staging", 7)
    assert f"Deployment {first} to `staging` was superseded by deployment {second}" in told
    assert "reason: `superseded`" in told and "waiting for approval" not in told
    assert WAITING not in scene.comment("staging", 8)  # #8's comment is its own deploy's


@attack
def superseded_by_a_newer_comment(scene: Scene) -> None:
    scene.github.add_pull(8, scene.sha)
    scene.github.set_permission("alice", "write")
    write_check(scene.github, RunCheck(
        "alpha", scene.sha, "succeeded", "local", version="v-0123456789abcdef",
        run_id="alpha-0123456789abcdef", produced_by=scene.sha, parameters={"size": 1}))
    comment_job(scene, 7, "/deploy staging")
    comment_job(scene, 8, "/deploy staging")  # as GitHub queues #8's deploy job, #7's is cancelled


def test_a_pending_deploy_is_superseded_as_soon_as_a_newer_one_is_requested(replayed):
    scene = replayed["superseded_by_a_newer_comment"]
    for job in scene.jobs:
        assert job.outputs["decision"] == "proceed", job.stderr
    first, second = (int(job.outputs["deployment_id"]) for job in scene.jobs)
    assert scene.states(first) == ["queued", "error"]
    assert scene.status(first) == f"superseded by deployment {second} to staging"
    assert f"was superseded by deployment {second}" in scene.comment("staging", 7)
    assert scene.states(second) == ["queued"]
    assert "waiting for approval" in scene.comment("staging", 8)


@attack
def superseded_deploy_job_runs_late(scene: Scene) -> None:
    scene.github.add_pull(8, scene.sha)
    first = requested(scene)
    requested(scene, number=8)
    job_of(scene, first)  # #7's job was not cancelled, and its reviewers approve it late


def test_a_superseded_deploy_whose_job_runs_late_promotes_nothing(replayed):
    scene = replayed["superseded_deploy_job_runs_late"]
    [job] = scene.jobs
    refused(job, "superseded")
    assert scene.states() == ["queued", "error"]
    told = scene.comment("staging", 7)
    assert "was requested after this one" in told and "reason: `superseded`" in told
    assert WAITING in scene.comment("staging", 8)  # the newer request still waits
    assert scene.no_lock_taken()


@attack
def newer_request_of_the_same_pr(scene: Scene) -> None:
    first = requested(scene)
    requested(scene)  # /deploy staging again on #7: the sticky comment is the new request's
    job_of(scene, first)


def test_a_newer_request_of_the_same_pr_keeps_its_comment(replayed):
    scene = replayed["newer_request_of_the_same_pr"]
    [job] = scene.jobs
    refused(job, "superseded")
    assert scene.states() == ["queued", "error"]
    assert WAITING in scene.comment("staging")


# -- the environment ---------------------------------------------------------------------------
@attack
def unknown_environment_input(scene: Scene) -> None:
    requested(scene)
    job_of(scene, environment="../../staging")


def test_an_unknown_environment_in_the_input_is_refused_before_it_is_used(replayed):
    scene = replayed["unknown_environment_input"]
    [job] = scene.jobs
    refused(job, "unknown_environment")
    assert scene.states() == ["queued", "error"]
    assert "is not one of mlops.yaml's environments (preview, staging)" in scene.comment("reply")
    # Used nowhere: no lock, no environment read, no state folder.
    assert scene.no_lock_taken() and not scene.github.calls("get_environment")
    assert not (scene.repo.path / ".mlops").exists()


@attack
def environment_without_reviewers(scene: Scene) -> None:
    protect(scene.github, "staging", [])  # as GitHub creates it the first time a job names it
    requested(scene)
    job_of(scene)


def test_an_environment_without_required_reviewers_is_refused(replayed):
    scene = replayed["environment_without_reviewers"]
    [job] = scene.jobs
    refused(job, "env_unprotected")
    assert scene.states() == ["queued", "error"]
    body = scene.comment("staging")
    assert "the GitHub environment staging has no required reviewers" in body
    assert "unprotected: warn" in body
    assert scene.no_lock_taken()


@attack
def environment_without_reviewers_warned(scene: Scene) -> None:
    requested(scene, environment="preview")  # `unprotected: warn`, no such GitHub environment
    job_of(scene, environment="preview")


def test_an_environment_without_reviewers_set_to_warn_goes_on_and_says_so(replayed):
    scene = replayed["environment_without_reviewers_warned"]
    [job] = scene.jobs
    refused(job, "run_missing")  # past the protection check, stopped by the next one
    body = scene.comment("preview")
    assert "the GitHub environment preview does not exist on GitHub" in body
    assert ":warning:" in body and "(deployed anyway:" in body and "unprotected: warn" in body
