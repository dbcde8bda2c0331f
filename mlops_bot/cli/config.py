"""`mlops-bot config schema|check`: mlops.yaml's JSON schema, and whether it is valid."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from mlops_bot.cli.options import repo_option
from mlops_bot.console import say

if TYPE_CHECKING:
    from mlops_bot.cli.options import Subcommands

__all__ = ["register"]


def register(commands: Subcommands) -> None:
    config = commands.add_parser("config", help="validate mlops.yaml or print its JSON schema")
    config_commands = config.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    schema = config_commands.add_parser(
        "schema", help="print the JSON schema of mlops.yaml (for editors and CI validation)")
    schema.set_defaults(handler=_schema)
    check = config_commands.add_parser("check", help="validate mlops.yaml and say what it sets")
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
    where = str(path) if path.is_file() else f"no {path.name} (local backend defaults)"
    say(f"{where}: valid; backend={config.backend}, environments: "
        f"{', '.join(config.environments) or 'none'}")
    return 0
