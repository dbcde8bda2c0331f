"""`mlops-bot init`: write a starter mlops.yaml and the GitHub workflows, then print the next
steps."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from mlops_bot import __version__
from mlops_bot.cli.options import repo_option
from mlops_bot.console import say

if TYPE_CHECKING:
    from mlops_bot.cli.options import Subcommands

__all__ = ["register", "run_init"]


def register(commands: Subcommands) -> None:
    init = commands.add_parser(
        "init", help="write a starter mlops.yaml and the GitHub workflows into a repository",
        description="Write mlops.yaml (local backend, with gcp and staging examples) and the "
        "push, plan, comment and retrain workflows into .github/workflows/, then print the next "
        "steps. Writes nothing when any of these files exists, unless --force.",
    )
    init.add_argument("--force", action="store_true", help="overwrite files that exist")
    init.add_argument("--action-ref", metavar="OWNER/REPO@SHA",
                      help="the mlops-bot action the workflows use, pinned by full commit SHA "
                      "(of the release matching this version)")
    repo_option(init)
    init.set_defaults(handler=_command)


def _command(args: argparse.Namespace) -> int:
    return run_init(repo=args.repo, force=args.force, action_ref=args.action_ref)


def run_init(repo: Path, force: bool, action_ref: str | None) -> int:
    from mlops_bot.flows.init import DEFAULT_ACTION_REF, init_repository

    written = init_repository(repo, force, action_ref)
    say(_report(written, action_ref, DEFAULT_ACTION_REF))
    return 0


def _report(written: list[str], action_ref: str | None, placeholder: str) -> str:
    lines = ["Wrote:", *(f"  {path}" for path in written), "", "Next steps:"]
    if action_ref is None:
        lines.append("  - Pin the action: the workflows use the placeholder "
                     f"{placeholder}, which fails at the first run. Run again with "
                     "--force --action-ref OWNER/REPO@SHA (the full commit SHA of the mlops-bot "
                     f"v{__version__} release, whose action these workflows are written for), "
                     "or edit their `uses:` lines.")
    lines += [
        "  - Try it here: `mlops-bot config check`, then commit and `mlops-bot push` "
        "(local backend, no cloud account).",
        "  - Google Cloud: fill in the gcp: section of mlops.yaml, set backend: gcp, then run "
        "`mlops-bot bootstrap --github-repository OWNER/REPO`: it creates the registry bucket "
        "and image repositories and prints the two identities (build for push and retrain, "
        "deploy for the approved deploy jobs only), their roles and the Workload Identity "
        "Federation set-up.",
        "  - Create a GitHub environment for each environment of mlops.yaml (staging) with "
        "required reviewers (Settings > Environments): the deploy job waits for their approval.",
        "  - Set the variables bootstrap printed (Settings > Secrets and variables > Actions > "
        "Variables): GCP_WORKLOAD_IDENTITY_PROVIDER and GCP_BUILD_SERVICE_ACCOUNT for the "
        "repository, GCP_DEPLOY_SERVICE_ACCOUNT in each environment only; the workflows "
        "authenticate with them, without any key.",
        "  - Commit mlops.yaml and .github/workflows/, and push.",
    ]
    return "\n".join(lines)
