"""`mlops-bot bootstrap`: the one-time Google Cloud set-up, reported as a list of resources and
the access set-up to review and run."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from mlops_bot.cli.options import json_option, repo_option
from mlops_bot.console import emit_json, say

if TYPE_CHECKING:
    from mlops_bot.cli.options import Subcommands

__all__ = ["register"]


def register(commands: Subcommands) -> None:
    bootstrap = commands.add_parser(
        "bootstrap", help="create the registry bucket and image repositories on Google Cloud",
        description="Create what is missing of the gcp: section's registry bucket (uniform "
        "access, versioning off) and Artifact Registry repositories (immutable tags), leave what "
        "exists, and print the rest to review and run: the build and deploy service accounts "
        "with their custom roles and bindings, the Workload Identity Federation provider that "
        "lets only the approved deploy jobs mint the deploy identity, and the GitHub variables.",
    )
    bootstrap.add_argument("--retention-days", type=int, metavar="N",
                           help="keep registry objects at least N days (bucket retention)")
    bootstrap.add_argument("--dry-run", action="store_true",
                           help="say what would be created, create nothing")
    bootstrap.add_argument("--github-repository", default="OWNER/REPO", metavar="OWNER/REPO",
                           help="the repository whose workflows may act (for the printed set-up)")
    bootstrap.add_argument("--default-branch", default="main", metavar="BRANCH",
                           help="the branch whose deploy workflows may deploy (default: main)")
    repo_option(bootstrap)
    json_option(bootstrap)
    bootstrap.set_defaults(handler=_command)


def _command(args: argparse.Namespace) -> int:
    from mlops_bot.flows.bootstrap import bootstrap

    resources, plan = bootstrap(args.repo, args.retention_days, args.dry_run,
                                args.github_repository, args.default_branch)
    if args.json:
        emit_json({"resources": [vars(r) for r in resources], "access": plan.text(),
                   **plan.to_dict()})
        return 0
    for r in resources:
        say(f"{r.status:<13} {r.kind:<10} {r.name}" + (f"  ({r.note})" if r.note else ""))
    say("")
    say(plan.text())
    return 0
