"""`mlops-bot retrain`: the retrain flow with GitHub when GITHUB_TOKEN and GITHUB_REPOSITORY are
set, else a console forge that prints what it would post."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING

from mlops_bot.cli.options import json_option, repo_option
from mlops_bot.console import emit_json, say

if TYPE_CHECKING:
    from mlops_bot.cli.options import Subcommands
    from mlops_bot.github.forge import Forge

__all__ = ["register", "run_retrain"]

_NO_SCHEDULES = ("mlops.yaml configures no schedules, so there is nothing to retrain: add one "
                 "under schedules: (`mlops-bot config schema` shows its keys)")


def register(commands: Subcommands) -> None:
    retrain = commands.add_parser(
        "retrain", help="run the schedules that are due and offer a better model for deployment",
        description="For each schedule of mlops.yaml (or those of --pipeline): run its tag's "
        "version, pinned now, once per window of its cron (a second retrain in the same window "
        "reports the existing run); compare the model with the champion serving its "
        "environment; when better by its margin and auto_promote is set, create a GitHub "
        "Deployment awaiting the environment's reviewers (never deploying directly). Reports "
        "in the job summary and on the schedule's tracking issue (GitHub when GITHUB_TOKEN and "
        "GITHUB_REPOSITORY are set, else printed).",
    )
    retrain.add_argument("--pipeline", metavar="P", help="only the schedules of pipeline P "
                         "(paused ones included)")
    retrain.add_argument("--now", metavar="ISO", help="the time to take as now (ISO 8601; "
                         "default: the current time)")
    repo_option(retrain)
    json_option(retrain)
    retrain.set_defaults(handler=_command)


def _command(args: argparse.Namespace) -> int:
    return run_retrain(repo=args.repo, pipeline=args.pipeline, now_text=args.now,
                       as_json=args.json)


def run_retrain(repo: Path, pipeline: str | None, now_text: str | None, as_json: bool) -> int:
    from mlops_bot.config import load_config
    from mlops_bot.flows.retrain import retrain
    from mlops_bot.flows.schedules import parse_now

    forge: Forge
    token, repository = os.environ.get("GITHUB_TOKEN"), os.environ.get("GITHUB_REPOSITORY")
    if token and repository:
        from mlops_bot.github.pygithub_forge import GithubForge

        forge = GithubForge(repository, token,
                            os.environ.get("GITHUB_API_URL", "https://api.github.com"))
    else:
        from mlops_bot.github.console_forge import ConsoleForge

        forge = ConsoleForge()
    result = retrain(repo, pipeline, parse_now(now_text), forge)
    if not result.runs and not load_config(repo).schedules:  # not "none was due": none exists
        result.notes.append(_NO_SCHEDULES)
    if as_json:
        emit_json(result.to_dict())
    elif _NO_SCHEDULES in result.notes:
        say(_NO_SCHEDULES)
    else:
        from mlops_bot.report.retrain_report import retrain_text

        say(retrain_text(result))
    return 0 if result.ok else 1
