"""The PyGithub client the GitHub forge calls through, and its errors as sentences.

Every call goes through `GithubClient.calling`, which turns PyGithub's and requests' exceptions
into a `UserError` when the user can act (a bad token, a permission the workflow token lacks, a
pull request that does not exist) or a `ForgeError` otherwise: flows never see library exceptions.

Client settings, and why:
- bounded retries (GET/PUT/PATCH/DELETE) on 5xx, 429 and rate-limited 403s. POST is not retried:
  a 502 after GitHub stored the comment or deployment would otherwise create it twice;
- a timeout per request, and a cap on how long a rate-limit reset is waited for;
- PyGithub's pacing (1 s between writes) is kept by default: GitHub asks integrations for it to
  avoid secondary rate limits;
- `lazy=True`: objects are built from their URL without a GET of each parent (repository, issue).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mlops_bot import __version__
from mlops_bot.errors import UserError

if TYPE_CHECKING:
    from github import Github
    from github.GithubException import GithubException
    from github.NamedUser import NamedUser
    from github.Organization import Organization
    from github.Repository import Repository

__all__ = ["FULL_SHA", "ClientSettings", "ForgeError", "GithubClient", "api_message", "cut",
           "login_of"]

FULL_SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
_RETRIED_METHODS = frozenset({"GET", "HEAD", "PUT", "PATCH", "DELETE", "OPTIONS"})


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


class GithubClient:
    """One repository on one GitHub API, reached with one token; the client is made at first use."""

    def __init__(self, repository: str, token: str, api_url: str,
                 settings: ClientSettings) -> None:
        self.repository, self.api_url = repository, api_url
        self._token, self._settings = token, settings
        self._github: Github | None = None

    def github(self) -> Github:
        if self._github is None:
            from github import Auth, Github, GithubRetry

            s = self._settings
            retry = GithubRetry(total=s.retries, backoff_factor=s.backoff_factor,
                                status_forcelist=[429, *range(500, 600)],
                                allowed_methods=_RETRIED_METHODS, raise_on_status=False,
                                max_rate_limit_wait=s.max_rate_limit_wait)
            self._github = Github(
                base_url=self.api_url, auth=Auth.Token(self._token), timeout=s.timeout,
                retry=retry, per_page=100, user_agent=f"mlops-bot/{__version__}", lazy=True,
                seconds_between_requests=0.25 if s.pace else None,
                seconds_between_writes=1.0 if s.pace else None)
        return self._github

    def repo(self) -> Repository:
        return self.github().get_repo(self.repository)  # lazy: no request

    def no_pull(self, number: int) -> str:
        return f"pull request #{number} was not found in {self.repository}"

    @contextmanager
    def calling(self, action: str, needs: str, not_found: str | None = None) -> Iterator[None]:
        """Library errors inside as UserError or ForgeError sentences: `action` is what was asked
        ("comment on pull request #3"), `needs` the token permission it takes, `not_found` the
        sentence for a 404."""
        from github import GithubException

        try:
            yield
        # requests' errors (connection, timeout, retries exhausted) are OSErrors: RequestException
        # derives from IOError, which spares a dependency on requests' type stubs.
        except (GithubException, OSError) as error:
            raise self.translate(error, action, needs, not_found) from error

    def translate(self, error: Exception, action: str, needs: str,
                  not_found: str | None = None) -> Exception:
        from github import GithubException, RateLimitExceededException

        where = f"{self.repository} on {self.api_url}"
        if not isinstance(error, GithubException):
            return ForgeError(f"cannot reach GitHub at {self.api_url} to {action} "
                              f"({type(error).__name__}: {error}); check GITHUB_API_URL")
        status, message = error.status, api_message(error)
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
            return UserError(not_found or f"{self.repository} was not found on {self.api_url} "
                             f"(asked to {action}): check the name and that the token can see it")
        return ForgeError(f"GitHub failed to {action} in {where} ({status} {message})")


def api_message(error: GithubException) -> str:
    data = error.data
    if not isinstance(data, dict):
        return error.message or ""
    details = [str(e.get("message") or e.get("code")) for e in data.get("errors") or []
               if isinstance(e, dict)]
    return "; ".join([str(data.get("message") or ""), *details]).strip("; ")


def cut(text: str, limit: int) -> str:
    """`text` within one of GitHub's field limits, marked where it was cut."""
    return text if len(text) <= limit else text[:limit - 1] + "…"


def login_of(user: NamedUser | Organization | None) -> str:
    return user.login if user is not None else "ghost"  # GitHub's name for a deleted account
