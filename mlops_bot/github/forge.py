"""The forge port: everything mlops-bot asks of or tells GitHub, as one small Protocol.

`GithubForge` (PyGithub, `mlops_bot.github.pygithub_forge`) talks to GitHub or GitHub Enterprise
Server; `ConsoleForge` prints what it would post, for local runs. Flows receive one of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

__all__ = [
    "CheckConclusion",
    "CheckRun",
    "CommitStatus",
    "Deployment",
    "DeploymentState",
    "Forge",
    "Permission",
    "PullRequest",
    "Review",
]

Permission = Literal["admin", "maintain", "write", "triage", "read", "none"]
DeploymentState = Literal["queued", "in_progress", "success", "failure", "error", "inactive"]
CheckConclusion = Literal["success", "failure", "neutral"]


@dataclass(frozen=True)
class PullRequest:
    number: int
    head_sha: str
    head_ref: str
    base_ref: str
    is_fork: bool  # the head branch lives in another repository
    state: str  # open or closed
    author: str


@dataclass(frozen=True)
class Deployment:
    id: int
    sha: str
    environment: str
    payload: dict[str, object]
    task: str = "deploy"  # GitHub's default; mlops-bot's own are DEPLOY_TASK (deployment_payload)
    creator: str = ""  # the login that created it (the bot's, for mlops-bot's own)


@dataclass(frozen=True)
class CheckRun:
    """A check run as GitHub holds it. Anything a workflow with `checks: write` can write: the
    reader validates it (mlops_bot.github.run_checks) and the deploy job re-verifies it."""

    id: int
    name: str
    head_sha: str
    status: str  # queued, in_progress or completed
    conclusion: str | None
    title: str
    summary: str
    text: str
    details_url: str | None
    html_url: str | None
    app: str  # the slug of the GitHub App that wrote it (github-actions for GITHUB_TOKEN)


@dataclass(frozen=True)
class Review:
    """A pull request review as GitHub lists it (oldest first)."""

    login: str
    state: str  # APPROVED, CHANGES_REQUESTED, COMMENTED, DISMISSED or PENDING
    commit_id: str  # the head commit the reviewer saw


@dataclass(frozen=True)
class CommitStatus:
    """The latest commit status of one context (the statuses API, not check runs)."""

    context: str
    state: str  # success, pending, failure or error


class Forge(Protocol):
    def pull_request(self, number: int) -> PullRequest:
        """The pull request as GitHub sees it now (read again to detect a moved head)."""
        ...

    def permission(self, login: str) -> Permission:
        """The user's permission on the repository; any API error must raise, never allow."""
        ...

    def upsert_comment(self, number: int, marker: str, body: str) -> int:
        """Create, or update in place, the one comment on `number` (a pull request or an issue)
        holding the hidden `marker`.

        Returns the comment id. Only comments written by the bot itself are considered.
        """
        ...

    def react(self, comment_id: int, reaction: str) -> None:
        """Add a reaction (eyes, rocket, -1...) to a comment. Cosmetic: failures only warn."""
        ...

    def create_deployment(self, sha: str, environment: str, payload: dict[str, object],
                          description: str) -> int:
        """A GitHub Deployment of exactly `sha` to `environment`; returns its id."""
        ...

    def deployment(self, deployment_id: int) -> Deployment:
        """A deployment as GitHub stored it: the approved job trusts this, not its own inputs."""
        ...

    def set_deployment_status(self, deployment_id: int, state: DeploymentState,
                              description: str, environment_url: str | None = None,
                              log_url: str | None = None) -> None:
        ...

    def recent_deployments(self, environment: str) -> list[Deployment]:
        """The environment's most recent deployments (up to 100), newest first."""
        ...

    def deployment_states(self, deployment_id: int, limit: int = 100) -> list[str]:
        """The states of a deployment's newest `limit` statuses, newest first (GitHub's own
        `waiting` too): fewer only when it has fewer."""
        ...

    def environment_reviewers(self, environment: str) -> list[str] | None:
        """The required reviewers (user logins, team slugs) of a GitHub environment's protection
        rules; [] when it has none, None when there is no such environment."""
        ...

    def bot_login(self) -> str:
        """The login the token writes as: what mlops-bot's own comments, issues and
        deployments are created by."""
        ...

    def find_issue(self, title: str) -> int | None:
        """The number of the oldest open issue (not pull request) titled exactly `title` that
        the bot opened with `create_issue`: its author is `bot_login()` and its body starts
        with the bot's marker. Anyone else's issue of that title is not it."""
        ...

    def create_issue(self, title: str, body: str) -> int:
        """A new issue whose body starts with the bot's marker (`find_issue` finds it); returns
        its number. Comment on it with `upsert_comment`."""
        ...

    def create_check_run(self, sha: str, name: str, conclusion: CheckConclusion | None,
                         title: str, summary: str, text: str,
                         details_url: str | None = None) -> int:
        """A completed check run named `name` on commit `sha` (shown on the commit and its pull
        requests); returns its id. `summary` and `text` are Markdown, cut to GitHub's limits.
        `conclusion=None`: the check run is left in_progress, for `complete_check_run`."""
        ...

    def complete_check_run(self, check_id: int, conclusion: CheckConclusion, title: str,
                           summary: str, text: str) -> None:
        """Complete an in_progress check run (written by `create_check_run` with no
        conclusion), replacing its output."""
        ...

    def check_runs(self, sha: str) -> list[CheckRun]:
        """The latest check run of each name on commit `sha` (up to 1000)."""
        ...

    def reviews(self, number: int) -> list[Review]:
        """Every review of pull request `number`, oldest first."""
        ...

    def commit_statuses(self, sha: str) -> list[CommitStatus]:
        """The latest status of each context on commit `sha`."""
        ...

    def default_branch(self) -> str:
        """The repository's default branch, as GitHub has it now."""
        ...

    def head_pushed_at(self, pull: PullRequest) -> datetime | None:
        """When GitHub received the push that made `pull.head_sha` the tip of `pull.head_ref`
        (the repository's activity log: server time, which no commit date can fake); None when
        the log has no such push (a fork's branch, or a push older than the log reaches)."""
        ...

    def create_ref(self, ref: str, message: str, files: dict[str, str]) -> bool:
        """Create `ref` (refs/heads/...) on a new parentless commit holding `files` with
        `message`. Atomic: False, changing nothing, when the ref exists already."""
        ...

    def ref_message(self, ref: str) -> str | None:
        """The message of the commit `ref` points to; None when there is no such ref."""
        ...

    def delete_ref(self, ref: str) -> bool:
        """Delete `ref`; False when it did not exist."""
        ...

    def replace_ref(self, ref: str, expected: str, message: str, files: dict[str, str]) -> bool:
        """Move `ref` to a new commit holding `files` with `message`, if the commit it points to
        still has the message `expected`. Atomic: the new commit is a child of the one read and
        the ref only moves forward to it, so a ref replaced meanwhile is left as it is (False)."""
        ...
