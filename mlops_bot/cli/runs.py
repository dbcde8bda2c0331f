"""`mlops-bot runs list`: pipeline runs, newest first."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

from mlops_bot.cli.options import did_you_mean, json_option, repo_option
from mlops_bot.console import emit_json, say
from mlops_bot.errors import UsageError, UserError

if TYPE_CHECKING:
    from mlops_bot.cli.options import Subcommands

__all__ = ["register", "run_runs_list"]


def register(commands: Subcommands) -> None:
    runs = commands.add_parser("runs", help="list pipeline runs")
    runs_commands = runs.add_subparsers(dest="runs_command", metavar="ACTION", required=True)
    runs_list = runs_commands.add_parser("list", help="list runs, newest first")
    runs_list.add_argument("--pipeline", help="only this pipeline's runs")
    runs_list.add_argument("--sha", help="only runs of this commit (7 or more hex digits)")
    repo_option(runs_list)
    json_option(runs_list)
    runs_list.set_defaults(handler=_list)


def _list(args: argparse.Namespace) -> int:
    return run_runs_list(repo=args.repo, pipeline=args.pipeline, sha=args.sha, as_json=args.json)


def run_runs_list(repo: Path, pipeline: str | None, sha: str | None, as_json: bool) -> int:
    from mlops_bot.backends.factory import backends_for
    from mlops_bot.config import load_config
    from mlops_bot.report.runs_report import runs_table

    if sha is not None and len(sha) < 7:
        raise UsageError(f"--sha {sha!r} is too short: give at least 7 hex digits")
    runner = backends_for(load_config(repo), repo).runner
    runs = runner.runs(pipeline, sha)
    if pipeline is not None and not runs:
        known = sorted({r.pipeline for r in runner.runs()})
        if pipeline not in known:
            where = (f"runs exist for {', '.join(known)}" if known else "there are no runs yet "
                     "(`mlops-bot push` runs the pipelines it publishes)")
            raise UserError(f"no runs of pipeline {pipeline!r}{did_you_mean(pipeline, known)}: "
                            f"{where}")
    if as_json:
        emit_json({"runs": [dataclasses.asdict(r) for r in runs]})
        return 0
    if not runs and (pipeline or sha):  # say which filter matched nothing, not "no runs yet"
        of = " and ".join(([f"pipeline {pipeline}"] if pipeline else [])
                          + ([f"commit {sha}"] if sha else []))
        say(f"No runs of {of}: `mlops-bot runs list` lists them all.")
        return 0
    say(runs_table(runs))
    return 0
