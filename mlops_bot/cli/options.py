"""Options several commands share, declared once so their help reads the same everywhere."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    Subcommands = argparse._SubParsersAction[argparse.ArgumentParser]

__all__ = ["Handler", "did_you_mean", "json_option", "param_option", "percentage",
           "repo_option"]

# What each command's parser stores as `handler`: run the command, return its exit code.
Handler = Callable[[argparse.Namespace], int]


def did_you_mean(name: str, known: list[str]) -> str:
    """" (did you mean 'x'?)" for the closest of `known`, or "" when none is close."""
    import difflib

    close = difflib.get_close_matches(name, known, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def percentage(text: str) -> int:
    """An option's value as a traffic percentage, 1 to 100 (else a usage error, exit 2)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= 100:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole percentage from 1 to 100")
    return value


def param_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--param", action="append", default=[], metavar="NAME=VALUE",
        help="a run parameter (repeatable); VALUE is read as JSON when it parses (3, 0.5, true), "
        "else as text; overrides run.py and mlops.yaml",
    )


def repo_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--repo", type=Path, default=Path("."), metavar="PATH",
        help="the git repository holding mlops.yaml and pipelines/ (default: the current folder)",
    )


def json_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--json", action="store_true",
        help="print exactly one JSON document on stdout (progress goes to stderr)",
    )
