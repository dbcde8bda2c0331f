"""`mlops-bot config schema|check`: mlops.yaml's JSON schema, and whether it is valid."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from mlops_bot.cli.options import did_you_mean, repo_option
from mlops_bot.console import say
from mlops_bot.errors import ConfigError

if TYPE_CHECKING:
    from mlops_bot.cli.options import Subcommands
    from mlops_bot.config import Config

__all__ = ["register"]


def register(commands: Subcommands) -> None:
    config = commands.add_parser("config", help="validate mlops.yaml or print its JSON schema")
    config_commands = config.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    schema = config_commands.add_parser(
        "schema", help="print the JSON schema of mlops.yaml (for editors and CI validation)")
    schema.set_defaults(handler=_schema)
    check = config_commands.add_parser(
        "check", help="validate mlops.yaml (and that the pipelines it names exist) and say what "
        "it sets")
    repo_option(check)
    check.set_defaults(handler=_check)


def _schema(args: argparse.Namespace) -> int:
    from mlops_bot.config import schema_json

    say(schema_json())
    return 0


def _check(args: argparse.Namespace) -> int:
    from mlops_bot.config import config_path, load_config

    config = load_config(args.repo)
    path = config_path(args.repo)
    problems = _unknown_pipelines(config, args.repo)
    if problems:
        raise ConfigError(f"{path} names pipelines that do not exist: {'; '.join(problems)}")
    where = str(path) if path.is_file() else f"no {path.name} (local backend defaults)"
    say(f"{where}: valid; backend={config.backend}, environments: "
        f"{', '.join(config.environments) or 'none'}")
    return 0


def _unknown_pipelines(config: Config, repo: Path) -> list[str]:
    """Keys of `pipelines:` and `schedules[].pipeline` that name no folder of pipelines_dir:
    a typo there would silently configure nothing."""
    folder = repo / config.pipelines_dir
    found = sorted(p.name for p in folder.glob("*")
                   if p.is_dir() and not p.name.startswith((".", "_")))
    where = (f"pipelines in {config.pipelines_dir}/: {', '.join(found)}" if found
             else f"{config.pipelines_dir}/ holds no pipeline folder")
    if config.entries:  # pipelines where mlops.yaml entries: says
        from mlops_bot.repo.entries import names_in

        found = names_in(repo, config.entries)
        where = f"pipelines of entries: {', '.join(found) or 'none'}"
    named = [(f"pipelines.{name}", name) for name in config.pipelines]
    named += [(f"schedules[{i}].pipeline", s.pipeline) for i, s in enumerate(config.schedules)]
    return [f"{key}: no pipeline {name!r}{did_you_mean(name, found)} ({where})"
            for key, name in named if name not in found]
