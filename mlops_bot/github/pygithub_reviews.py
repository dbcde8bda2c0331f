"""What a deploy's requirements read of a pull request: reviews, commit statuses, the default
branch, and when its head was pushed (the repository's activity log)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from mlops_bot.github.forge import CommitStatus, PullRequest, Review
from mlops_bot.github.pygithub_client import FULL_SHA, GithubClient, login_of

__all__ = ["commit_statuses", "default_branch", "head_pushed_at", "reviews"]

_ACTIVITY_PAGES = 10  # 1000 ref updates of one branch: a PR head pushed longer ago is "unknown"
_STATUSES_READ = 1000
_NEXT = re.compile(r'<([^>]+)>;\s*rel="next"')


def reviews(client: GithubClient, number: int) -> list[Review]:
    with client.calling(f"list the reviews of pull request #{number}", "pull-requests: read",
                        not_found=client.no_pull(number)):
        return [Review(login=login_of(review.user), state=str(review.state),
                       commit_id=str(review.commit_id or ""))
                for review in client.repo().get_pull(number).get_reviews()]


def commit_statuses(client: GithubClient, sha: str) -> list[CommitStatus]:
    if not FULL_SHA.fullmatch(sha):
        raise ValueError(f"statuses are read of a full commit SHA, not {sha!r}")
    from github.CommitStatus import CommitStatus as Status
    from github.PaginatedList import PaginatedList

    latest: dict[str, CommitStatus] = {}
    with client.calling(f"list the commit statuses of {sha[:12]}", "statuses: read"):
        repo = client.repo()
        # Newest first: the first status of a context is its current one.
        listed = PaginatedList(Status, repo.requester, f"{repo.url}/commits/{sha}/statuses", None)
        for count, status in enumerate(listed):
            latest.setdefault(str(status.context), CommitStatus(str(status.context),
                                                                str(status.state)))
            if count >= _STATUSES_READ:
                break
    return list(latest.values())


def default_branch(client: GithubClient) -> str:
    with client.calling("read the repository's default branch", "metadata: read"):
        return str(client.repo().default_branch)


def head_pushed_at(client: GithubClient, pull: PullRequest) -> datetime | None:
    """The server timestamp of the newest update of `refs/heads/<head_ref>` (a push, force push,
    branch creation or merge into it), when its `after` is the head; else None. The commit's own
    dates are whatever the pusher wrote."""
    if pull.is_fork:
        return None  # the branch's pushes are in the fork's log, not this repository's
    url: str | None = f"/repos/{client.repository}/activity"
    parameters: dict[str, Any] | None = {"ref": f"refs/heads/{pull.head_ref}", "per_page": 100,
                                         "direction": "desc"}
    with client.calling(f"read the push activity of {pull.head_ref}", "contents: read"):
        requester = client.github().requester
        for _ in range(_ACTIVITY_PAGES):
            if url is None:
                break
            headers, data = requester.requestJsonAndCheck("GET", url, parameters=parameters)
            for activity in data if isinstance(data, list) else []:
                if (not isinstance(activity, dict)
                        or activity.get("ref") != f"refs/heads/{pull.head_ref}"
                        or not str(activity.get("after") or "").strip("0")):
                    continue  # another ref's, or a deletion: nothing the branch holds now
                # The newest update of the branch must be the head's. If it is another
                # commit's, the log has not caught up with the head yet, and an older push of
                # the head (before a force push away and back) must not stand in for it.
                if (activity.get("after") != pull.head_sha
                        or not isinstance(activity.get("timestamp"), str)):
                    return None
                return datetime.fromisoformat(activity["timestamp"])
            found = _NEXT.search(str((headers or {}).get("link") or ""))
            url, parameters = (found.group(1) if found else None), None
    return None
