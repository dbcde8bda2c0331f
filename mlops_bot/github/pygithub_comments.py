"""What the bot writes on GitHub for people to read: pull request comments (one per marker,
edited in place), reactions, and issues.

A comment carries a hidden marker (`<!-- mlops-bot:<marker> -->`), so the bot finds and edits its
own comment instead of adding another; only comments by the bot's own login count, so a comment
somebody else wrote with the marker copied into it is never taken for the bot's.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from mlops_bot.console import progress
from mlops_bot.github.pygithub_client import GithubClient, cut, login_of

__all__ = ["COMMENT_LIMIT", "comment_marker", "create_issue", "find_issue", "react",
           "upsert_comment", "with_marker"]

COMMENT_LIMIT = 65536  # GitHub refuses longer comment bodies (422)
_MARKER = re.compile(r"[A-Za-z0-9_.:/-]+")  # no '>' or spaces: it cannot close the HTML comment
_REACTIONS = frozenset({"+1", "-1", "laugh", "confused", "heart", "hooray", "rocket", "eyes"})


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


def upsert_comment(client: GithubClient, bot: Callable[[], str], number: int, marker: str,
                   body: str) -> int:
    """The id of the bot's comment with `marker` on #`number`, edited to `body` or created.
    `bot()`: the bot's login, asked once the marker is known to be valid."""
    text, tag = with_marker(body, marker), comment_marker(marker)
    login = bot().casefold()
    with client.calling(f"comment on pull request #{number}", "pull-requests: write",
                        not_found=client.no_pull(number)):
        issue = client.repo().get_issue(number)
        for comment in issue.get_comments():  # PaginatedList: follows every Link rel="next"
            if tag in (comment.body or "") and login_of(comment.user).casefold() == login:
                if comment.body != text:
                    comment.edit(text)
                return int(comment.id)
        return int(issue.create_comment(text).id)


def react(client: GithubClient, comment_id: int, reaction: str) -> None:
    """Adds the reaction, or warns: a reaction is cosmetic and never fails a run."""
    from github import GithubException
    from github.IssueComment import IssueComment

    if reaction not in _REACTIONS:
        progress(f"warning: {reaction!r} is not a GitHub reaction; comment {comment_id} "
                 "left without it")
        return
    url = f"/repos/{client.repository}/issues/comments/{comment_id}"
    try:
        IssueComment(client.github().requester, url=url).create_reaction(reaction)
    except (GithubException, OSError) as error:
        reason = client.translate(error, f"react to comment {comment_id}",
                                  "pull-requests: write", not_found=f"comment {comment_id} "
                                  f"was not found in {client.repository}")
        progress(f"warning: could not add the {reaction} reaction: {reason}")


def find_issue(client: GithubClient, title: str) -> int | None:
    with client.calling(f"look for the issue {title!r}", "issues: read"):
        # Oldest first, so every run reports on the same issue if two were ever opened.
        issues = client.repo().get_issues(state="open", sort="created", direction="asc")
        for issue in issues:  # PaginatedList: every page; pull requests are issues too
            # The title first: reading an unset `pull_request` makes PyGithub GET the issue.
            if issue.title == title and issue.pull_request is None:
                return int(issue.number)
    return None


def create_issue(client: GithubClient, title: str, body: str) -> int:
    with client.calling(f"open the issue {title!r}", "issues: write"):
        issue = client.repo().create_issue(title=title, body=cut(body, COMMENT_LIMIT))
        return int(issue.number)
