"""`mlops-bot plan`: which pipelines and images a commit range affects, and why (read-only)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from mlops_bot.cli.options import json_option, repo_option
from mlops_bot.console import emit_json, say
from mlops_bot.errors import EXIT_FAILED, EXIT_OK, UsageError

if TYPE_CHECKING:
    from mlops_bot.cli.options import Subcommands

__all__ = ["register", "run_plan"]


def register(commands: Subcommands) -> None:
    plan = commands.add_parser(
        "plan", help="show which pipelines and images a commit range affects, and why",
        description="Diff two commits and list the pipelines to recompile and the images to "
        "rebuild, each with the files that caused it.",
    )
    plan.add_argument("--base", metavar="SHA",
                      help="the commit before the change (all zeros for a new branch); "
                      "required unless --all")
    plan.add_argument("--all", dest="everything", action="store_true",
                      help="every pipeline at --head, whatever changed")
    plan.add_argument("--head", required=True, metavar="SHA", help="the commit to plan for")
    plan.add_argument("--default-branch", metavar="NAME", default=None,
                      help="branch to diff against when --base is all zeros "
                      "(default: origin/HEAD, else main, else master)")
    repo_option(plan)
    json_option(plan)
    plan.set_defaults(handler=_command)


def _command(args: argparse.Namespace) -> int:
    if args.base is None and not args.everything:
        raise UsageError("plan needs --base SHA (the commit before the change) or --all")
    return run_plan(
        repo=args.repo, base=args.base or "", head=args.head, as_json=args.json,
        default_branch=args.default_branch, everything=args.everything,
    )


def run_plan(
    repo: Path, base: str, head: str, as_json: bool, default_branch: str | None = None,
    everything: bool = False,
) -> int:
    from mlops_bot.repo.config_diff import layout_at
    from mlops_bot.repo.git import GitRepo
    from mlops_bot.repo.parameter_needs import parameter_notes
    from mlops_bot.repo.planner import ChangePlanner
    from mlops_bot.report.plan_report import render_plan

    git = GitRepo(repo)
    planner = ChangePlanner(git, default_branch)
    plan = planner.plan_all(head) if everything else planner.plan(base, head)
    plan.notes += parameter_notes(git, plan, layout_at(git, plan.head), {})
    if as_json:
        emit_json(plan.to_dict())
    else:
        say(render_plan(plan))
    return EXIT_OK if plan.ok else EXIT_FAILED
