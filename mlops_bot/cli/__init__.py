"""The `mlops-bot` command: one module per command group, each declaring its parser and calling
one flow (mlops_bot/flows/), whose result a renderer (mlops_bot/report/) turns into output.

Flows and their heavy dependencies (kfp, google-cloud, PyGithub, pydantic) are imported inside
the handlers, and a command imports only its own group's module, so `mlops-bot --help` and
`--version` stay fast and a plan in CI pays for the plan alone.

What every command does, so the CLI keeps its promises (exit codes, one JSON document):
- A handler returns 0 (done) or 1 (its report says what failed); it prints its report once,
  with `console.emit_json` under `--json` (exactly once) or `console.say`, progress on stderr.
- Anything else is raised, never printed and returned: `UserError` (exit 1), `UsageError` for a
  malformed option value (exit 2; argparse errors are usage errors too), `StateFileError` and
  `StorageError` from `backends/local/files.py` (a damaged state file; a full or read-only
  disk). `main` prints the sentence once on stderr and, under `--json` when the handler printed
  no document yet, `{"error": {"code": error.code, "message": ...}}`. Ctrl-C exits 130; an
  unexpected exception exits 3 with its traceback (code `internal`).
- A name that matches nothing says so with `options.did_you_mean(name, known)`.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import NoReturn

from mlops_bot import __version__
from mlops_bot.cli.options import Handler
from mlops_bot.console import emit_json, json_documents, progress
from mlops_bot.errors import EXIT_UNEXPECTED, UsageError, UserError

__all__ = ["build_parser", "main"]

# Each command group is the module of its name, `mlops_bot/cli/<command>.py`; in the order
# `mlops-bot --help` lists them.
_GROUPS = ("plan", "pipelines", "push", "compile", "run", "runs", "gc", "registry", "bootstrap",
           "serve", "deploy", "rollback", "endpoints", "monitor", "monitoring", "retrain",
           "schedules", "init", "config", "status")


class _Parser(argparse.ArgumentParser):
    """Raises a usage error instead of exiting, so `--json` can report it as a document too."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        raise UsageError(f"{message} (see `{self.prog} --help`)")


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The whole parser; with `command`, one of the groups, only its parser: a command pays
    for importing its own module, not the twenty others (a plan in CI is a fresh process)."""
    parser = _Parser(
        prog="mlops-bot",
        description="GitOps CI/CD for Kubeflow (KFP v2) pipelines on Vertex AI.",
        epilog="Exit codes: 0 success, 1 something failed or was refused that you can fix (the "
        "message says how), 2 usage error, 3 unexpected failure (a bug: the traceback is on "
        "stderr), 130 interrupted (Ctrl-C), 143 a deploy or rollback stopped by SIGTERM. With "
        "--json, stdout holds exactly one JSON document on every path; a failure is "
        "{\"error\": {\"code\": ..., \"message\": ...}}.",
    )
    parser.add_argument("--version", action="version", version=f"mlops-bot {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for group in (command,) if command in _GROUPS else _GROUPS:
        importlib.import_module(f"mlops_bot.cli.{group}").register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    as_json = "--json" in arguments
    documents = json_documents()
    command = next((a for a in arguments if not a.startswith("-")), "mlops-bot")
    try:
        # an option before the command (`--help`, `--version`) needs every command's parser
        known = command if arguments[:1] == [command] else None
        args = build_parser(known).parse_args(arguments)
        command = args.command
        handler: Handler = args.handler
        return handler(args)
    except UserError as error:
        return _failed(error.code, str(error), error.exit_code, as_json, documents)
    except KeyboardInterrupt as stop:  # Ctrl-C, or SIGTERM where handled (interrupts.py)
        from mlops_bot.interrupts import exit_code, stopped_by

        done = "".join(f"; {note.removeprefix('mlops-bot: ')}"
                       for note in getattr(stop, "__notes__", []))
        return _failed("interrupted", f"`{command}` was interrupted ({stopped_by(stop)}){done}",
                       exit_code(stop), as_json, documents)
    except OSError as error:
        translated = _disk_error(error)
        if translated is not None:
            return _failed(translated.code, str(translated), translated.exit_code, as_json,
                           documents)
        return _unexpected(command, error, as_json, documents)
    except Exception as error:
        return _unexpected(command, error, as_json, documents)


def _failed(code: str, message: str, exit_code: int, as_json: bool, documents: int) -> int:
    """Say why, once: on stderr, and as the one JSON document when none was printed yet."""
    progress(f"mlops-bot: {message}")
    if as_json and json_documents() == documents:
        emit_json({"error": {"code": code, "message": message}})
    return exit_code


def _unexpected(command: str, error: BaseException, as_json: bool, documents: int) -> int:
    import traceback

    traceback.print_exc()
    return _failed("internal", f"unexpected failure in `{command}` (this is a bug, or a backend "
                   f"failed: {type(error).__name__}: {error}): the traceback on stderr says where",
                   EXIT_UNEXPECTED, as_json, documents)


def _disk_error(error: OSError) -> UserError | None:
    """A full or read-only disk met outside the state helpers, as one sentence."""
    from mlops_bot.backends.local.files import storage_error

    return storage_error(error)
