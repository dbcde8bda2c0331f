"""The forge for local runs: says on stderr what it would post to GitHub, and remembers it.

There is no pull request and no permission model on a laptop: the local user is the admin of
their own clone, and a flow that needs a pull request gets one only if it was given one.
"""

from __future__ import annotations

import dataclasses
import getpass
import itertools
import json
import textwrap
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from mlops_bot.console import progress
from mlops_bot.errors import UserError
from mlops_bot.github.deployment_payload import DEPLOY_TASK
from mlops_bot.github.forge import (
    CheckConclusion,
    CheckRun,
    CommitStatus,
    Deployment,
    DeploymentState,
    Forge,
    Permission,
    PullRequest,
    Review,
)
from mlops_bot.github.pygithub_comments import comment_marker, with_marker

__all__ = ["ConsoleComment", "ConsoleDeployment", "ConsoleForge"]


@dataclass
class ConsoleComment:
    id: int
    number: int
    body: str  # with its hidden marker, as GitHub would hold it


@dataclass
class ConsoleDeployment:
    id: int
    sha: str
    environment: str
    payload: dict[str, object]
    description: str
    statuses: list[tuple[DeploymentState, str]] = field(default_factory=list)


class ConsoleForge:
    def __init__(self, pull_request: PullRequest | None = None, user: str | None = None) -> None:
        self.user = user or _local_user()
        self._pull = pull_request
        self.comments: dict[tuple[int, str], ConsoleComment] = {}  # (number, marker) -> comment
        self.reactions: list[tuple[int, str]] = []
        self.deployments: dict[int, ConsoleDeployment] = {}
        self.issues: dict[int, str] = {}  # number -> title
        self.check_runs_by_sha: dict[str, dict[str, CheckRun]] = {}  # sha -> name -> latest
        self.refs: dict[str, str] = {}  # ref -> the message of its commit
        # What a deploy's requirements read; a local run has none unless a caller sets them.
        self.reviews_by_number: dict[int, list[Review]] = {}
        self.statuses_by_sha: dict[str, list[CommitStatus]] = {}
        self.pushed_at: dict[str, datetime] = {}  # head sha -> when it was pushed
        self.main_branch = "main"
        self._ids = itertools.count(1)

    def pull_request(self, number: int) -> PullRequest:
        if self._pull is None or self._pull.number != number:
            raise UserError(f"there is no pull request #{number} in a local run: "
                            "deploy from a commit or a registry version instead")
        return self._pull

    def permission(self, login: str) -> Permission:
        return "admin" if login == self.user else "none"

    def upsert_comment(self, number: int, marker: str, body: str) -> int:
        comment_marker(marker)  # the same rule as on GitHub: a bad marker fails here too
        existing = self.comments.get((number, marker))
        text = with_marker(body, marker)
        if existing is None:
            existing = ConsoleComment(next(self._ids), number, text)
            self.comments[(number, marker)] = existing
            verb = "post"
        else:
            existing.body, verb = text, "update"
        progress(f"[local] would {verb} comment {existing.id} on #{number}:\n"
                 f"{textwrap.indent(body.rstrip(), '  | ')}")
        return existing.id

    def react(self, comment_id: int, reaction: str) -> None:
        self.reactions.append((comment_id, reaction))
        progress(f"[local] would react {reaction} to comment {comment_id}")

    def create_deployment(self, sha: str, environment: str, payload: dict[str, object],
                          description: str) -> int:
        deployment = ConsoleDeployment(next(self._ids), sha, environment, dict(payload),
                                       description)
        self.deployments[deployment.id] = deployment
        progress(f"[local] would create deployment {deployment.id} of {sha} to {environment}: "
                 f"{description}\n  payload: {json.dumps(payload, sort_keys=True, default=str)}")
        return deployment.id

    def deployment(self, deployment_id: int) -> Deployment:
        if deployment_id not in self.deployments:
            raise UserError(f"deployment {deployment_id} was not created in this run")
        return self._deployment(self.deployments[deployment_id])

    def _deployment(self, found: ConsoleDeployment) -> Deployment:
        return Deployment(found.id, found.sha, found.environment, dict(found.payload),
                          task=DEPLOY_TASK, creator=self.user)

    def set_deployment_status(self, deployment_id: int, state: DeploymentState,
                              description: str, environment_url: str | None = None,
                              log_url: str | None = None) -> None:
        if deployment_id not in self.deployments:
            raise ValueError(f"deployment {deployment_id} was not created in this run")
        self.deployments[deployment_id].statuses.append((state, description))
        links = "".join(f"\n  {name}: {url}" for name, url in
                        (("environment", environment_url), ("log", log_url)) if url)
        progress(f"[local] would set deployment {deployment_id} to {state}: {description}{links}")

    def recent_deployments(self, environment: str) -> list[Deployment]:
        return [self._deployment(d) for d in reversed(self.deployments.values())
                if d.environment == environment]

    def deployment_states(self, deployment_id: int, limit: int = 100) -> list[str]:
        states: list[str] = [s for s, _ in reversed(self.deployments[deployment_id].statuses)]
        return states[:limit]

    def environment_reviewers(self, environment: str) -> list[str] | None:
        # On a laptop the person running the command is the one who approves it.
        return [self.user]

    def bot_login(self) -> str:
        return self.user

    def find_issue(self, title: str) -> int | None:
        return next((number for number, known in self.issues.items() if known == title), None)

    def create_issue(self, title: str, body: str) -> int:
        number = next(self._ids)
        self.issues[number] = title
        progress(f"[local] would open issue #{number} {title!r}:\n"
                 f"{textwrap.indent(body.rstrip(), '  | ')}")
        return number


    def create_check_run(self, sha: str, name: str, conclusion: CheckConclusion | None,
                         title: str, summary: str, text: str,
                         details_url: str | None = None) -> int:
        status = "completed" if conclusion else "in_progress"
        run = CheckRun(next(self._ids), name, sha, status, conclusion, title, summary, text,
                       details_url, None, "local")
        self.check_runs_by_sha.setdefault(sha, {})[name] = run
        progress(f"[local] would create check run {name!r} on {sha[:12]}: "
                 f"{conclusion or status}, {title}")
        return run.id

    def complete_check_run(self, check_id: int, conclusion: CheckConclusion, title: str,
                           summary: str, text: str) -> None:
        for runs in self.check_runs_by_sha.values():
            for name, run in runs.items():
                if run.id == check_id:
                    runs[name] = dataclasses.replace(run, status="completed",
                                                     conclusion=conclusion, title=title,
                                                     summary=summary, text=text)
                    progress(f"[local] would complete check run {name!r}: {conclusion}, {title}")

    def check_runs(self, sha: str) -> list[CheckRun]:
        return list(self.check_runs_by_sha.get(sha, {}).values())

    def reviews(self, number: int) -> list[Review]:
        return list(self.reviews_by_number.get(number, []))

    def commit_statuses(self, sha: str) -> list[CommitStatus]:
        return list(self.statuses_by_sha.get(sha, []))

    def default_branch(self) -> str:
        return self.main_branch

    def head_pushed_at(self, pull: PullRequest) -> datetime | None:
        return self.pushed_at.get(pull.head_sha)

    def create_ref(self, ref: str, message: str, files: dict[str, str]) -> bool:
        if ref in self.refs:
            return False
        self.refs[ref] = message
        progress(f"[local] would create {ref}: {message.splitlines()[0] if message else ''}")
        return True

    def ref_message(self, ref: str) -> str | None:
        return self.refs.get(ref)

    def delete_ref(self, ref: str) -> bool:
        progress(f"[local] would delete {ref}")
        return self.refs.pop(ref, None) is not None

    def replace_ref(self, ref: str, expected: str, message: str, files: dict[str, str]) -> bool:
        if self.refs.get(ref) != expected:
            return False
        self.refs[ref] = message
        return True


def _local_user() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name (some containers): still one local user
        return "local"


if TYPE_CHECKING:
    # mypy checks ConsoleForge against the Forge Protocol here.
    def _satisfies_the_protocol(forge: ConsoleForge) -> Forge:
        return forge
