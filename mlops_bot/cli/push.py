"""`mlops-bot push`: the push flow for a commit range, reported on the console or as JSON."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from mlops_bot.cli.options import json_option, param_option, repo_option
from mlops_bot.console import emit_json, say

if TYPE_CHECKING:
    from mlops_bot.cli.options import Subcommands

__all__ = ["register"]


def register(commands: Subcommands) -> None:
    push = commands.add_parser(
        "push", help="plan, build, compile, publish and run what a commit range changed",
        description="The job run on every push: plan the range, build the images it needs "
        "(reusing any already built for the same content), compile the affected pipelines "
        "with images pinned, publish them to the registry (tags: latest and the branch's name "
        "on the default branch, branch-<name>-<hash> on others) and run them. The range "
        "defaults to the GitHub push event inside Actions, else HEAD~1..HEAD; the default "
        "branch's first push (an all-zero base) and --all take every pipeline. Running it "
        "again on the same range does nothing new, and says so.",
    )
    push.add_argument("--base", metavar="SHA", help="the commit before the change")
    push.add_argument("--head", metavar="SHA", help="the commit to push (default: HEAD)")
    push.add_argument("--all", dest="everything", action="store_true",
                      help="every pipeline at --head, whatever the range changed (a fresh "
                      "clone, or to rebuild all)")
    push.add_argument("--no-wait", dest="wait", action="store_false",
                      help="start the runs, report their links and exit without waiting for "
                      "them (in the action, their check runs stay in_progress until `mlops-bot "
                      "status` records how they ended; the local backend still runs them to "
                      "their end)")
    param_option(push)
    repo_option(push)
    json_option(push)
    push.set_defaults(handler=_command)


def _command(args: argparse.Namespace) -> int:
    from mlops_bot.flows.push import push
    from mlops_bot.repo.parameters import parse_param_options
    from mlops_bot.report.push_report import render_push_text

    result = push(args.repo, args.base, args.head, parse_param_options(args.param),
                  wait=args.wait, everything=args.everything)
    if args.json:
        emit_json(result.to_dict())
    else:
        say(render_push_text(result))
    return 0 if result.ok else 1
