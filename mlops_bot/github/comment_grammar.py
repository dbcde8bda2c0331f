"""The PR-comment grammar: `parse_comment(body, environments, pipelines)` -> command/reply/ignore.

Only the first line of a comment is read, and only when its first word is exactly one of ours.
Every argument is checked against a strict pattern before it is compared with the known names, so
a Command only ever holds validated strings and ints: nothing from a comment can reach a shell.
Replies echo nothing from the comment except values that passed their pattern (no @mentions,
backticks or Markdown of the commenter's making end up in the bot's own comment).

The function is pure: no I/O, no globals that change, the same answer for the same input.
What it returns (Command, Reply, Ignore) is in mlops_bot.github.comment_commands; the comment flow
(mlops_bot.flows.comment) does the I/O around it.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from mlops_bot.github.comment_commands import Command, CommandName, Ignore, Reply

__all__ = ["MAX_LINE", "MAX_REASON", "help_text", "parse_comment"]

MAX_LINE = 1000  # characters of the first line; a longer one is refused, never truncated
MAX_REASON = 200  # characters of a /lock reason
_MAX_LISTED = 25  # names listed in a reply; a monorepo's hundreds of pipelines would drown it
_MAX_WORD = 32  # longer '/' words are nobody's typo of ours; also bounds difflib's work
# High enough that other bots' commands stay ignored (/hold vs /help scores 0.6, /uncc vs
# /unlock 0.67), low enough for one swapped or missing letter (/depoly 0.86, /hep 0.89).
_NEAR_MISS = 0.8

# Everything str.splitlines() ends a line at, so "the first line" cannot hide a second command
# behind a line separator that the tokenizer would read as plain whitespace.
_LINE_END = re.compile(r"[\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029]")

_Slot = Literal["env", "pipeline", "sha"]
_Option = Literal["--version", "--traffic", "--reason", "--force"]
_Checked = Literal["env", "pipeline", "sha", "--version", "--traffic"]

# Anchoring is done with fullmatch: `$` would also accept a trailing newline.
_PATTERNS: dict[_Checked, tuple[re.Pattern[str], str]] = {
    "env": (re.compile(r"[a-z][a-z0-9_-]{0,30}"),
            "a-z first, then a-z, 0-9, `-` or `_`, at most 31 characters"),
    "pipeline": (re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}"),
                 "a letter or digit first, then letters, digits, `.`, `_` or `-`, "
                 "at most 100 characters"),
    # Lowercase only, as GitHub shows SHAs; 7 digits is the shortest abbreviation git prints.
    "sha": (re.compile(r"[0-9a-f]{7,40}"), "a commit SHA: 7 to 40 lowercase hex digits"),
    "--version": (re.compile(r"v-[0-9a-f]{16}"),
                  "a registry version: `v-` and 16 lowercase hex digits"),
    # ASCII digits only: int() alone would also take "+5", "1_0" and full-width digits.
    "--traffic": (re.compile(r"100|[1-9][0-9]?"), "a whole percentage from 1 to 100"),
}
# A word meant as a commit: hex digits (any case, any length) with a digit among them. In the
# pipeline slot it is read as a SHA, so `ABCDEF1` or a 6-digit prefix is told what a commit must
# look like instead of "unknown pipeline".
_SHA_LIKE = re.compile(r"(?=[A-Za-z]*[0-9])[0-9A-Fa-f]{4,64}")
_LABELS: dict[_Checked, str] = {
    "env": "The environment", "pipeline": "The pipeline", "sha": "The commit",
    "--version": "`--version`", "--traffic": "`--traffic`",
}
# Option-looking tokens safe to quote back; anything else is described, not echoed.
_QUOTABLE = re.compile(r"-{1,2}[A-Za-z0-9][A-Za-z0-9_-]{0,30}")

_Args = dict[str, str]  # slot or option -> the word(s) given


@dataclass(frozen=True)
class _Syntax:
    name: CommandName | Literal["help"]
    usage: str
    summary: str
    slots: tuple[_Slot, ...] = ()  # positional arguments, in order
    required: int = 0  # how many of the slots must be given
    options: tuple[_Option, ...] = ()


_SYNTAX: dict[str, _Syntax] = {s.usage.split()[0]: s for s in (
    _Syntax("deploy", "/deploy <env> [<pipeline>] [<sha>] [--version V] [--traffic N]",
            "Promote the model this PR's head commit built (or registry version `V`) to "
            "`<env>`; `<sha>` pins the commit you reviewed (it must be the head); `--traffic` "
            "sets the new model's share, in percent.",
            ("env", "pipeline", "sha"), 1, ("--version", "--traffic")),
    _Syntax("rollback", "/rollback <env> [<pipeline>]",
            "Put back the model `<env>` served before its last deploy.", ("env", "pipeline"), 1),
    _Syntax("lock", "/lock <env> [--reason TEXT]",
            "Stop deploys to `<env>` until it is unlocked; the reason is the rest of the line.",
            ("env",), 1, ("--reason",)),
    _Syntax("unlock", "/unlock <env> [--force]", "Release the lock on `<env>`; `--force` "
            "releases anyone's (a deploy that was killed, a closed PR's).", ("env",), 1,
            ("--force",)),
    _Syntax("plan", "/plan", "Show what this PR would rebuild, compile and run."),
    _Syntax("help", "/help", "Show this help."),
)}
# Commands that existed once, answered with what to do instead rather than silence. /run ran the
# PR's pipeline in the comment job, which holds a write token: PR code never runs there.
_RETIRED: dict[str, str] = {
    "/run": "`/run` is no longer a comment command: the comment job runs no code of a pull "
            "request. Push to the PR branch: the push workflow builds, publishes and runs what "
            "changed (without deploy rights), and `/deploy` finds that run. To run a pipeline "
            "again, re-run the push workflow's job from the PR's Checks tab, or run "
            "`mlops-bot run <pipeline>` where you have credentials.",
}


def parse_comment(body: str, environments: Sequence[str], pipelines: Sequence[str]) -> (
        Command | Reply | Ignore):
    """Read the first line of a PR comment: a command to run, a reply to post, or ignore it."""
    line = _LINE_END.split(body, maxsplit=1)[0].strip()
    if not line:
        return Ignore("empty")
    if not line.startswith("/"):  # a lookalike (U+FF0F, U+2215) is not one either
        return Ignore("not_a_command")
    word, *rest = line.split(maxsplit=1)
    if word in _RETIRED:
        return Reply(_RETIRED[word], "retired_command")
    syntax = _SYNTAX.get(word)
    if syntax is None:
        return _not_ours(word)
    if len(line) > MAX_LINE:
        return _usage(syntax, f"The first line is longer than {MAX_LINE} characters.",
                      "invalid_argument")
    args = _tokenize(syntax, rest[0].split() if rest else [])
    if isinstance(args, Reply):
        return args
    envs, pipes = _known("env", environments), _known("pipeline", pipelines)
    if syntax.name == "help":
        return Reply(help_text(envs, pipes), "help")
    if "sha" in syntax.slots:
        args = _sha_in_pipeline_slot(args, pipes)
    return _check_patterns(syntax, args) or _resolve(syntax.name, syntax, args, envs, pipes)


def help_text(environments: Sequence[str], pipelines: Sequence[str]) -> str:
    """Every command with its usage and one sentence, then the names a comment can use."""
    environments, pipelines = _known("env", environments), _known("pipeline", pipelines)
    lines = ["**mlops-bot commands** (on the first line of a PR comment):", ""]
    lines += [f"- `{s.usage}`: {s.summary}" for s in _SYNTAX.values()]
    lines += ["", f"Environments: {_listing(environments, 'none configured')}.",
              f"Pipelines: {_listing(pipelines, 'none found')}."]
    return "\n".join(lines)


def _not_ours(word: str) -> Reply | Ignore:
    """A '/' word that is not ours: silence, unless it is clearly a typo of one of ours."""
    # Case variants (/Deploy) and longer words (/deployx, /planner) are someone else's command.
    if len(word) > _MAX_WORD or any(word.lower().startswith(ours) for ours in _SYNTAX):
        return Ignore("other_command")
    close = difflib.get_close_matches(word, _SYNTAX, n=1, cutoff=_NEAR_MISS)
    if not close:
        return Ignore("other_command")
    return _usage(_SYNTAX[close[0]], f"Did you mean `{close[0]}`?", "unknown_command")


def _tokenize(syntax: _Syntax, tokens: list[str]) -> _Args | Reply:
    """Sort the words into positional slots and options; any surplus or stranger is refused."""
    args: _Args = {}
    slots, words = iter(syntax.slots), iter(tokens)
    for token in words:
        if token.startswith("-"):
            if token not in syntax.options:
                return _usage(syntax, f"{_quoted(token)} is not an option of `/{syntax.name}`.")
            if token in args:
                return _usage(syntax, f"`{token}` is given more than once.")
            # --reason takes the rest of the line, whitespace runs (tabs included) as one space.
            value = (" ".join(words) if token == "--reason" else "yes" if token == "--force"
                     else next(words, ""))
            if not value:
                return _usage(syntax, f"`{token}` needs a value.")
            args[token] = value
            continue
        slot = next(slots, None)
        if slot is None:
            return _usage(syntax, "Too many arguments.")
        args[slot] = token
    for slot in syntax.slots[:syntax.required]:
        if slot not in args:
            return _usage(syntax, f"`<{slot}>` is missing.")
    return args


def _sha_in_pipeline_slot(args: _Args, pipelines: Sequence[str]) -> _Args:
    """`/deploy staging 1a2b3c4` names a commit, not a pipeline: a second word that reads as a
    SHA and is no pipeline's name moves to the sha slot (a pipeline named like a SHA wins)."""
    word = args.get("pipeline")
    if "sha" in args or word is None or word in pipelines or not _SHA_LIKE.fullmatch(word):
        return args
    moved = {k: v for k, v in args.items() if k != "pipeline"}
    moved["sha"] = word
    return moved


