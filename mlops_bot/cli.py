"""The `mlops-bot` command.

Every subcommand is a thin call into a flow. Flows and their heavy dependencies (kfp, google-cloud,
PyGithub, GitPython, pydantic) are imported inside the handlers, so `mlops-bot --help` and
`--version` stay fast.
"""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

from mlops_bot import __version__
from mlops_bot.errors import EXIT_FAILED, EXIT_UNEXPECTED, UserError

__all__ = ["build_parser", "main"]

Handler = Callable[[argparse.Namespace], int]


def _cmd_plan(args: argparse.Namespace) -> int:
    from mlops_bot.flows.plan import run_plan

    return run_plan(
        repo=args.repo, base=args.base, head=args.head, as_json=args.json,
        default_branch=args.default_branch,
    )


def _cmd_config_schema(args: argparse.Namespace) -> int:
    from mlops_bot.config import schema_json
    from mlops_bot.console import say

    say(schema_json())
    return 0


def _cmd_config_check(args: argparse.Namespace) -> int:
    from mlops_bot.config import config_path, load_config
    from mlops_bot.console import say

    config = load_config(args.repo)
    path = config_path(args.repo)
    where = str(path) if path.is_file() else f"no {path.name} (local backend defaults)"
    say(f"{where}: valid; backend={config.backend}, environments: "
        f"{', '.join(config.environments) or 'none'}")
    return 0


def _cmd_pipelines(args: argparse.Namespace) -> int:
    from mlops_bot.flows.plan import run_pipelines_list

    return run_pipelines_list(repo=args.repo, ref=args.ref, as_json=args.json)


def _repo_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--repo", type=Path, default=Path("."), metavar="PATH",
        help="the git repository holding mlops.yaml and pipelines/ (default: the current folder)",
    )


def _json_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--json", action="store_true",
        help="print exactly one JSON document on stdout (progress goes to stderr)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mlops-bot",
        description="GitOps CI/CD for Kubeflow (KFP v2) pipelines on Vertex AI.",
        epilog="Exit codes: 0 success, 1 something failed that you can fix (the message says how), "
        "2 usage error, 3 unexpected failure (a bug: the traceback is on stderr).",
    )
    parser.add_argument("--version", action="version", version=f"mlops-bot {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    plan = commands.add_parser(
        "plan", help="show which pipelines and images a commit range affects, and why",
        description="Diff two commits and list the pipelines to recompile and the images to "
        "rebuild, each with the files that caused it.",
    )
    plan.add_argument("--base", required=True, metavar="SHA",
                      help="the commit before the change (all zeros for a new branch)")
    plan.add_argument("--head", required=True, metavar="SHA", help="the commit to plan for")
    plan.add_argument("--default-branch", metavar="NAME", default=None,
                      help="branch to diff against when --base is all zeros "
                      "(default: origin/HEAD, else main, else master)")
    _repo_option(plan)
    _json_option(plan)
    plan.set_defaults(handler=_cmd_plan)

    pipelines = commands.add_parser(
        "pipelines", help="list the pipelines and components found in the repository",
        description="Discover pipelines and components by the folder conventions.",
    )
    pipelines.add_argument("--ref", default="HEAD", metavar="REF",
                           help="the commit to read (default: HEAD)")
    _repo_option(pipelines)
    _json_option(pipelines)
    pipelines.set_defaults(handler=_cmd_pipelines)

    config = commands.add_parser("config", help="validate mlops.yaml or print its JSON schema")
    config_commands = config.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    schema = config_commands.add_parser(
        "schema", help="print the JSON schema of mlops.yaml (for editors and CI validation)")
    schema.set_defaults(handler=_cmd_config_schema)
    check = config_commands.add_parser("check", help="validate mlops.yaml and say what it sets")
    _repo_option(check)
    check.set_defaults(handler=_cmd_config_check)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler: Handler = args.handler
    try:
        return handler(args)
    except UserError as error:
        print(f"mlops-bot: {error}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("mlops-bot: interrupted", file=sys.stderr)
        return EXIT_FAILED
    except Exception:
        traceback.print_exc()
        print(
            f"mlops-bot: unexpected failure in `{args.command}` (this is a bug, or a backend "
            "failed): the traceback above says where.",
            file=sys.stderr,
        )
        return EXIT_UNEXPECTED
