"""What parsing a PR comment can end in: a command to run, a reply to post, or nothing at all.

Atlantis's comment parser has the same three outcomes; keeping them as plain frozen values makes
the parser a pure function that a table of comment bodies can test.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

__all__ = [
    "COMMAND_NAMES",
    "IGNORE_REASONS",
    "REPLY_REASONS",
    "Command",
    "CommandName",
    "Ignore",
    "IgnoreReason",
    "Outcome",
    "Reply",
    "ReplyReason",
]

CommandName = Literal["deploy", "rollback", "lock", "unlock", "plan"]

# Every way a comment can earn a reply instead of a command; these become the action's outputs,
# so the list is closed.
ReplyReason = Literal[
    "help",  # /help: the help text
    "unknown_command",  # a near miss of one of our commands ("did you mean /deploy?")
    "unknown_environment",  # a well-formed environment name that is not configured
    "unknown_pipeline",  # a well-formed pipeline name that is not in the repository
    "invalid_argument",  # an argument outside its pattern, or a first line over the cap
    "usage",  # missing argument, unknown or repeated option, too many arguments
    "retired_command",  # a command that was removed (/run): what to do instead
]

# Why a comment was not for us. Ignoring is silent: other bots and people use slash commands too.
IgnoreReason = Literal[
    "empty",  # the first line is empty or only whitespace
    "not_a_command",  # the first line does not start with '/' (lookalike slashes included)
    "other_command",  # a '/' word that is not ours: another bot's, a case variant, /deployx...
]

COMMAND_NAMES: tuple[CommandName, ...] = get_args(CommandName)
REPLY_REASONS: tuple[ReplyReason, ...] = get_args(ReplyReason)
IGNORE_REASONS: tuple[IgnoreReason, ...] = get_args(IgnoreReason)


@dataclass(frozen=True)
class Command:
    """A command to act on. Every value has passed its strict pattern and its list check."""

    name: CommandName
    environment: str | None = None
    pipeline: str | None = None
    version: str | None = None  # a registry version, v-<16 hex>
    traffic: int | None = None  # percent of the endpoint's traffic, 1..100
    reason: str | None = None  # /lock only: printable text, at most 200 characters
    force: bool = False  # /unlock only: release whoever holds the lock
    sha: str | None = None  # /deploy only: the commit the commenter reviewed, 7 to 40 hex digits


@dataclass(frozen=True)
class Reply:
    """Something to post back at once (Markdown), without running anything."""

    text: str
    reason_code: ReplyReason


@dataclass(frozen=True)
class Ignore:
    """The comment is not for the bot: post nothing."""

    reason: IgnoreReason


Outcome = Command | Reply | Ignore
