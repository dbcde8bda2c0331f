"""`mlops-bot registry list|show`: what the pipeline registry holds."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from mlops_bot.cli.options import did_you_mean, json_option, repo_option
from mlops_bot.console import emit_json, say
from mlops_bot.errors import UserError

if TYPE_CHECKING:
    from mlops_bot.backends.types import PipelineRegistry
    from mlops_bot.cli.options import Subcommands

__all__ = ["register", "run_registry_list", "run_registry_show"]


def register(commands: Subcommands) -> None:
    registry = commands.add_parser("registry", help="list or show published pipeline versions")
    registry_commands = registry.add_subparsers(dest="registry_command", metavar="ACTION",
                                                required=True)
    registry_list = registry_commands.add_parser("list", help="versions, newest first, with tags")
    registry_list.add_argument("pipeline", nargs="?", help="only this pipeline")
    repo_option(registry_list)
    json_option(registry_list)
    registry_list.set_defaults(handler=_list)
    registry_show = registry_commands.add_parser(
        "show", help="one version's manifest: PIPELINE, PIPELINE@VERSION or PIPELINE:TAG")
    registry_show.add_argument("reference", metavar="PIPELINE[@VERSION|:TAG]")
    repo_option(registry_show)
    json_option(registry_show)
    registry_show.set_defaults(handler=_show)


def _list(args: argparse.Namespace) -> int:
    return run_registry_list(repo=args.repo, pipeline=args.pipeline, as_json=args.json)


def _show(args: argparse.Namespace) -> int:
    return run_registry_show(repo=args.repo, reference=args.reference, as_json=args.json)


def _registry(repo: Path) -> PipelineRegistry:
    from mlops_bot.backends.factory import backends_for
    from mlops_bot.config import load_config

    return backends_for(load_config(repo), repo).registry


def run_registry_list(repo: Path, pipeline: str | None, as_json: bool) -> int:
    from mlops_bot.report.registry_report import versions_table

    registry = _registry(repo)
    records = registry.versions(pipeline)
    if pipeline is not None and not records:
        raise UserError(_no_pipeline(pipeline, sorted({r.pipeline for r in registry.versions()})))
    if as_json:
        emit_json({"versions": [{"pipeline": r.pipeline, "version": r.version,
                                 "tags": list(r.tags), "git_sha": r.manifest.get("git_sha"),
                                 "compiled_at": r.manifest.get("compiled_at")}
                                for r in records]})
        return 0
    say(versions_table(records))
    return 0


def run_registry_show(repo: Path, reference: str, as_json: bool) -> int:
    """`<pipeline>`, `<pipeline>@<version>` or `<pipeline>:<tag>`."""
    from mlops_bot.report.registry_report import version_text

    pipeline, ref = _split(reference)
    record = _registry(repo).resolve(pipeline, ref)
    document = {"pipeline": record.pipeline, "version": record.version,
                "tags": list(record.tags), "manifest": record.manifest}
    if as_json:
        emit_json(document)
    else:
        say(version_text(record))
    return 0


def _no_pipeline(pipeline: str, known: list[str]) -> str:
    if not known:
        return (f"no pipeline {pipeline!r} in the registry: it is empty (`mlops-bot push` "
                "publishes the pipelines of a commit)")
    return (f"no pipeline {pipeline!r} in the registry{did_you_mean(pipeline, known)} (it has: "
            f"{', '.join(known)})")


def _split(reference: str) -> tuple[str, str | None]:
    for separator in ("@", ":"):
        if separator in reference:
            pipeline, _, ref = reference.partition(separator)
            return pipeline, separator + ref
    return reference, None
