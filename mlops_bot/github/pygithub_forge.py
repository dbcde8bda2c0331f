"""The GitHub forge on PyGithub: github.com or GitHub Enterprise Server, through `GITHUB_API_URL`.

`GithubForge` is the `Forge` the action gets. It answers who may do what (permissions, pull
requests, the bot's own login) and hands each other part to the module that does it, all through
one `GithubClient` (`pygithub_client`: client settings, and library errors as sentences):
comments, reactions and issues (`pygithub_comments`), deployments (`pygithub_deployments`), check
runs (`pygithub_checks`), the lock branches' refs (`pygithub_refs`), and what a deploy's
requirements read: reviews, statuses, the default branch, the head's push (`pygithub_reviews`).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from mlops_bot.errors import UserError
from mlops_bot.github import (
    pygithub_checks,
    pygithub_comments,
    pygithub_deployments,
    pygithub_refs,
    pygithub_reviews,
)
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
from mlops_bot.github.pygithub_client import ClientSettings, ForgeError, GithubClient, login_of

__all__ = ["ACTIONS_BOT_LOGIN", "GithubForge"]

ACTIONS_BOT_LOGIN = "github-actions[bot]"  # the author of everything the Actions GITHUB_TOKEN posts
_PERMISSIONS: dict[str, Permission] = {p: p for p in
                                       ("admin", "maintain", "write", "triage", "read", "none")}
_REPOSITORY = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")


class GithubForge:
    """`Forge` on the GitHub REST API. `bot_login` is who the bot comments as; by default the
    token's user (GET /user), or github-actions[bot] when the token may not read it (the Actions
    GITHUB_TOKEN). A GitHub App installation token comments as `<app-slug>[bot]`: pass that."""

    def __init__(self, repository: str, token: str, api_url: str = "https://api.github.com",
                 bot_login: str | None = None, *, settings: ClientSettings | None = None) -> None:
        if not _REPOSITORY.fullmatch(repository):
            raise UserError(f"the repository must be given as owner/name, not {repository!r} "
                            "(GITHUB_REPOSITORY)")
        if not token:
            raise UserError("no GitHub token: pass the workflow's GITHUB_TOKEN to the action")
        self._client = GithubClient(repository, token,
                                    (api_url or "https://api.github.com").rstrip("/"),
                                    settings or ClientSettings())
        self._bot_login = bot_login

    # -- who may do what --------------------------------------------------------------------------
    def permission(self, login: str) -> Permission:
        from github import GithubException

        url = (f"/repos/{self._client.repository}/collaborators/{quote(login, safe='')}"
               "/permission")
        with self._client.calling(f"read the permission of {login}", "metadata: read"):
            try:
                # One request for both fields (get_collaborator_permission and ..._role_name
                # would each GET it): maintain and triage only show in role_name.
                _, data = self._client.github().requester.requestJsonAndCheck("GET", url)
            except GithubException as error:
                if error.status == 404:  # not a collaborator (or no such user): no permission
                    return "none"
                raise
        return self._permission_from(login, data)

    def pull_request(self, number: int) -> PullRequest:
        with self._client.calling(f"read pull request #{number}", "pull-requests: read",
                                  not_found=self._client.no_pull(number)):
            pull = self._client.repo().get_pull(number)
            head, base = pull.head, pull.base
            head_repo = head.repo  # None when the fork was deleted: still someone else's code
            is_fork = (head_repo is None
                       or head_repo.full_name.casefold() != base.repo.full_name.casefold())
            return PullRequest(number=pull.number, head_sha=head.sha, head_ref=head.ref,
                               base_ref=base.ref, is_fork=is_fork, state=pull.state,
                               author=login_of(pull.user))

    # -- comments, reactions, issues --------------------------------------------------------------
    def upsert_comment(self, number: int, marker: str, body: str) -> int:
        return pygithub_comments.upsert_comment(self._client, self._bot, number, marker, body)

    def react(self, comment_id: int, reaction: str) -> None:
        pygithub_comments.react(self._client, comment_id, reaction)

    def find_issue(self, title: str) -> int | None:
        return pygithub_comments.find_issue(self._client, self._bot, title)

    def create_issue(self, title: str, body: str) -> int:
        return pygithub_comments.create_issue(self._client, title, body)

    # -- deployments ------------------------------------------------------------------------------
    def create_deployment(self, sha: str, environment: str, payload: dict[str, object],
                          description: str) -> int:
        return pygithub_deployments.create_deployment(self._client, sha, environment, payload,
                                                      description)

    def deployment(self, deployment_id: int) -> Deployment:
        return pygithub_deployments.deployment(self._client, deployment_id)

    def set_deployment_status(self, deployment_id: int, state: DeploymentState,
                              description: str, environment_url: str | None = None,
                              log_url: str | None = None) -> None:
        pygithub_deployments.set_deployment_status(self._client, deployment_id, state,
                                                   description, environment_url, log_url)

    def recent_deployments(self, environment: str) -> list[Deployment]:
        return pygithub_deployments.recent_deployments(self._client, environment)

    def deployment_states(self, deployment_id: int, limit: int = 100) -> list[str]:
        return pygithub_deployments.deployment_states(self._client, deployment_id, limit)

    def environment_reviewers(self, environment: str) -> list[str] | None:
        return pygithub_deployments.environment_reviewers(self._client, environment)

    def bot_login(self) -> str:
        return self._bot()

    # -- check runs -------------------------------------------------------------------------------
    def create_check_run(self, sha: str, name: str, conclusion: CheckConclusion | None,
                         title: str, summary: str, text: str,
                         details_url: str | None = None) -> int:
        return pygithub_checks.create_check_run(self._client, sha, name, conclusion, title,
                                                summary, text, details_url)

    def complete_check_run(self, check_id: int, conclusion: CheckConclusion, title: str,
                           summary: str, text: str) -> None:
        pygithub_checks.complete_check_run(self._client, check_id, conclusion, title, summary,
                                           text)

    def check_runs(self, sha: str) -> list[CheckRun]:
        return pygithub_checks.check_runs(self._client, sha)

    # -- what a deploy's requirements read (reviews, statuses, base, push time) ----------------
    def reviews(self, number: int) -> list[Review]:
        return pygithub_reviews.reviews(self._client, number)

    def commit_statuses(self, sha: str) -> list[CommitStatus]:
        return pygithub_reviews.commit_statuses(self._client, sha)

    def default_branch(self) -> str:
        return pygithub_reviews.default_branch(self._client)

    def head_pushed_at(self, pull: PullRequest) -> datetime | None:
        return pygithub_reviews.head_pushed_at(self._client, pull)

    # -- refs (the lock branches) -----------------------------------------------------------------
    def create_ref(self, ref: str, message: str, files: dict[str, str]) -> bool:
        return pygithub_refs.create_ref(self._client, ref, message, files)

    def ref_message(self, ref: str) -> str | None:
        return pygithub_refs.ref_message(self._client, ref)

    def delete_ref(self, ref: str) -> bool:
        return pygithub_refs.delete_ref(self._client, ref)

    def replace_ref(self, ref: str, expected: str, message: str, files: dict[str, str]) -> bool:
        return pygithub_refs.replace_ref(self._client, ref, expected, message, files)

    # -- the bot and its permissions --------------------------------------------------------------
    def _bot(self) -> str:
        if self._bot_login is None:
            from github import GithubException, RateLimitExceededException

            with self._client.calling("read the token's user", "a token that can read /user"):
                try:
                    self._bot_login = str(self._client.github().get_user().login)
                except GithubException as error:
                    if error.status != 403 or isinstance(error, RateLimitExceededException):
                        raise
                    # Installation tokens (the Actions GITHUB_TOKEN) may not read /user.
                    self._bot_login = ACTIONS_BOT_LOGIN
        return self._bot_login

    def _permission_from(self, login: str, data: Any) -> Permission:
        # role_name first: it says maintain/triage; `permission` folds them into write/read.
        # A custom role's role_name is its own name: then the base `permission` decides.
        for value in (data.get("role_name"), data.get("permission")):
            if isinstance(value, str) and value in _PERMISSIONS:
                return _PERMISSIONS[value]
        raise ForgeError(f"GitHub answered no known permission for {login} in "
                         f"{self._client.repository}: {data!r}")


if TYPE_CHECKING:
    # mypy checks GithubForge against the Forge Protocol here.
    def _satisfies_the_protocol(forge: GithubForge) -> Forge:
        return forge
