"""`mlops-bot status`: complete the check runs of runs a `--no-wait` push started."""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING

from mlops_bot.cli.options import json_option, repo_option
from mlops_bot.console import emit_json, say
from mlops_bot.errors import UserError

if TYPE_CHECKING:
    from mlops_bot.cli.options import Subcommands
    from mlops_bot.github.forge import Forge

__all__ = ["register"]


def register(commands: Subcommands) -> None:
    status = commands.add_parser(
        "status", help="record on their commits how the runs of a --no-wait push ended",
        description="A push with --no-wait (action input wait: false) leaves each pipeline's "
        "check run in_progress. This asks the runner how each of those runs is and completes "
        "the check run of each that ended (status, metrics, error), so /deploy can use it; "
        "runs still going are left for the next call. Looks at the commits of the runs started "
        "in the last --days and at the branch tips, or only at the --sha commits. Needs "
        "GITHUB_TOKEN (checks: write) and GITHUB_REPOSITORY, as in a workflow.",
    )
    status.add_argument("--sha", metavar="SHA", action="append", default=[],
                        help="a commit whose check runs to update (repeatable)")
    status.add_argument("--days", type=float, default=3.0, metavar="N",
                        help="look at the commits of the runs started in the last N days "
                        "(default: 3)")
    repo_option(status)
    json_option(status)
    status.set_defaults(handler=_command)


def _command(args: argparse.Namespace) -> int:
    from mlops_bot.flows.status import status
    from mlops_bot.report.run_progress import render_status_text

    result = status(args.repo, args.sha, args.days, _forge())
    if args.json:
        emit_json(result.to_dict())
    else:
        say(render_status_text(result))
    return 0 if result.ok else 1


def _forge() -> Forge:
    """GitHub, from GITHUB_TOKEN and GITHUB_REPOSITORY (as in a workflow)."""
    token, repository = os.environ.get("GITHUB_TOKEN"), os.environ.get("GITHUB_REPOSITORY")
    if not (token and repository):
        raise UserError("mlops-bot status updates the check runs on GitHub: set GITHUB_TOKEN "
                        "(with checks: write) and GITHUB_REPOSITORY (owner/name), as a "
                        "workflow does")
    from mlops_bot.github.pygithub_forge import GithubForge

    return GithubForge(repository, token,
                       os.environ.get("GITHUB_API_URL", "https://api.github.com"))