def _check_patterns(syntax: _Syntax, args: _Args) -> Reply | None:
    """The first argument outside its pattern, said with what is allowed; None when all fit."""
    for kind, (pattern, allowed) in _PATTERNS.items():
        value = args.get(kind)
        if value is not None and not pattern.fullmatch(value):
            return _usage(syntax, f"{_LABELS[kind]} is not valid: use {allowed}.",
                          "invalid_argument")
    reason = args.get("--reason")
    if reason is not None and (len(reason) > MAX_REASON or not reason.isprintable()):
        # isprintable() also refuses format characters such as bidi overrides and zero-width
        # spaces, which could make the reason read differently where it is shown.
        return _usage(syntax, f"`--reason` is not valid: use at most {MAX_REASON} printable "
                      "characters, no control characters.", "invalid_argument")
    return None


def _resolve(name: CommandName, syntax: _Syntax, args: _Args,
             environments: Sequence[str], pipelines: Sequence[str]) -> Command | Reply:
    """Compare the well-formed arguments with the known names and build the command."""
    env = args.get("env")
    if env is not None and env not in environments:
        return _unknown("environment", env, environments)
    pipeline = args.get("pipeline")
    if pipeline is not None and pipeline not in pipelines:
        return _unknown("pipeline", pipeline, pipelines)
    if pipeline is None and "pipeline" in syntax.slots:
        if not pipelines:
            return Reply("No pipelines were found in this repository.", "unknown_pipeline")
        if len(pipelines) > 1:
            return _usage(syntax, f"Name the pipeline: one of {_listing(pipelines, '')}.")
        pipeline = pipelines[0]
    traffic = args.get("--traffic")
    return Command(name, environment=env, pipeline=pipeline,
                   version=args.get("--version"),
                   traffic=int(traffic) if traffic is not None else None,
                   reason=args.get("--reason"), sha=args.get("sha"),
                   force="--force" in args)


