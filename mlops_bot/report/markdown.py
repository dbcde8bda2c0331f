"""Values from users, pipelines and clouds, made safe to put into the bot's Markdown.

Pipeline and branch names, file paths, metric names, lock reasons and error text are not the
bot's: on GitHub they could mention people (`@org/team`), hide the rest of a comment (`<!--`),
break out of a code span or fence, add links or headings, or split a table row. Each helper says
where its result may go; a value shown as code is `tables.code`'s.
"""

from __future__ import annotations

import re
from urllib.parse import quote

__all__ = ["PLAIN_LIMIT", "cap", "fenced", "link", "mention", "no_mentions", "plain"]

# ASCII punctuation that starts Markdown or HTML inline syntax; `|` is left to markdown_table
# (a pipe means nothing outside a table row, and table cells escape it themselves), `>` and the
# list markers mean something only at the start of a line (_BLOCK), `_` only at a word's edge
# (`wine_quality` stays as it is). `$` starts GitHub's math, which can show any text in colour.
_SYNTAX = re.compile(r"([\\`*\[\]<#!&~$]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9]))")
_BLOCK = re.compile(r"^([>+=-]|[0-9]{1,9}[.)])")
_BACKTICKS = re.compile(r"`+")
# A mention starts an `@` that no letter or digit precedes (`image@sha256:...` is none).
_MENTION = re.compile(r"(?<![A-Za-z0-9])@")
# `#12` (and `owner/repo#12`) links an issue and leaves a reference in its timeline.
_REFERENCE = re.compile(r"#(?=[0-9])")
# Characters a link destination keeps as they are; anything else (spaces, parentheses, quotes,
# angle brackets, backticks) is percent-encoded so the link cannot end early.
_URL_SAFE = ":/?#@!$&*+,;=%~-._"
# A GitHub login (or an app's `name[bot]`): the only text the bot writes after an `@` itself.
_LOGIN = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})(?:\[bot\])?")
# An HTML comment's opening: the bot's sticky comments are marked with one, so a value never
# carries one into a body, not even inside a code span.
_HTML_COMMENT = "<!--"
PLAIN_LIMIT = 1000  # characters of one value shown as text (a message, a note, an error line)


def cap(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters, an ellipsis showing where it was cut."""
    return text if len(text) <= limit else text[:max(limit - 1, 0)] + "\u2026"


def plain(text: str, limit: int = PLAIN_LIMIT) -> str:
    """`text` shown as it is, on one line, in running text or a table cell: no emphasis, link,
    HTML, heading, mention or issue reference of its making; at most `limit` characters of it."""
    flat = _SYNTAX.sub(r"\\\1", cap(" ".join(text.split()), limit))
    flat = _REFERENCE.sub("#\u200b", _BLOCK.sub(_escape_block, flat, count=1))
    return no_mentions(flat)


def no_mentions(text: str) -> str:
    """`text` with a zero-width space after each `@` that could start a mention or team
    reference; `name@host` and `image@sha256:...` are left whole, so they copy as they are."""
    return _MENTION.sub("@\u200b", text).replace(_HTML_COMMENT, "<\u200b!--")


def mention(login: str) -> str:
    """`@login` for a GitHub login (it notifies that user), else the text escaped: a login the
    bot did not get from GitHub (a lock file, a payload) mentions nobody."""
    return f"@{login}" if _LOGIN.fullmatch(login) else plain(login)


def _escape_block(match: re.Match[str]) -> str:
    """A quote, list or underline marker at the start of a line, escaped; for `1.` the dot."""
    marker = match.group(1)
    return f"{marker[:-1]}\\{marker[-1]}"


def fenced(text: str) -> str:
    """`text` as a fenced code block, its lines kept: the fence is longer than any run of
    backticks inside, so the text cannot close it."""
    longest = max((len(run) for run in _BACKTICKS.findall(text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}\n{text}\n{fence}"


def link(label: str, url: str | None) -> str:
    """`[label](url)` for a web address, else "" (a local run's folder is no use to a reviewer,
    a `javascript:` link is no link of ours); the address is percent-encoded where it could end
    the link. `label` is Markdown."""
    if not url or not url.lower().startswith(("https://", "http://")):
        return ""
    return f"[{label}]({quote(url, safe=_URL_SAFE)})"
