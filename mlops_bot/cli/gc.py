"""`mlops-bot gc`: free the runs, environments and images nothing refers to (local backend)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from mlops_bot.cli.options import json_option, repo_option
from mlops_bot.console import emit_json, say

if TYPE_CHECKING:
    from mlops_bot.cli.options import Subcommands

__all__ = ["register"]


def register(commands: Subcommands) -> None:
    gc = commands.add_parser(
        "gc", help="free local runs, environments and images nothing refers to",
        description="Remove from the local state folder (.mlops) the runs, environments "
        "(envs/) and mlops-local Docker images (when an engine answers) that no registry tag, "
        "endpoint's deployed model, registered model, lock or recent run refers to, and what "
        "killed commands left (.incoming-* folders, temporary files, half-built environments). "
        "Never removes registry versions, nor anything a tag, endpoint or lock refers to, nor "
        "what a running command holds. Reports what it freed.",
    )
    gc.add_argument("--dry-run", action="store_true",
                    help="list what would be removed and remove nothing")
    gc.add_argument("--keep", type=int, default=3, metavar="N",
                    help="keep the newest N runs of each pipeline (default: 3)")
    gc.add_argument("--older-than", default="7d", metavar="AGE",
                    help="keep runs newer than AGE: 30m, 12h, 7d, 2w, or days (default: 7d)")
    repo_option(gc)
    json_option(gc)
    gc.set_defaults(handler=_command)


def _command(args: argparse.Namespace) -> int:
    from mlops_bot.backends.factory import state_dir
    from mlops_bot.config import load_config
    from mlops_bot.errors import UserError
    from mlops_bot.flows.gc import collect_garbage, parse_age
    from mlops_bot.report.gc_report import gc_text

    older_than = parse_age(args.older_than)
    config = load_config(args.repo)
    if config.backend != "local":
        raise UserError("mlops-bot gc cleans the local backend's state folder; mlops.yaml says "
                        "backend: gcp, which keeps nothing locally")
    result = collect_garbage(state_dir(config, args.repo.resolve()), args.repo.resolve(),
                             args.keep, older_than, args.dry_run)
    if args.json:
        emit_json(result.to_dict())
    else:
        say(gc_text(result))
    return 0
