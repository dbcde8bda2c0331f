"""`mlops-bot compile`: compile pipelines from the working tree into a folder, nothing published."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import TYPE_CHECKING

from mlops_bot.cli.options import json_option, repo_option
from mlops_bot.console import emit_json, progress, say
from mlops_bot.errors import UsageError

if TYPE_CHECKING:
    from mlops_bot.cli.options import Subcommands

__all__ = ["register", "run_compile"]


def register(commands: Subcommands) -> None:
    compile_ = commands.add_parser(
        "compile", help="compile pipelines into a folder without publishing anything",
        description="Compile pipelines of the checked-out commit with the real KFP compiler, "
        "each in its own environment (one worker process per environment), into "
        "OUT/<pipeline>.yaml. Images stay as written unless --image pins "
        "them.",
    )
    compile_.add_argument("pipelines", nargs="*", metavar="PIPELINE",
                          help="pipelines to compile (default: all)")
    compile_.add_argument("--out", type=Path, default=Path(".mlops/compiled"), metavar="DIR",
                          help="where to write the specs (default: .mlops/compiled)")
    compile_.add_argument("--image", action="append", default=[], metavar="NAME=REFERENCE",
                          help="pin image NAME to REFERENCE (repeatable)")
    repo_option(compile_)
    json_option(compile_)
    compile_.set_defaults(handler=_command)


def _command(args: argparse.Namespace) -> int:
    pins = {}
    for option in args.image:
        name, sep, ref = option.partition("=")
        if not sep or not name or not ref:
            raise UsageError(f"--image {option!r} must look like NAME=REFERENCE")
        pins[name] = ref
    return run_compile(repo=args.repo, names=args.pipelines, out=args.out, pins=pins,
                       as_json=args.json)


def run_compile(repo: Path, names: list[str], out: Path, pins: dict[str, str],
                as_json: bool) -> int:
    from mlops_bot.flows.compile_folder import compile_to_folder

    started = time.monotonic()
    results = compile_to_folder(repo, names, out, pins)
    progress(f"compiled {sum(r['ok'] for r in results)} of {len(results)} pipeline(s) in "
             f"{time.monotonic() - started:.1f}s")
    if as_json:
        emit_json({"pipelines": results})
    else:
        for result in results:
            say(f"{result['pipeline']}: {result.get('path') or 'FAILED: ' + str(result['error'])}")
    return 0 if all(r["ok"] for r in results) else 1
