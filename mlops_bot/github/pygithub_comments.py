"""What the bot writes on GitHub for people to read: pull request comments (one per marker,
edited in place), reactions, and issues.

A comment carries a hidden marker (`<!-- mlops-bot:<marker> -->`) as its first line, so the bot
finds and edits its own comment instead of adding another. Only a comment by the bot's own login
whose first line is the marker counts: a comment somebody else wrote with the marker copied into
it, or one of the bot's that quotes another's marker further down (a `/lock --reason` holding
it), is never taken for it.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from mlops_bot.console import progress
from mlops_bot.github.pygithub_client import GithubClient, cut, login_of

__all__ = ["COMMENT_LIMIT", "comment_marker", "create_issue", "find_issue", "is_marked",
           "react", "upsert_comment", "with_marker"]

COMMENT_LIMIT = 65536  # GitHub refuses longer comment bodies (422)
_MARKER = re.compile(r"[A-Za-z0-9_.:/-]+")  # no '>' or spaces: it cannot close the HTML comment
_REACTIONS = frozenset({"+1", "-1", "laugh", "confused", "heart", "hooray", "rocket", "eyes"})


def comment_marker(marker: str) -> str:
    if not _MARKER.fullmatch(marker):
        raise ValueError(f"comment marker {marker!r} must match {_MARKER.pattern}")
    return f"<!-- mlops-bot:{marker} -->"


def with_marker(body: str, marker: str) -> str:
    """`body` under its hidden marker (the first line), cut to GitHub's size limit."""
    tag = comment_marker(marker)
    text = f"{tag}\n{body.strip()}"
    if len(text) <= COMMENT_LIMIT:
        return text
    note = f"\n\n… (cut: GitHub comments hold at most {COMMENT_LIMIT} characters)"
    return text[:COMMENT_LIMIT - len(note)] + note


def is_marked(body: str | None, marker: str) -> bool:
    """Whether `body` is the comment of `marker`: the marker is its first line."""
    return (body or "").split("\n", 1)[0].rstrip("\r") == comment_marker(marker)


def upsert_comment(client: GithubClient, bot: Callable[[], str], number: int, marker: str,
                   body: str) -> int:
    """The id of the bot's comment with `marker` on #`number`, edited to `body` or created.
    `bot()`: the bot's login, asked once the marker is known to be valid."""
    text = with_marker(body, marker)
    login = bot().casefold()
    with client.calling(f"comment on pull request #{number}", "pull-requests: write",
                        not_found=client.no_pull(number)):
        issue = client.repo().get_issue(number)
        for comment in issue.get_comments():  # PaginatedList: follows every Link rel="next"
            if is_marked(comment.body, marker) and login_of(comment.user).casefold() == login:
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


_ISSUE_MARKER = "tracking-issue"


def find_issue(client: GithubClient, bot: Callable[[], str], title: str) -> int | None:
    """The oldest open issue titled `title` that the bot opened (`create_issue`): by the bot's
    login, its body's first line the marker. Anyone can open an issue of that title."""
    tag, login = comment_marker(_ISSUE_MARKER), bot().casefold()
    with client.calling(f"look for the issue {title!r}", "issues: read"):
        # Oldest first, so every run reports on the same issue if two were ever opened. (No
        # `creator=` filter: how GitHub matches a bot's login there is not documented.)
        issues = client.repo().get_issues(state="open", sort="created", direction="asc")
        for issue in issues:  # PaginatedList: every page; pull requests are issues too
            # The title first: reading an unset `pull_request` makes PyGithub GET the issue.
            if (issue.title == title and login_of(issue.user).casefold() == login
                    and (issue.body or "").split("\n", 1)[0].strip() == tag
                    and issue.pull_request is None):
                return int(issue.number)
    return None


def create_issue(client: GithubClient, title: str, body: str) -> int:
    text = f"{comment_marker(_ISSUE_MARKER)}\n{body.strip()}"
    with client.calling(f"open the issue {title!r}", "issues: write"):
        issue = client.repo().create_issue(title=title, body=cut(text, COMMENT_LIMIT))
        return int(issue.number)
