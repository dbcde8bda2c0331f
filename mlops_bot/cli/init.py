"""`mlops-bot init`: write a starter mlops.yaml and the GitHub workflows, then print the next
steps."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from mlops_bot.cli.options import repo_option
from mlops_bot.console import say

if TYPE_CHECKING:
    from mlops_bot.cli.options import Subcommands

__all__ = ["register", "run_init"]


def register(commands: Subcommands) -> None:
    init = commands.add_parser(
        "init", help="write a starter mlops.yaml and the GitHub workflows into a repository",
        description="Write mlops.yaml (local backend, with gcp and staging examples) and the "
        "push, plan, comment, retrain, status and monitor workflows into .github/workflows/, "
        "then print the next "
        "steps, and add .mlops/ (the local backend's state) to .gitignore. Writes nothing when "
        "any of these files exists, unless --force.",
    )
    init.add_argument("--force", action="store_true",
                      help="complete a set-up that exists: write the missing files and put "
                      "--action-ref on the mlops-bot `uses:` lines of existing workflows; "
                      "mlops.yaml is never overwritten")
    init.add_argument("--action-ref", metavar="OWNER/REPO@SHA",
                      help="the mlops-bot action the workflows use, pinned by full commit SHA "
                      "(of the release matching this version)")
    repo_option(init)
    init.set_defaults(handler=_command)


def _command(args: argparse.Namespace) -> int:
    return run_init(repo=args.repo, force=args.force, action_ref=args.action_ref)


def run_init(repo: Path, force: bool, action_ref: str | None) -> int:
    from mlops_bot.flows.init import DEFAULT_ACTION_REF, init_repository
    from mlops_bot.report.init_report import init_text

    outcome = init_repository(repo, force, action_ref)
    say(init_text(outcome.written, action_ref, DEFAULT_ACTION_REF))
    for note in outcome.notes:
        say(f"note: {note}")
    return 0
