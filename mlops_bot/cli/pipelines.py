"""`mlops-bot pipelines`: the pipelines and components the folder conventions find (read-only)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from mlops_bot.cli.options import json_option, repo_option
from mlops_bot.console import emit_json, say
from mlops_bot.errors import EXIT_FAILED, EXIT_OK, UserError

if TYPE_CHECKING:
    from mlops_bot.cli.options import Subcommands

__all__ = ["register", "run_pipelines_list"]


def register(commands: Subcommands) -> None:
    pipelines = commands.add_parser(
        "pipelines", help="list the pipelines and components found in the repository",
        description="Discover pipelines and components by the folder conventions.",
    )
    pipelines.add_argument("--ref", default="HEAD", metavar="REF",
                           help="the commit to read (default: HEAD)")
    repo_option(pipelines)
    json_option(pipelines)
    pipelines.set_defaults(handler=_command)


def _command(args: argparse.Namespace) -> int:
    return run_pipelines_list(repo=args.repo, ref=args.ref, as_json=args.json)


def run_pipelines_list(repo: Path, ref: str, as_json: bool) -> int:
    from mlops_bot.repo.config_diff import config_at
    from mlops_bot.repo.entries import discover_at
    from mlops_bot.repo.git import GitRepo
    from mlops_bot.report.plan_report import render_pipelines

    git = GitRepo(repo)
    commit = git.resolve(ref)
    if commit is None:
        raise UserError(f"--ref {ref} is not a commit in {git.root}")
    config = config_at(git, commit)
    pipelines, broken = discover_at(git, commit, config)  # mlops.yaml entries: or pipelines_dir
    if as_json:
        emit_json({
            "ref": commit,
            "pipelines": [
                {"name": p.name, "path": p.path,
                 "components": [{"name": c.name, "kind": c.kind, "image": c.image}
                                for c in p.components],
                 "images": [{"name": i.name, "kind": i.kind, "content_hash": i.content_hash}
                            for i in p.images]}
                for p in pipelines.values()
            ],
            "broken": [{"name": n, "errors": [str(p) for p in ps]} for n, ps in broken.items()],
        })
    else:
        say(render_pipelines(list(pipelines.values()), broken))
    return EXIT_OK if not broken else EXIT_FAILED
