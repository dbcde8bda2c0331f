"""The `mlops-bot` command: one module per command group, each declaring its parser and calling
one flow (mlops_bot/flows/), whose result a renderer (mlops_bot/report/) turns into output.

Flows and their heavy dependencies (kfp, google-cloud, PyGithub, GitPython, pydantic) are
imported inside the handlers, so `mlops-bot --help` and `--version` stay fast.
"""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Sequence

from mlops_bot import __version__
from mlops_bot.cli import (
    bootstrap,
    compile,
    config,
    deploy,
    endpoints,
    init,
    pipelines,
    plan,
    push,
    registry,
    retrain,
    rollback,
    run,
    runs,
    schedules,
    serve,
)
from mlops_bot.cli.options import Handler
from mlops_bot.errors import EXIT_FAILED, EXIT_UNEXPECTED, UserError

__all__ = ["build_parser", "main"]

# In the order `mlops-bot --help` lists them.
_GROUPS = (plan, pipelines, push, compile, run, runs, registry, bootstrap, serve, deploy,
           rollback, endpoints, retrain, schedules, init, config)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mlops-bot",
        description="GitOps CI/CD for Kubeflow (KFP v2) pipelines on Vertex AI.",
        epilog="Exit codes: 0 success, 1 something failed that you can fix (the message says how), "
        "2 usage error, 3 unexpected failure (a bug: the traceback is on stderr).",
    )
    parser.add_argument("--version", action="version", version=f"mlops-bot {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for group in _GROUPS:
        group.register(commands)
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
