"""The approved deploy job: `command: promote` runs after the environment's reviewers approve.

It trusts the GitHub Deployment, not its own inputs, and verifies the Deployment completely before
anything else (mlops_bot.flows.deployment_checks: a known environment, the bot's own deployment
and task, a payload of mlops-bot's schema, inputs and commit that agree, a PR still open with the
head unchanged, no replay, no newer request, a protected environment); older requests it
supersedes end (mlops_bot.flows.superseded). The run the deployment names came from a check run
anyone with `checks: write` could have written, so it is verified against the cloud first (it
exists, succeeded, is of the version and parameters claimed, the version is in the registry);
otherwise nothing is promoted (`run_missing`, `record_mismatch`). The environment is locked (on
GitHub, as `/lock` locks it) for the duration of the promotion, statuses and the sticky comment
say how it went, and a failure restores the endpoint (the promote flow's job) and fails the job.
Every refusal sets the Deployment's status to `error` with its reason. GitHub failing (a
ForgeError) fails the job with one sentence of what it left (`github_failed`): before the
Deployment is `in_progress` it still waits for a re-run; after, the promotion stands and its end
status is tried once more.
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_bot.console import progress
from mlops_bot.errors import UserError
from mlops_bot.github.context import step_summary_path
from mlops_bot.github.forge_failure import RERUN, failed_on_github
from mlops_bot.github.outcome import Outcome, ReasonCode
from mlops_bot.github.pygithub_client import ForgeError
from mlops_bot.github.run_checks import workflow_run_url
from mlops_bot.report import comments
from mlops_bot.report.deploy_report import deploy_markdown
from mlops_bot.report.markdown import plain

if TYPE_CHECKING:
    from mlops_bot.backends.factory import Backends
    from mlops_bot.config import Config
    from mlops_bot.flows.deployment_checks import DeploymentRefused, Verified
    from mlops_bot.github.context import ActionContext
    from mlops_bot.github.forge import Deployment, DeploymentState, Forge

__all__ = ["handle_promote"]

_SHA = re.compile(r"^[0-9a-f]{40}$")
_ID = re.compile(r"^[0-9]{1,20}$")


def handle_promote(ctx: ActionContext) -> Outcome:
    from mlops_bot.config import load_config

    environment, sha, deployment_id = (ctx.input("environment"), ctx.input("sha"),
                                       ctx.input("deployment-id"))
    if not (_SHA.match(sha) and _ID.match(deployment_id) and environment):
        raise UserError("promote needs the inputs environment, sha (40 hex) and deployment-id "
                        "(digits): pass the comment job's outputs")
    # The event's pull request (issue_comment) is GitHub's word, unlike anything in a payload.
    number = (ctx.event.get("issue") or {}).get("number")
    job = _DeployJob(ctx.forge(), load_config(ctx.workspace), int(deployment_id),
                     number if isinstance(number, int) and number > 0 else None,
                     int((ctx.event.get("comment") or {}).get("id") or 0),
                     workflow_run_url(ctx.environ), ctx.workspace)
    try:
        outcome = job.run(environment, sha)
    except ForgeError as error:
        outcome = failed_on_github(ctx.environ, job.github_failed(error), sha=job.sha,
                                   environment=job.environment, deployment_id=job.deployment_id)
    summary = step_summary_path(ctx.environ)
    if summary is not None and job.report:
        with summary.open("a", encoding="utf-8") as stream:
            stream.write(job.report + "\n")
    return outcome


class _DeployJob:
    def __init__(self, forge: Forge, config: Config, deployment_id: int,
                 event_number: int | None, comment_id: int, log_url: str | None,
                 workspace: Path) -> None:
        self.forge, self.config, self.deployment_id = forge, config, deployment_id
        self.event_number, self.comment_id, self.log_url = event_number, comment_id, log_url
        self.workspace = workspace
        self.report = ""  # the markdown of the result, for the sticky comment and job summary
        # Until the Deployment is verified: where a refusal is told (the event's PR), and
        # under which marker (no environment name that mlops.yaml does not define).
        self.number, self.environment, self.marker = event_number or 0, "", "reply"
        self.payload: dict[str, Any] = {}
        self.pull_request, self.sha = 0, ""
        self.warnings: list[str] = []
        # How far it got, for a report GitHub failed (github_failed): the Deployment set
        # in_progress; what the job decided and the status that ends the Deployment, and
        # whether that status was set.
        self.started, self.decided, self.ended = False, "", False
        self.final: tuple[DeploymentState, str, str | None] | None = None

    def run(self, environment: str, sha: str) -> Outcome:
        from mlops_bot.flows.deploy_requirements import recheck
        from mlops_bot.flows.deployment_checks import DeploymentRefused, verify_deployment
        from mlops_bot.flows.superseded import supersede_older

        try:
            verified = verify_deployment(self.forge, self.config, environment, sha,
                                         self.deployment_id, self.event_number)
        except DeploymentRefused as refused:
            return self._refused(refused)
        self._trust(verified)
        # The environment's `require` again (flows/deploy_requirements): reviews and checks can
        # change while approval is pending. A rollback deploys nothing of the PR: as in the
        # comment job, its requirements do not apply.
        unmet = recheck(self.forge, self.config, self.environment, self.pull_request) \
            if self.pull_request and self.payload.get("action") == "deploy" else None
        if unmet is not None:
            return self._fail(unmet.code, unmet.message, markdown=unmet.message)
        supersede_older(self.forge, verified.deployment, verified.bot)
        self.bot = verified.bot
        self.backends = self._backends()
        refused_claim = self._verify()
        if refused_claim is not None:
            return refused_claim
        return self._locked_promotion()

    def _trust(self, verified: Verified) -> None:
        """From here on the Deployment is the bot's own: its payload says where to report."""
        self.deployment: Deployment = verified.deployment
        self.sha = verified.deployment.sha
        self.payload = dict(verified.deployment.payload)
        self.pull_request = verified.payload.pull_request or 0
        # Where the result is reported: the PR, or the tracking issue of a scheduled retraining.
        self.number = self.pull_request or verified.payload.tracking_issue or 0
        self.environment = self.marker = verified.deployment.environment
        self.warnings = list(verified.warnings)

    def _refused(self, refused: DeploymentRefused) -> Outcome:
        if refused.trusted is not None:
            self._trust(refused.trusted)
        if not refused.end:
            self.marker = "reply"  # what the comment of the environment says stands too
        return self._fail(refused.code, str(refused), end=refused.end, tell=refused.tell)

    def _backends(self) -> Backends:
        from mlops_bot.backends.factory import backends_for
        from mlops_bot.github.locks import ForgeLockStore

        # The locks `/lock` takes live on GitHub (mlops_bot.github.locks): the same store here.
        return dataclasses.replace(backends_for(self.config, self.workspace),
                                   locks=ForgeLockStore(self.forge))

    def _locked_promotion(self) -> Outcome:
        from mlops_bot.flows.held_lock import EnvironmentLocked, holding
        from mlops_bot.flows.superseded import end_abandoned

        owner = (f"#{self.pull_request}" if self.pull_request
                 else f"deployment {self.deployment.id}")
        # Held with an expiry renewed while it promotes (a killed job's lock lapses and is taken
        # over); a lock the PR took by /lock stays until /unlock.
        lock = contextlib.ExitStack()
        try:
            lock.enter_context(holding(self.backends.locks, self.environment, owner, str(
                self.payload.get("requested_by", "")), "deploy in progress"))
        except EnvironmentLocked as refused:
            locked = comments.locked(refused.held)
            return self._fail(ReasonCode.ENV_LOCKED, locked, markdown=locked)
        try:
            self.forge.set_deployment_status(self.deployment.id, "in_progress", "promoting",
                                             log_url=self.log_url)
            self.started = True
            end_abandoned(self.forge, self.deployment, self.bot)  # a killed job's, if any
            try:
                result = self._promote()
            except UserError as error:
                return self._fail(ReasonCode.FAILED, str(error))
            except Exception as error:
                self._fail_unexpected(error)
                raise
        finally:
            self._release(lock)
        self.report = deploy_markdown(result) + self._warned()
        if not result["ok"]:
            # The flow has already put the endpoint back as it was; the job fails with why.
            code = (ReasonCode.ARTIFACT_OUTSIDE_RUN if result["status"] == "artifact_outside_run"
                    else ReasonCode.FAILED)
            return self._fail(code, str(result["message"]), report=self.report,
                              details=result)
        url = result.get("url")
        self.decided = f"ok: {result['message']}"
        self._end("success", str(result["message"]),
                  url if isinstance(url, str) and url.startswith("http") else None)
        self._tell(self.report, "rocket")
        return Outcome("proceed", ReasonCode.OK, str(result["message"]),
                       sha=self.deployment.sha, environment=self.environment,
                       deployment_id=self.deployment.id, details=result)

    def _verify(self) -> Outcome | None:
        """A deploy's claimed run against the cloud; a refusal promotes nothing."""
        from mlops_bot.flows.promote_inputs import ClaimRefused, verify_claim

        if self.payload.get("action") == "rollback":
            return None  # puts back what served before: no run is claimed
        try:
            # A run of another commit only as the push job recorded it on this commit
            # (checked in deployment_checks); otherwise the run must be of this commit.
            verify_claim(self.backends, self.payload, self.deployment.sha)
        except ClaimRefused as refused:
            return self._fail(ReasonCode(refused.code), str(refused))
        return None

    def _promote(self) -> dict[str, Any]:
        from mlops_bot.flows.promote import promote, rollback

        pipeline = self.payload.get("pipeline")
        if self.payload.get("action") == "rollback":
            return rollback(self.backends, self.config, self.environment,
                            str(pipeline) if pipeline else None,
                            repo_root=self.workspace).to_dict()
        traffic = self.payload.get("traffic")
        result = promote(self.backends, self.config, self.environment, str(pipeline),
                         repo_root=self.workspace, run_id=str(self.payload["run_id"]),
                         traffic=int(traffic) if traffic else None).to_dict()
        produced_by = self.payload.get("produced_by")
        if isinstance(produced_by, str) and produced_by != self.deployment.sha:
            result["notes"] = [*(result.get("notes") or []),
                               f"commit {self.deployment.sha[:12]} (the PR head) compiles "
                               f"{pipeline} to the same registry version as commit "
                               f"{produced_by[:12]}, whose push produced run "
                               f"{self.payload['run_id']}"]
        return result

    def _tell(self, report: str, reaction: str, tell: bool = True) -> None:
        if self.number and tell:
            self.forge.upsert_comment(self.number, self.marker, report)
        if self.comment_id:
            self.forge.react(self.comment_id, reaction)

    def _fail(self, code: ReasonCode, message: str, report: str = "",
              details: dict[str, Any] | None = None, markdown: str | None = None,
              end: bool = True, tell: bool = True) -> Outcome:
        """End the deployment (status `error`) with `message`; the PR is told `report`, else a
        refusal whose body is `markdown` (the bot's own) or `message` as plain text (errors
        quote values that pipelines, runs and services wrote)."""
        self.decided = f"{code}: {message}"
        if end:
            self._end("error", message)
        self.report = report or comments.refused(
            f"/{self.payload.get('action', 'deploy')} {self.environment}".strip(), code,
            markdown if markdown is not None else plain(message)) + self._warned()
        self._tell(self.report, "-1", tell)
        return Outcome("stop", code, message, sha=self.sha,
                       environment=self.environment, deployment_id=self.deployment_id,
                       details=details or {})

    def _end(self, state: DeploymentState, description: str, url: str | None = None) -> None:
        self.final = (state, description[:140], url)
        self.forge.set_deployment_status(self.deployment_id, state, description[:140],
                                         log_url=self.log_url, environment_url=url)
        self.ended = True

    def _release(self, lock: contextlib.ExitStack) -> None:
        """The lock let go; one GitHub failed to delete lapses (mlops_bot.flows.held_lock)."""
        from mlops_bot.flows.held_lock import lock_seconds

        try:
            lock.close()
        except ForgeError as error:
            self.warnings.append(
                f"the lock of {self.environment} could not be released ({error}): it lapses "
                f"{lock_seconds()} seconds after its last renewal, when the next deploy takes "
                "it over")
            progress(f"mlops-bot: warning: {self.warnings[-1]}")

    def github_failed(self, error: ForgeError) -> str:
        """What the job leaves when GitHub failed: a decided end is set once more (the client
        does not retry a POST); a Deployment that could not be ended is said to be, and how it
        ends (flows/superseded.end_abandoned)."""
        if not (self.decided or self.started):
            return (f"{error}: nothing was promoted, and deployment {self.deployment_id} was "
                    f"left as it was; {RERUN}")
        if self.final is not None and not self.ended:
            with contextlib.suppress(UserError, ForgeError):
                self._end(*self.final)
        if self.ended:
            shows = f"deployment {self.deployment_id} is {self.final and self.final[0]}"
        elif self.started:
            shows = (f"deployment {self.deployment_id} may still show in_progress: the next "
                     f"deploy to {self.environment} ends it")
        else:
            shows = f"deployment {self.deployment_id} was left as it was"
        if self.started:
            then = "what the deploy did stands (a re-run would refuse it as a replay)"
        else:
            then = "the pull request may not have been told" if self.ended else RERUN
        return (f"the deploy job ended {self.decided or 'while promoting'}, but GitHub failed "
                f"to report it: {error}; {shows}; {then}")

    def _warned(self) -> str:
        return "".join(f"\n\n:warning: {plain(w)}" for w in self.warnings)

    def _fail_unexpected(self, error: Exception) -> None:
        """A bug or a backend's unforeseen failure still ends the deployment (never left
        in_progress); the caller re-raises, so the job log keeps the traceback."""
        try:
            self._fail(ReasonCode.FAILED, f"unexpected failure ({type(error).__name__}: "
                                          f"{error}): the job log has the traceback")
        except Exception as reporting:
            # The original error is what the log must show; this one is only noted beside it.
            error.add_note(f"reporting it to GitHub failed too: {reporting}")