def _unknown(kind: Literal["environment", "pipeline"], value: str,
             known: Sequence[str]) -> Reply:
    close = difflib.get_close_matches(value, known, n=1)
    hint = f" Did you mean `{close[0]}`?" if close else ""
    if kind == "environment":
        return Reply(f"Unknown environment `{value}`.{hint} Environments: "
                     f"{_listing(known, 'none configured')}.", "unknown_environment")
    return Reply(f"Unknown pipeline `{value}`.{hint} Pipelines: {_listing(known, 'none found')}.",
                 "unknown_pipeline")


def _usage(syntax: _Syntax, problem: str,
           code: Literal["usage", "invalid_argument", "unknown_command"] = "usage") -> Reply:
    return Reply(f"{problem}\n\nUsage: `{syntax.usage}`", code)


def _known(kind: Literal["env", "pipeline"], names: Iterable[str]) -> tuple[str, ...]:
    """Names a comment can address: those within the argument pattern, once each, in order."""
    pattern = _PATTERNS[kind][0]
    return tuple(dict.fromkeys(n for n in names if isinstance(n, str) and pattern.fullmatch(n)))


def _listing(names: Sequence[str], empty: str) -> str:
    shown = ", ".join(f"`{n}`" for n in names[:_MAX_LISTED])
    more = len(names) - _MAX_LISTED
    return (f"{shown} and {more} more" if more > 0 else shown) or empty


def _quoted(token: str) -> str:
    return f"`{token}`" if _QUOTABLE.fullmatch(token) else "That option"
