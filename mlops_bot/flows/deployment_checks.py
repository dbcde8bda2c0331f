"""What the approved deploy job checks of the Deployment it was handed, before it does anything.

The job's inputs (environment, sha, deployment-id) come from the comment or retrain job, and the
Deployment from GitHub, where anyone with `deployments: write` can create one. So, in this order,
each refusal one reason code: the environment is one of mlops.yaml's (before its name is used
for a lock, a path or an endpoint); the Deployment was created by the bot's own identity (the
token's login: `github-actions[bot]` for the workflow's GITHUB_TOKEN) with mlops-bot's task; its
payload is of the schema and version mlops-bot writes (mlops_bot.github.deployment_payload), a
comment's deployment names its pull request, the one the job's event is about; the inputs agree
with it; the payload and the run it names are of the Deployment's commit (a run an earlier commit
produced only when the push job's record on the Deployment's commit says so); a pull request's
is still open with its head unchanged; the Deployment is still waiting (its latest status
queued, and no other state among all its statuses, every page read: it never ran) and no newer
deploy to the environment was requested after it (a replay or a superseded request promotes
nothing); the GitHub environment has required reviewers (`unprotected: warn` in mlops.yaml
deploys without them, and says so).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from mlops_bot.github.deployment_payload import (
    DEPLOY_TASK,
    DeploymentPayload,
    PayloadInvalid,
    parse_payload,
)
from mlops_bot.github.outcome import ReasonCode

if TYPE_CHECKING:
    from mlops_bot.config import Config
    from mlops_bot.github.forge import Deployment, Forge

__all__ = ["HISTORY_READ", "WAITING", "DeploymentRefused", "Verified", "is_ours", "thread_of",
           "verify_deployment"]

# The states of a deployment nobody has started: ours (queued) and GitHub's own.
WAITING = frozenset({"queued", "waiting", "pending"})
# Statuses read to tell that a deployment never ran (ten pages): one with more is refused.
HISTORY_READ = 1000


class DeploymentRefused(Exception):
    """The Deployment is not one to promote; `code` says why, the message how to go on.
    `end`: set its status to `error` (not for a replay: what it did stands, and what serves
    must not look failed); `tell`: say so in its sticky comment (not when a newer request of
    the same pull request owns that comment now)."""

    def __init__(self, code: ReasonCode, message: str, *, end: bool = True,
                 tell: bool = True) -> None:
        super().__init__(message)
        self.code, self.end, self.tell = code, end, tell
        self.trusted: Verified | None = None  # set once the Deployment was found the bot's own


@dataclass(frozen=True)
class Verified:
    deployment: Deployment
    payload: DeploymentPayload
    bot: str  # the bot's login, which created it
    warnings: list[str] = field(default_factory=list)


def is_ours(deployment: Deployment, bot: str) -> bool:
    return deployment.task == DEPLOY_TASK and deployment.creator.casefold() == bot.casefold()


def thread_of(deployment: Deployment) -> int | None:
    """The pull request or tracking issue a deployment of mlops-bot reports on."""
    try:
        payload = parse_payload(deployment.payload)
    except PayloadInvalid:
        return None
    return payload.pull_request or payload.tracking_issue


def verify_deployment(forge: Forge, config: Config, environment: str, sha: str,
                      deployment_id: int, event_number: int | None) -> Verified:
    """The Deployment and its payload, checked; else `DeploymentRefused`. `event_number`: the
    pull request the job's event is about (issue_comment), None for a scheduled retraining."""
    if environment not in config.environments:
        raise DeploymentRefused(ReasonCode.UNKNOWN_ENVIRONMENT, (
            f"the environment input {environment!r} is not one of mlops.yaml's environments "
            f"({', '.join(sorted(config.environments)) or 'none'}) on the default branch: "
            "nothing was promoted"))
    deployment = forge.deployment(deployment_id)
    bot = forge.bot_login()
    payload = _trusted_payload(deployment, bot, event_number)
    try:
        return _verify_trusted(forge, config, Verified(deployment, payload, bot), environment,
                               sha)
    except DeploymentRefused as refused:
        refused.trusted = Verified(deployment, payload, bot)
        raise


def _verify_trusted(forge: Forge, config: Config, verified: Verified, environment: str,
                    sha: str) -> Verified:
    deployment, payload, bot = verified.deployment, verified.payload, verified.bot
    if (deployment.sha, deployment.environment) != (sha, environment):
        raise DeploymentRefused(ReasonCode.INPUTS_MISMATCH, (
            f"deployment {deployment.id} is of {deployment.sha[:12]} to "
            f"{deployment.environment}, not {sha[:12]} to {environment} as the job's inputs "
            "say: nothing was promoted"))
    _same_commit(forge, config, deployment, payload)
    if payload.pull_request is not None:
        _pull_unchanged(forge, deployment, payload.pull_request)
    _not_replayed(forge, deployment, bot, payload.pull_request or payload.tracking_issue)
    return Verified(deployment, payload, bot, _protection(forge, config, environment))


