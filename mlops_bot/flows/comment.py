"""`issue_comment`: read the command, check who asked and on which commit, act or refuse.

The job that runs this holds no deploy approval and no cloud credentials: a deploy ends here with
a GitHub Deployment of the PR head commit, pinned now, and `decision=proceed`; the workflow's
deploy job, gated by the environment's required reviewers, verifies the run against the cloud
and promotes it. What this job knows comes from GitHub: the push job's check runs on the head
(mlops_bot.flows.head_run) and the locks kept as branches (mlops_bot.github.locks). Every refusal
is a sticky reply with its reason. GitHub failing half-way (a ForgeError) ends the Deployment
the command created, if any, and fails the job with one sentence (mlops_bot.github.forge_failure).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_bot.console import progress
from mlops_bot.errors import UserError
from mlops_bot.flows.deploy_requirements import PERMISSION_RANK, pinned, unmet
from mlops_bot.flows.superseded import supersede_before
from mlops_bot.github.deployment_payload import stamped
from mlops_bot.github.forge_failure import RERUN, failed_on_github
from mlops_bot.github.outcome import Outcome, ReasonCode
from mlops_bot.github.pygithub_client import ForgeError
from mlops_bot.report import comments
from mlops_bot.report.markdown import mention

if TYPE_CHECKING:
    from mlops_bot.backends.factory import Backends
    from mlops_bot.backends.types import LockStore
    from mlops_bot.config import Config
    from mlops_bot.github.comment_commands import Command
    from mlops_bot.github.context import ActionContext
    from mlops_bot.github.forge import Forge, PullRequest
    from mlops_bot.repo.git import GitRepo

__all__ = ["CommentFlow", "handle_comment"]


def handle_comment(ctx: ActionContext) -> Outcome:
    from mlops_bot.config import load_config
    from mlops_bot.github.comment_commands import Ignore, Reply
    from mlops_bot.github.comment_grammar import parse_comment
    from mlops_bot.repo.config_diff import layout_at
    from mlops_bot.repo.git import GitRepo
    from mlops_bot.repo.layout import discover_pipelines

    event = ctx.event
    issue, comment = event.get("issue") or {}, event.get("comment") or {}
    if event.get("action") != "created":
        return Outcome("stop", ReasonCode.IGNORED, "the comment was edited or deleted")
    if "pull_request" not in issue:
        return Outcome("stop", ReasonCode.IGNORED, "a comment on an issue, not a pull request")
    if (comment.get("user") or {}).get("type") == "Bot":
        return Outcome("stop", ReasonCode.IGNORED, "a comment by a bot")
    # The configuration and the pipeline list come from the checked-out default branch, never
    # from the pull request: a PR cannot grant itself environments or permissions.
    config = load_config(ctx.workspace)
    git = GitRepo(ctx.workspace)
    layout = layout_at(git, git.resolve("HEAD") or "HEAD")
    pipelines, _ = discover_pipelines(git.tree("HEAD", [layout.pipelines_dir]),
                                      layout.pipelines_dir)
    parsed = parse_comment(comment.get("body") or "", list(config.environments), list(pipelines))
    if isinstance(parsed, Ignore):
        return Outcome("stop", ReasonCode.IGNORED, f"not a command ({parsed.reason})")
    forge, number = ctx.forge(), int(issue["number"])
    if isinstance(parsed, Reply):
        reply_id = forge.upsert_comment(number, "reply", parsed.text)
        return Outcome("stop", ReasonCode.REPLIED, parsed.reason_code, comment_id=reply_id)
    flow = CommentFlow(forge, config, git, number, int(comment["id"]),
                       str(comment["user"]["login"]), ctx.environ,
                       _created_at(comment.get("created_at")))
    return flow.run(parsed)


def _created_at(value: object) -> datetime | None:
    """When GitHub says the comment was created (the event's own field); None if unreadable."""
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None
    return moment if moment is not None and moment.tzinfo is not None else None


@dataclass
class CommentFlow:
    forge: Forge
    config: Config
    git: GitRepo
    number: int
    comment_id: int
    actor: str
    environ: Mapping[str, str]
    commented_at: datetime | None = None  # the comment's created_at: the head must be older
    # The Deployment this command created, until the PR was told of it.
    _requested: int | None = field(default=None, init=False)

    @cached_property
    def backends(self) -> Backends:
        """Built only by a command that runs something (never by /deploy, /lock...): on backend
        gcp this job has no credentials to build them with."""
        from mlops_bot.backends.factory import backends_for

        return backends_for(self.config, self.git.root)

    @cached_property
    def locks(self) -> LockStore:
        from mlops_bot.github.locks import ForgeLockStore

        return ForgeLockStore(self.forge)

    def run(self, command: Command) -> Outcome:
        try:
            return self._run(command)
        except ForgeError as error:
            return self._github_failed(command, error)

    def _run(self, command: Command) -> Outcome:
        self.forge.react(self.comment_id, "eyes")
        refusal = self._check_actor(command)
        if refusal is not None:
            return refusal
        pull = self.forge.pull_request(self.number)
        if pull.state != "open" and command.name != "unlock":  # a closed PR's lock can go
            return self._refuse(command, ReasonCode.PR_CLOSED, f"#{self.number} is {pull.state}.")
        environment = self.config.environments.get(command.environment or "")
        if pull.is_fork and not (environment and environment.allow_forks):
            return self._refuse(command, ReasonCode.FORK_REFUSED,
                                "This pull request comes from a fork; deploying forks is off "
                                "(`allow_forks` of the environment in mlops.yaml).")
        handlers = {"deploy": self._deploy, "rollback": self._rollback, "lock": self._lock,
                    "unlock": self._unlock, "plan": self._plan}
        try:
            return handlers[command.name](command, pull)
        except UserError as error:
            return self._refuse(command, ReasonCode.FAILED, str(error))

    def _check_actor(self, command: Command) -> Outcome | None:
        environment = self.config.environments.get(command.environment or "")
        needed = environment.deployers.permission if environment else "write"
        allowed = environment.deployers.users if environment else []
        try:
            permission = self.forge.permission(self.actor)
        except Exception as error:  # any failure to check is a denial, never an allowance
            # The API's answer and URLs go to the job log only: the PR is told no internals.
            progress(f"checking the permission of {self.actor} failed: "
                     f"{type(error).__name__}: {error}")
            return self._refuse(command, ReasonCode.PERMISSION_DENIED,
                                f"Could not check {mention(self.actor)}'s permission on GitHub, so "
                                "the command is denied; the workflow run's log has the details. "
                                "Comment again in a while.")
        # GitHub logins are case-insensitive: @Alice and @alice are one user.
        listed = {user.casefold() for user in allowed}
        if (PERMISSION_RANK[permission] < PERMISSION_RANK[needed]
                or (allowed and self.actor.casefold() not in listed)):
            who = f" and be one of {', '.join(map(comments.code, allowed))}" if allowed else ""
            return self._refuse(command, ReasonCode.PERMISSION_DENIED,
                                f"{mention(self.actor)} has `{permission}` permission; this needs "
                                f"`{needed}` or more{who}.")
        return None

    def _deploy(self, command: Command, pull: PullRequest) -> Outcome:
        from mlops_bot.flows.head_run import NoRun, head_record

        environment, pipeline = command.environment or "", command.pipeline or ""
        found = (pinned(self.forge, pull, command.sha, self.commented_at,
                        f"/deploy {environment} {pipeline}")
                 or unmet(self.forge, environment, self.config.environments[environment], pull))
        if found is not None:
            return self._refuse(command, found.code, found.message)
        refusal = self._unavailable(command, environment)
        if refusal is not None:
            return refusal
        try:
            check = head_record(self.forge, pull.head_sha, pipeline, self.config.backend,
                                command.version)
        except NoRun as missing:
            return self._refuse(command, ReasonCode.RUN_MISSING, str(missing))
        payload: dict[str, object] = {
            "action": "deploy", "pipeline": pipeline, "version": check.version,
            "run_id": check.run_id, "parameters": check.parameters,
            "produced_by": check.produced_by, "backend": check.backend, "sha": pull.head_sha,
            "pull_request": self.number, "traffic": command.traffic, "requested_by": self.actor}
        deployment = self._requested = self.forge.create_deployment(
            pull.head_sha, environment, stamped(payload), f"deploy {pipeline}@{check.version}")
        self.forge.set_deployment_status(deployment, "queued", "waiting for approval")
        supersede_before(self.forge, deployment)  # GitHub cancels the older pending job now
        comment = self.forge.upsert_comment(self.number, environment, comments.deploy_requested(
            environment, pull.head_sha, check, command.traffic, self.actor))
        return Outcome("proceed", ReasonCode.OK, f"deploy of {pipeline}@{check.version} to "
                       f"{environment} awaits approval", sha=pull.head_sha,
                       environment=environment, deployment_id=deployment, comment_id=comment,
                       pipelines=[pipeline],
                       versions=[{"pipeline": pipeline, "version": check.version}],
                       details={"payload": payload})

    def _unavailable(self, command: Command, environment: str) -> Outcome | None:
        """A refusal when the environment is locked by someone else or cannot be deployed to."""
        from mlops_bot.flows.held_lock import lapsed

        held = self.locks.get(environment)
        # A lock that lapsed (a deploy job killed while holding it) is taken over by the deploy.
        if held is not None and held.owner != self._owner and lapsed(held) is None:
            return self._refuse(command, ReasonCode.ENV_LOCKED, comments.locked(held))
        problem = no_shared_state(self.config, self.git.root, self.environ)
        if problem is not None:
            return self._refuse(command, ReasonCode.NO_SHARED_STATE, problem)
        return None

    def _rollback(self, command: Command, pull: PullRequest) -> Outcome:
        # A rollback needs no run of this PR: it puts back the model that served before. The
        # Deployment still pins the PR head, so the approval and the audit trail are the same.
        environment, pipeline = command.environment or "", command.pipeline
        refusal = self._unavailable(command, environment)
        if refusal is not None:
            return refusal
        payload: dict[str, object] = {
            "action": "rollback", "pipeline": pipeline, "sha": pull.head_sha,
            "pull_request": self.number, "requested_by": self.actor}
        deployment = self._requested = self.forge.create_deployment(
            pull.head_sha, environment, stamped(payload), f"rollback {pipeline or 'all pipelines'}")
        self.forge.set_deployment_status(deployment, "queued", "waiting for approval")
        supersede_before(self.forge, deployment)  # GitHub cancels the older pending job now
        comment = self.forge.upsert_comment(self.number, environment, comments.rollback_requested(
            environment, pipeline, self.actor))
        return Outcome("proceed", ReasonCode.OK, f"rollback in {environment} awaits approval",
                       sha=pull.head_sha, environment=environment, deployment_id=deployment,
                       comment_id=comment, pipelines=[pipeline] if pipeline else [],
                       details={"payload": payload})

    def _lock(self, command: Command, pull: PullRequest) -> Outcome:
        from mlops_bot.backends.types import EnvironmentLock

        wanted = EnvironmentLock(command.environment or "", self._owner, self.actor,
                                 command.reason or "",
                                 datetime.now(UTC).isoformat(timespec="seconds"))
        held = self.locks.acquire(wanted)
        if held.owner != self._owner:
            return self._refuse(command, ReasonCode.ENV_LOCKED, comments.locked(held))
        return self._done(command, comments.locked(held))

    def _unlock(self, command: Command, pull: PullRequest) -> Outcome:
        released = self.locks.release(command.environment or "",
                                      None if command.force else self._owner)
        return self._done(command, comments.unlocked(command.environment or "", released))

    def _plan(self, command: Command, pull: PullRequest) -> Outcome:
        from mlops_bot.repo.planner import ChangePlanner
        from mlops_bot.report.plan_report import render_plan_markdown

        self.git.fetch(pull.head_sha)
        plan = ChangePlanner(self.git).plan("0" * 40, pull.head_sha)
        comment = self.forge.upsert_comment(self.number, "plan", render_plan_markdown(plan))
        return Outcome("stop", ReasonCode.OK, f"{len(plan.pipelines)} pipeline(s) affected",
                       sha=pull.head_sha, comment_id=comment,
                       pipelines=[p.name for p in plan.pipelines])

    def _github_failed(self, command: Command, error: ForgeError) -> Outcome:
        """GitHub failed half-way through `command`: a Deployment it created ends (no request
        waits for an approval the PR was never told of), the PR is told if GitHub lets it, and
        the job fails with the sentence of what was asked and what to do."""
        left = ""
        if self._requested is not None:
            try:
                self.forge.set_deployment_status(self._requested, "error", "the comment job "
                                                 "failed before the PR was told of the request")
                left = f" (deployment {self._requested}, which it had created, was ended)"
            except (UserError, ForgeError) as again:
                left = (f" (deployment {self._requested}, which it had created, could not be "
                        f"ended either: {again}; the next request to {command.environment} "
                        "ends it)")
        try:
            self.forge.react(self.comment_id, "-1")
            self.forge.upsert_comment(self.number, _marker(command), comments.refused(
                f"/{command.name}", ReasonCode.FAILED, "GitHub failed while this command ran, "
                "so it was not done; the workflow run's log has the details. Re-run the job, "
                "or comment again."))
        except (UserError, ForgeError) as again:  # GitHub is failing: the job log is the report
            progress(f"warning: could not tell #{self.number}: {again}")
        asked = " ".join(filter(None, [f"/{command.name}", command.environment]))
        return failed_on_github(self.environ, f"{error}: `{asked}` was not done{left}; {RERUN}",
                                environment=command.environment or "")

    @property
    def _owner(self) -> str:
        return f"#{self.number}"

    def _done(self, command: Command, body: str, **fields: Any) -> Outcome:
        comment = self.forge.upsert_comment(self.number, _marker(command), body)
        return Outcome("stop", ReasonCode.OK, body.splitlines()[0].lstrip("# "),
                       environment=command.environment or "", comment_id=comment, **fields)

    def _refuse(self, command: Command, code: ReasonCode, message: str) -> Outcome:
        self.forge.react(self.comment_id, "-1")
        comment = self.forge.upsert_comment(self.number, _marker(command),
                                            comments.refused(f"/{command.name}", code, message))
        return Outcome("stop", code, message, environment=command.environment or "",
                       comment_id=comment)


def _marker(command: Command) -> str:
    """One sticky comment per environment (deploy, rollback, lock...), else per command."""
    return command.environment or command.name


def no_shared_state(config: Config, root: Path, environ: Mapping[str, str]) -> str | None:
    """Why deploying cannot work here, or None: backend local on a GitHub-hosted runner keeps
    its runs and models in the job's fresh checkout, gone before the deploy job starts."""
    if (config.backend != "local" or environ.get("GITHUB_ACTIONS") != "true"
            or environ.get("MLOPS_BOT_STATE_DIR")):
        return None
    if not (root / config.state_dir).resolve().is_relative_to(root.resolve()):
        return None  # an absolute state_dir outside the checkout: a self-hosted runner's folder
    return (f"Deploying needs runs and models that outlive a job, and backend `local` keeps them "
            f"in `{config.state_dir}` inside each job's fresh checkout: set `backend: gcp` in "
            "mlops.yaml, or run the workflows on a self-hosted runner with a persistent folder "
            "named by `MLOPS_BOT_STATE_DIR` (the workflows' `env:`) or by an absolute "
            "`state_dir:` in mlops.yaml.")
