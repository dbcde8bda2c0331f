"""`mlops-bot deploy <env>`: the promote flow from the command line, reported on the console (or
as one JSON document) and in the GitHub job summary."""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_bot.cli.options import json_option, percentage, repo_option
from mlops_bot.console import emit_json, progress, say

if TYPE_CHECKING:
    from mlops_bot.cli.options import Subcommands

__all__ = ["register", "report_promotion", "run_deploy"]


def register(commands: Subcommands) -> None:
    deploy = commands.add_parser(
        "deploy", help="promote the model a commit's run produced to an environment's endpoint",
        description="Find the run of PIPELINE for the commit (default: HEAD) or --run, gate its "
        "metrics against the environment's thresholds and the model serving now, register the "
        "model, deploy it as a canary, smoke-test it on sample instances, then give it all the "
        "traffic and undeploy the previous model. Any failure restores the traffic split. "
        "Deploying what already serves 100% does nothing.",
    )
    deploy.add_argument("environment", metavar="ENV", help="an environment of mlops.yaml")
    deploy.add_argument("--pipeline", required=True, help="the pipeline whose model to deploy")
    source = deploy.add_mutually_exclusive_group()
    source.add_argument("--sha", metavar="SHA", help="the commit whose run to deploy "
                        "(default: HEAD)")
    source.add_argument("--run", metavar="RUN_ID", help="the run whose model to deploy")
    deploy.add_argument("--traffic", type=percentage, metavar="N",
                        help="canary percentage (default: canary_percent of the environment)")
    repo_option(deploy)
    json_option(deploy)
    deploy.set_defaults(handler=_command)


def _command(args: argparse.Namespace) -> int:
    return run_deploy(repo=args.repo, environment=args.environment, pipeline=args.pipeline,
                      sha=args.sha, run_id=args.run, traffic=args.traffic, as_json=args.json)


def run_deploy(repo: Path, environment: str, pipeline: str, sha: str | None, run_id: str | None,
               traffic: int | None, as_json: bool) -> int:
    from mlops_bot.backends.factory import backends_for
    from mlops_bot.config import load_config
    from mlops_bot.flows.held_lock import locked_for
    from mlops_bot.flows.promote import promote

    config = load_config(repo)
    backends = backends_for(config, repo)
    with locked_for(backends, config, environment, "mlops-bot deploy"):
        result = promote(backends, config, environment, pipeline, repo_root=repo, sha=sha,
                         run_id=run_id, traffic=traffic)
    return report_promotion(result.to_dict(), result.ok, as_json)


def report_promotion(document: dict[str, Any], ok: bool, as_json: bool,
                     environ: Mapping[str, str] = os.environ) -> int:
    """Report a promotion or rollback: job summary, then stdout; the exit code."""
    from mlops_bot.github.context import step_summary_path
    from mlops_bot.report.deploy_report import deploy_markdown, deploy_text

    summary = step_summary_path(environ)
    if summary is not None:
        with summary.open("a") as handle:
            handle.write(deploy_markdown(document) + "\n")
    if as_json:
        emit_json(document)
        if not ok:  # stdout is for programs: say why on stderr too, once
            progress(f"mlops-bot: {document['message']}")
    else:
        say(deploy_text(document))  # it starts with the message: not repeated on stderr
    return 0 if ok else 1