def _trusted_payload(deployment: Deployment, bot: str,
                     event_number: int | None) -> DeploymentPayload:
    if deployment.creator.casefold() != bot.casefold():
        raise DeploymentRefused(ReasonCode.FOREIGN_DEPLOYMENT, (
            f"deployment {deployment.id} was created by {deployment.creator or 'nobody known'}, "
            f"not by mlops-bot's identity ({bot}): only deployments the bot created are "
            "promoted; comment `/deploy` on the pull request"))
    if deployment.task != DEPLOY_TASK:
        raise DeploymentRefused(ReasonCode.FOREIGN_TASK, (
            f"deployment {deployment.id} has task {deployment.task!r}, not mlops-bot's "
            f"{DEPLOY_TASK!r}: it is not a deploy mlops-bot asked for"))
    try:
        payload = parse_payload(deployment.payload)
    except PayloadInvalid as error:
        raise DeploymentRefused(ReasonCode.PAYLOAD_INVALID, (
            f"the payload of deployment {deployment.id} is not one mlops-bot writes ({error}): "
            "comment `/deploy` on the pull request again")) from None
    if payload.pull_request != event_number:
        said = f"#{payload.pull_request}" if payload.pull_request else "no pull request"
        about = f"#{event_number}" if event_number else "no pull request"
        raise DeploymentRefused(ReasonCode.PAYLOAD_INVALID, (
            f"deployment {deployment.id} names {said}, but this job runs for {about}: "
            "nothing was promoted"))
    return payload


def _same_commit(forge: Forge, config: Config, deployment: Deployment,
                 payload: DeploymentPayload) -> None:
    """The payload is of the Deployment's commit, and so is its run (or the push job recorded
    on that commit that an earlier commit's run is of the same version)."""
    from mlops_bot.flows.head_run import NoRun, head_record

    if payload.sha != deployment.sha:
        raise DeploymentRefused(ReasonCode.COMMIT_MISMATCH, (
            f"the payload of deployment {deployment.id} is of commit {payload.sha[:12]}, the "
            f"deployment of {deployment.sha[:12]}: nothing was promoted"))
    if payload.action != "deploy" or payload.produced_by in (None, deployment.sha):
        return  # the run is checked against the deployment's own commit (verify_claim)
    try:
        record = head_record(forge, deployment.sha, str(payload.pipeline), config.backend,
                             payload.version)
        matches = (record.run_id, record.produced_by) == (payload.run_id, payload.produced_by)
    except NoRun:
        matches = False
    if not matches:
        raise DeploymentRefused(ReasonCode.COMMIT_MISMATCH, (
            f"run {payload.run_id} of deployment {deployment.id} was produced by "
            f"{str(payload.produced_by)[:12]}, and the push job's record on the deployment's "
            f"commit {deployment.sha[:12]} does not name that run: nothing was promoted; "
            "comment `/deploy` again"))


def _pull_unchanged(forge: Forge, deployment: Deployment, number: int) -> None:
    pull = forge.pull_request(number)
    if pull.state != "open":
        raise DeploymentRefused(ReasonCode.PR_CLOSED, (
            f"#{number} was {pull.state} while the deploy waited for approval: nothing was "
            "promoted"))
    if pull.head_sha != deployment.sha:
        raise DeploymentRefused(ReasonCode.REF_CHANGED, (
            f"the PR head moved from {deployment.sha[:12]} to {pull.head_sha[:12]} after the "
            f"command: nothing was promoted; comment `/deploy {deployment.environment}` again "
            "to deploy the new head"))


def _not_replayed(forge: Forge, deployment: Deployment, bot: str, thread: int | None) -> None:
    newer = [d for d in forge.recent_deployments(deployment.environment)
             if d.id > deployment.id and is_ours(d, bot)]
    if newer:
        raise DeploymentRefused(ReasonCode.SUPERSEDED, (
            f"deployment {newer[-1].id} to {deployment.environment} was requested after this "
            f"one (deployment {deployment.id}), so this one was superseded: only the newest "
            "request to an environment is promoted"),
            tell=all(thread_of(d) != thread for d in newer))
    states = forge.deployment_states(deployment.id, limit=HISTORY_READ + 1)
    if len(states) > HISTORY_READ:
        # A `success` could hide past the statuses read (anyone may add statuses): in doubt,
        # refused, and left as it is.
        raise DeploymentRefused(ReasonCode.REPLAYED, (
            f"deployment {deployment.id} has more than {HISTORY_READ:,} statuses, more than the "
            "deploy job reads, so whether it ran before cannot be told: nothing was promoted; "
            "comment `/deploy` again to deploy"), end=False)
    latest = states[0] if states else "none"
    # Anyone with `deployments: write` can add a status: a `queued` one after `success` does
    # not make a deployment that ran wait again.
    ran = next((state for state in states if state not in WAITING), None)
    if latest not in WAITING or ran is not None:
        now = latest if latest not in WAITING else f"{ran} before it was set {latest} again"
        raise DeploymentRefused(ReasonCode.REPLAYED, (
            f"deployment {deployment.id} is {now}, not waiting for approval: a deployment "
            "is promoted once at most; comment `/deploy` again to deploy again"), end=False)


def _protection(forge: Forge, config: Config, environment: str) -> list[str]:
    """[] when the GitHub environment has required reviewers; else a refusal, or the warning
    (`unprotected: warn`)."""
    reviewers = forge.environment_reviewers(environment)
    if reviewers:
        return []
    state = "does not exist on GitHub" if reviewers is None else "has no required reviewers"
    problem = (f"the GitHub environment {environment} {state}, so nobody approved this deploy "
               f"(GitHub creates an environment named by a job unprotected): add required "
               f"reviewers in the repository's Settings > Environments > {environment}")
    if config.environments[environment].unprotected == "warn":
        return [f"{problem} (deployed anyway: `unprotected: warn` in mlops.yaml)"]
    raise DeploymentRefused(ReasonCode.ENV_UNPROTECTED, (
        f"{problem}, or set `unprotected: warn` for {environment} in mlops.yaml: nothing was "
        "promoted"))
