"""`mlops-bot rollback <env>`: the rollback flow from the command line, reported like a deploy."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from mlops_bot.cli.deploy import report_promotion
from mlops_bot.cli.options import json_option, repo_option

if TYPE_CHECKING:
    from mlops_bot.cli.options import Subcommands

__all__ = ["register", "run_rollback"]


def register(commands: Subcommands) -> None:
    rollback = commands.add_parser(
        "rollback", help="send an environment's traffic back to the model version before",
        description="Give all traffic to the version that served ENV before the last "
        "promotion (redeploying it if it was undeployed), without rebuilding anything.",
    )
    rollback.add_argument("environment", metavar="ENV", help="an environment of mlops.yaml")
    rollback.add_argument("--pipeline", help="the model to roll back (default: the one "
                          "serving)")
    repo_option(rollback)
    json_option(rollback)
    rollback.set_defaults(handler=_command)


def _command(args: argparse.Namespace) -> int:
    return run_rollback(repo=args.repo, environment=args.environment, pipeline=args.pipeline,
                        as_json=args.json)


def run_rollback(repo: Path, environment: str, pipeline: str | None, as_json: bool) -> int:
    from mlops_bot.backends.factory import backends_for
    from mlops_bot.config import load_config
    from mlops_bot.flows.held_lock import locked_for
    from mlops_bot.flows.promote import rollback

    config = load_config(repo)
    backends = backends_for(config, repo)
    with locked_for(backends, config, environment, "mlops-bot rollback"):
        result = rollback(backends, config, environment, pipeline, repo_root=repo)
    return report_promotion(result.to_dict(), result.ok, as_json)
