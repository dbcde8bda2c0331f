"""PR comment commands: `parse_comment(body, environments, pipelines)` -> a command, a reply, or
ignore. Pure: the comment flow does the I/O around it."""

from mlops_bot.commands.grammar import MAX_LINE, MAX_REASON, help_text, parse_comment
from mlops_bot.commands.types import (
    COMMAND_NAMES,
    IGNORE_REASONS,
    REPLY_REASONS,
    Command,
    CommandName,
    Ignore,
    IgnoreReason,
    Outcome,
    Reply,
    ReplyReason,
)

__all__ = [
    "COMMAND_NAMES",
    "IGNORE_REASONS",
    "MAX_LINE",
    "MAX_REASON",
    "REPLY_REASONS",
    "Command",
    "CommandName",
    "Ignore",
    "IgnoreReason",
    "Outcome",
    "Reply",
    "ReplyReason",
    "help_text",
    "parse_comment",
]
