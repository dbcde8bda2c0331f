"""The GitHub forge on PyGithub: github.com or GitHub Enterprise Server, through `GITHUB_API_URL`.

Every call goes through `_calling`, which turns PyGithub's and requests' exceptions into a
`UserError` when the user can act (a bad token, a permission the workflow token lacks, a pull
request that does not exist) or a `ForgeError` otherwise: flows never see library exceptions.

Client settings, and why:
- bounded retries (GET/PUT/PATCH/DELETE) on 5xx, 429 and rate-limited 403s. POST is not retried:
  a 502 after GitHub stored the comment or deployment would otherwise create it twice;
- a timeout per request, and a cap on how long a rate-limit reset is waited for;
- PyGithub's pacing (1 s between writes) is kept by default: GitHub asks integrations for it to
  avoid secondary rate limits;
- `lazy=True`: objects are built from their URL without a GET of each parent (repository, issue).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from mlops_bot import __version__
from mlops_bot.console import progress
from mlops_bot.errors import UserError
from mlops_bot.github.forge import (
    CheckConclusion,
    CheckRun,
    Deployment,
    DeploymentState,
    Forge,
    Permission,
    PullRequest,
)

if TYPE_CHECKING:
    from github import Github
    from github.GithubException import GithubException
    from github.NamedUser import NamedUser
    from github.Organization import Organization
    from github.Repository import Repository

__all__ = [
    "ACTIONS_BOT_LOGIN",
    "CHECK_OUTPUT_LIMIT",
    "COMMENT_LIMIT",
    "ClientSettings",
    "ForgeError",
    "GithubForge",
    "comment_marker",
    "with_marker",
]

ACTIONS_BOT_LOGIN = "github-actions[bot]"  # the author of everything the Actions GITHUB_TOKEN posts
COMMENT_LIMIT = 65536  # GitHub refuses longer comment bodies (422)
_STATUS_DESCRIPTION_LIMIT = 140  # GitHub refuses longer deployment status descriptions
CHECK_OUTPUT_LIMIT = 65535  # GitHub refuses a longer check run summary or text (422)
_CHECK_RUNS_READ = 1000  # check runs read of one commit: ten pages
_REF = re.compile(r"refs/heads/[A-Za-z0-9][A-Za-z0-9_./-]{0,200}")
_RECENT_DEPLOYMENTS = 100  # how far back `recent_deployments` looks: one page
_REACTIONS = frozenset({"+1", "-1", "laugh", "confused", "heart", "hooray", "rocket", "eyes"})
_PERMISSIONS: dict[str, Permission] = {p: p for p in
                                       ("admin", "maintain", "write", "triage", "read", "none")}
_REPOSITORY = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")
_MARKER = re.compile(r"[A-Za-z0-9_.:/-]+")  # no '>' or spaces: it cannot close the HTML comment
_SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
_RETRIED_METHODS = frozenset({"GET", "HEAD", "PUT", "PATCH", "DELETE", "OPTIONS"})
# Deployment statuses queued/in_progress were previews on older GitHub Enterprise Server versions.
_DEPLOYMENT_ACCEPT = ("application/vnd.github.ant-man-preview+json, "
                      "application/vnd.github.flash-preview+json")


class ForgeError(Exception):
    """GitHub failed in a way the user cannot fix from the comment: a server error after retries,
    an unreachable API, a rate limit, a request GitHub refused (422)."""


@dataclass(frozen=True)
class ClientSettings:
    timeout: int = 15  # seconds per request (PyGithub takes an int)
    retries: int = 3
    backoff_factor: float = 0.5  # urllib3: 0 s, 1 s, 2 s between the retries
    max_rate_limit_wait: float = 120.0  # longer than this, fail instead of sleeping the job away
    pace: bool = True  # PyGithub's 0.25 s between requests, 1 s between writes


def comment_marker(marker: str) -> str:
    if not _MARKER.fullmatch(marker):
        raise ValueError(f"comment marker {marker!r} must match {_MARKER.pattern}")
    return f"<!-- mlops-bot:{marker} -->"


def with_marker(body: str, marker: str) -> str:
    """`body` carrying its hidden marker, cut to GitHub's size limit without losing the marker."""
    tag = comment_marker(marker)
    text = body if tag in body else f"{body.rstrip()}\n\n{tag}"
    if len(text) <= COMMENT_LIMIT:
        return text
    note = f"\n\n… (cut: GitHub comments hold at most {COMMENT_LIMIT} characters)\n\n{tag}"
    return body.replace(tag, "")[:COMMENT_LIMIT - len(note)] + note


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
        self._repository, self._token = repository, token
        self._api_url = (api_url or "https://api.github.com").rstrip("/")
        self._bot_login = bot_login
        self._settings = settings or ClientSettings()
        self._github: Github | None = None

    # -- the Forge ------------------------------------------------------------------------------
    def permission(self, login: str) -> Permission:
        from github import GithubException

        url = f"/repos/{self._repository}/collaborators/{quote(login, safe='')}/permission"
        with self._calling(f"read the permission of {login}", "metadata: read"):
            try:
                # One request for both fields (get_collaborator_permission and ..._role_name
                # would each GET it): maintain and triage only show in role_name.
                _, data = self._client().requester.requestJsonAndCheck("GET", url)
            except GithubException as error:
                if error.status == 404:  # not a collaborator (or no such user): no permission
                    return "none"
                raise
        return self._permission_from(login, data)

    def upsert_comment(self, number: int, marker: str, body: str) -> int:
        text, tag = with_marker(body, marker), comment_marker(marker)
        bot = self._bot().casefold()
        with self._calling(f"comment on pull request #{number}", "pull-requests: write",
                           not_found=self._no_pull(number)):
            issue = self._repo().get_issue(number)
            for comment in issue.get_comments():  # PaginatedList: follows every Link rel="next"
                if tag in (comment.body or "") and _login(comment.user).casefold() == bot:
                    if comment.body != text:
                        comment.edit(text)
                    return int(comment.id)
            return int(issue.create_comment(text).id)

    def react(self, comment_id: int, reaction: str) -> None:
        from github import GithubException
        from github.IssueComment import IssueComment

        if reaction not in _REACTIONS:
            progress(f"warning: {reaction!r} is not a GitHub reaction; comment {comment_id} "
                     "left without it")
            return
        url = f"/repos/{self._repository}/issues/comments/{comment_id}"
        try:
            IssueComment(self._client().requester, url=url).create_reaction(reaction)
        except (GithubException, OSError) as error:
            reason = self._translate(error, f"react to comment {comment_id}",
                                     "pull-requests: write", not_found=f"comment {comment_id} "
                                     f"was not found in {self._repository}")
            progress(f"warning: could not add the {reaction} reaction: {reason}")

    def create_deployment(self, sha: str, environment: str, payload: dict[str, object],
                          description: str) -> int:
        if not _SHA.fullmatch(sha):  # a branch name would deploy whatever it points to later
            raise ValueError(f"a deployment names a full commit SHA, not {sha!r}")
        with self._calling(f"create a deployment of {sha[:12]} to {environment}",
                           "deployments: write"):
            deployment = self._repo().create_deployment(
                ref=sha, environment=environment, payload=dict(payload), description=description,
                auto_merge=False, required_contexts=[], transient_environment=False,
                production_environment=environment == "production")
            return int(deployment.id)

    def deployment(self, deployment_id: int) -> Deployment:
        with self._calling(f"read deployment {deployment_id}", "deployments: read",
                           not_found=f"deployment {deployment_id} was not found in "
                           f"{self._repository}"):
            found = self._repo().get_deployment(deployment_id)
            payload = found.payload
            if isinstance(payload, str):  # GitHub returns the payload as it was posted
                payload = json.loads(payload or "{}")
            return Deployment(int(found.id), str(found.sha), str(found.environment),
                              dict(payload or {}))

    def set_deployment_status(self, deployment_id: int, state: DeploymentState,
                              description: str, environment_url: str | None = None,
                              log_url: str | None = None) -> None:
        fields: dict[str, Any] = {"state": state,
                                  "description": _cut(description, _STATUS_DESCRIPTION_LIMIT)}
        if environment_url is not None:
            fields["environment_url"] = environment_url
        if log_url is not None:
            fields["log_url"] = log_url
        url = f"/repos/{self._repository}/deployments/{deployment_id}/statuses"
        with self._calling(f"set deployment {deployment_id} to {state}", "deployments: write",
                           not_found=f"deployment {deployment_id} was not found in "
                                     f"{self._repository}"):
            # Deployment.create_status cannot send log_url (it only knows the older target_url).
            self._client().requester.requestJsonAndCheck(
                "POST", url, input=fields, headers={"Accept": _DEPLOYMENT_ACCEPT})

    def recent_deployments(self, environment: str) -> list[Deployment]:
        found: list[Deployment] = []
        with self._calling(f"list the deployments of {environment}", "deployments: read"):
            for deployment in self._repo().get_deployments(environment=environment):
                payload = deployment.payload
                if isinstance(payload, str):
                    payload = json.loads(payload or "{}")
                found.append(Deployment(int(deployment.id), str(deployment.sha),
                                        str(deployment.environment), dict(payload or {})))
                if len(found) >= _RECENT_DEPLOYMENTS:  # GitHub lists newest first
                    break
        return found

    def find_issue(self, title: str) -> int | None:
        with self._calling(f"look for the issue {title!r}", "issues: read"):
            # Oldest first, so every run reports on the same issue if two were ever opened.
            issues = self._repo().get_issues(state="open", sort="created", direction="asc")
            for issue in issues:  # PaginatedList: every page; pull requests are issues too
                # The title first: reading an unset `pull_request` makes PyGithub GET the issue.
                if issue.title == title and issue.pull_request is None:
                    return int(issue.number)
        return None

    def create_issue(self, title: str, body: str) -> int:
        with self._calling(f"open the issue {title!r}", "issues: write"):
            issue = self._repo().create_issue(title=title, body=_cut(body, COMMENT_LIMIT))
            return int(issue.number)

    def create_check_run(self, sha: str, name: str, conclusion: CheckConclusion, title: str,
                         summary: str, text: str, details_url: str | None = None) -> int:
        if not _SHA.fullmatch(sha):
            raise ValueError(f"a check run names a full commit SHA, not {sha!r}")
        from github.GithubObject import NotSet

        output: dict[str, str | list[dict[str, str | int]]] = {
            "title": _cut(title, 1000), "summary": _cut(summary, CHECK_OUTPUT_LIMIT),
            "text": _cut(text, CHECK_OUTPUT_LIMIT)}
        with self._calling(f"create the check run {name!r} on {sha[:12]}", "checks: write"):
            run = self._repo().create_check_run(
                name=name, head_sha=sha, status="completed", conclusion=conclusion,
                output=output, details_url=details_url or NotSet)
            return int(run.id)

    def check_runs(self, sha: str) -> list[CheckRun]:
        if not _SHA.fullmatch(sha):
            raise ValueError(f"check runs are read of a full commit SHA, not {sha!r}")
        found: list[CheckRun] = []
        with self._calling(f"list the check runs of {sha[:12]}", "checks: read"):
            for run in self._repo().get_commit(sha).get_check_runs(filter="latest"):
                output = run.output
                found.append(CheckRun(
                    id=int(run.id), name=str(run.name), head_sha=str(run.head_sha),
                    status=str(run.status), conclusion=run.conclusion,
                    title=str(output.title or "") if output else "",
                    summary=str(output.summary or "") if output else "",
                    text=str(output.text or "") if output else "",
                    details_url=run.details_url, html_url=run.html_url,
                    app=str(run.app.slug) if run.app is not None else ""))
                if len(found) >= _CHECK_RUNS_READ:
                    break
        return found

    def create_ref(self, ref: str, message: str, files: dict[str, str]) -> bool:
        from github import GithubException

        base = f"/repos/{self._repository}/git"
        with self._calling(f"create {ref}", "contents: write"):
            requester = self._client().requester
            _, tree = requester.requestJsonAndCheck("POST", f"{base}/trees", input={"tree": [
                {"path": path, "mode": "100644", "type": "blob", "content": content}
                for path, content in files.items()]})
            _, commit = requester.requestJsonAndCheck("POST", f"{base}/commits", input={
                "message": message, "tree": tree["sha"], "parents": []})
            try:
                requester.requestJsonAndCheck("POST", f"{base}/refs", input={
                    "ref": _checked_ref(ref), "sha": commit["sha"]})
            except GithubException as error:
                if error.status == 422 and "already exists" in _api_message(error):
                    return False  # somebody else's: the commit made above stays unreferenced
                raise
        return True

    def ref_message(self, ref: str) -> str | None:
        from github import GithubException

        base = f"/repos/{self._repository}/git"
        with self._calling(f"read {ref}", "contents: read"):
            requester = self._client().requester
            try:
                _, found = requester.requestJsonAndCheck(
                    "GET", f"{base}/ref/{quote(_checked_ref(ref).removeprefix('refs/'))}")
            except GithubException as error:
                if error.status == 404:
                    return None
                raise
            _, commit = requester.requestJsonAndCheck(
                "GET", f"{base}/commits/{found['object']['sha']}")
        return str(commit.get("message") or "")

    def delete_ref(self, ref: str) -> bool:
        from github import GithubException

        url = (f"/repos/{self._repository}/git/refs/"
               f"{quote(_checked_ref(ref).removeprefix('refs/'))}")
        with self._calling(f"delete {ref}", "contents: write"):
            try:
                self._client().requester.requestJsonAndCheck("DELETE", url)
            except GithubException as error:
                if error.status == 404 or (error.status == 422
                                           and "does not exist" in _api_message(error)):
                    return False
                raise
        return True

    def pull_request(self, number: int) -> PullRequest:
        with self._calling(f"read pull request #{number}", "pull-requests: read",
                           not_found=self._no_pull(number)):
            pull = self._repo().get_pull(number)
            head, base = pull.head, pull.base
            head_repo = head.repo  # None when the fork was deleted: still someone else's code
            is_fork = (head_repo is None
                       or head_repo.full_name.casefold() != base.repo.full_name.casefold())
            return PullRequest(number=pull.number, head_sha=head.sha, head_ref=head.ref,
                               base_ref=base.ref, is_fork=is_fork, state=pull.state,
                               author=_login(pull.user))

    # -- the client ----------------------------------------------------------------------------
    def _client(self) -> Github:
        if self._github is None:
            from github import Auth, Github, GithubRetry

            s = self._settings
            retry = GithubRetry(total=s.retries, backoff_factor=s.backoff_factor,
                                status_forcelist=[429, *range(500, 600)],
                                allowed_methods=_RETRIED_METHODS, raise_on_status=False,
                                max_rate_limit_wait=s.max_rate_limit_wait)
            self._github = Github(
                base_url=self._api_url, auth=Auth.Token(self._token), timeout=s.timeout,
                retry=retry, per_page=100, user_agent=f"mlops-bot/{__version__}", lazy=True,
                seconds_between_requests=0.25 if s.pace else None,
                seconds_between_writes=1.0 if s.pace else None)
        return self._github

    def _repo(self) -> Repository:
        return self._client().get_repo(self._repository)  # lazy: no request

    def _bot(self) -> str:
        if self._bot_login is None:
            from github import GithubException, RateLimitExceededException

            with self._calling("read the token's user", "a token that can read /user"):
                try:
                    self._bot_login = str(self._client().get_user().login)
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
        raise ForgeError(f"GitHub answered no known permission for {login} in {self._repository}: "
                         f"{data!r}")

    def _no_pull(self, number: int) -> str:
        return f"pull request #{number} was not found in {self._repository}"

    @contextmanager
    def _calling(self, action: str, needs: str, not_found: str | None = None) -> Iterator[None]:
        from github import GithubException

        try:
            yield
        # requests' errors (connection, timeout, retries exhausted) are OSErrors: RequestException
        # derives from IOError, which spares a dependency on requests' type stubs.
        except (GithubException, OSError) as error:
            raise self._translate(error, action, needs, not_found) from error

    def _translate(self, error: Exception, action: str, needs: str,
                   not_found: str | None = None) -> Exception:
        from github import GithubException, RateLimitExceededException

        where = f"{self._repository} on {self._api_url}"
        if not isinstance(error, GithubException):
            return ForgeError(f"cannot reach GitHub at {self._api_url} to {action} "
                              f"({type(error).__name__}: {error}); check GITHUB_API_URL")
        status, message = error.status, _api_message(error)
        if status == 401:
            return UserError(f"GitHub rejected the token (401 {message}) when asked to {action} "
                             f"in {where}: the token is invalid or expired, or lacks the scope "
                             f"for it ({needs})")
        if isinstance(error, RateLimitExceededException) or status == 429:
            return ForgeError(f"GitHub's API rate limit was hit ({status} {message}) when asked "
                              f"to {action} in {where}; run again once the limit resets")
        if status == 403:
            return UserError(f"the GitHub token may not {action} in {where} (403 {message}): "
                             f"give the workflow job `permissions: {needs}`")
        if status == 404:
            return UserError(not_found or f"{self._repository} was not found on {self._api_url} "
                             f"(asked to {action}): check the name and that the token can see it")
        return ForgeError(f"GitHub failed to {action} in {where} ({status} {message})")


def _api_message(error: GithubException) -> str:
    data = error.data
    if not isinstance(data, dict):
        return error.message or ""
    details = [str(e.get("message") or e.get("code")) for e in data.get("errors") or []
               if isinstance(e, dict)]
    return "; ".join([str(data.get("message") or ""), *details]).strip("; ")


def _login(user: NamedUser | Organization | None) -> str:
    return user.login if user is not None else "ghost"  # GitHub's name for a deleted account


def _checked_ref(ref: str) -> str:
    if not _REF.fullmatch(ref) or ".." in ref or ref.endswith((".lock", "/", ".")):
        raise ValueError(f"{ref!r} is not a branch ref mlops-bot writes")
    return ref


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


if TYPE_CHECKING:
    # mypy checks GithubForge against the Forge Protocol here.
    def _satisfies_the_protocol(forge: GithubForge) -> Forge:
        return forge
