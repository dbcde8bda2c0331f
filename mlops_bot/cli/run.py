"""`mlops-bot run`: run a registry version of a pipeline by hand."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_bot.cli.options import json_option, param_option, repo_option
from mlops_bot.console import emit_json, say

if TYPE_CHECKING:
    from mlops_bot.cli.options import Subcommands

__all__ = ["register", "run_pipeline"]


def register(commands: Subcommands) -> None:
    run = commands.add_parser(
        "run", help="run a registry version of a pipeline",
        description="Run a published version (default: the one tagged latest) with parameters "
        "from run.py, mlops.yaml and --param. The same version and parameters run once: "
        "asking again reports the existing run.",
    )
    run.add_argument("pipeline", help="the pipeline name (its folder name)")
    which = run.add_mutually_exclusive_group()
    which.add_argument("--version", metavar="V", help="a version id (v-<16 hex>)")
    which.add_argument("--tag", metavar="T", help="a tag (default: latest)")
    param_option(run)
    repo_option(run)
    json_option(run)
    run.set_defaults(handler=_command)


def _command(args: argparse.Namespace) -> int:
    from mlops_bot.repo.parameters import parse_param_options

    ref = f"@{args.version}" if args.version else args.tag
    return run_pipeline(repo=args.repo, pipeline=args.pipeline, ref=ref,
                        cli_parameters=parse_param_options(args.param), as_json=args.json)


def run_pipeline(repo: Path, pipeline: str, ref: str | None, cli_parameters: dict[str, Any],
                 as_json: bool) -> int:
    from mlops_bot.backends.factory import backends_for
    from mlops_bot.config import load_config
    from mlops_bot.flows.run import run_version
    from mlops_bot.report.runs_report import run_text

    config = load_config(repo)
    run, status = run_version(repo, config, backends_for(config, repo), pipeline, ref,
                              cli_parameters)
    if as_json:
        emit_json({**dataclasses.asdict(run), "status": status})
    else:
        say(run_text(run, pipeline, status))
    return 0 if run.status == "succeeded" else 1
