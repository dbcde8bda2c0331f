"""`mlops-bot endpoints list|show`: what serves where, with traffic and lineage (git SHA ->
image -> registry version -> run -> model version)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_bot.cli.options import json_option, repo_option
from mlops_bot.console import emit_json, progress, say
from mlops_bot.errors import UserError

if TYPE_CHECKING:
    from mlops_bot.backends.factory import Backends
    from mlops_bot.backends.model_types import EndpointRecord
    from mlops_bot.cli.options import Subcommands

__all__ = ["describe_endpoint", "register", "run_endpoints_list", "run_endpoints_show"]


def register(commands: Subcommands) -> None:
    endpoints = commands.add_parser(
        "endpoints", help="what serves where: versions, traffic and lineage")
    endpoints_commands = endpoints.add_subparsers(dest="endpoints_command", metavar="ACTION",
                                                  required=True)
    endpoints_list = endpoints_commands.add_parser(
        "list", help="every environment's deployed models and traffic")
    repo_option(endpoints_list)
    json_option(endpoints_list)
    endpoints_list.set_defaults(handler=_list)
    endpoints_show = endpoints_commands.add_parser(
        "show", help="one environment: git SHA -> image -> registry version -> run -> model")
    endpoints_show.add_argument("environment", metavar="ENV", help="an environment of mlops.yaml")
    repo_option(endpoints_show)
    json_option(endpoints_show)
    endpoints_show.set_defaults(handler=_show)


def _list(args: argparse.Namespace) -> int:
    return run_endpoints_list(repo=args.repo, as_json=args.json)


def _show(args: argparse.Namespace) -> int:
    return run_endpoints_show(repo=args.repo, environment=args.environment, as_json=args.json)


def describe_endpoint(backends: Backends, environment: str, name: str,
                      record: EndpointRecord | None) -> dict[str, Any]:
    """An environment's endpoint as a JSON-ready document, each deployed model with its
    registered version's aliases and metrics, or the `problem` that kept them from being read
    (the endpoint, traffic and lineage are still shown: they are the endpoint's own record)."""
    deployed = []
    for model in record.deployed if record else ():
        try:
            version, problem = backends.models.get(model.model, model.model_version), None
        except UserError as error:  # a damaged version record hides its own details only
            version, problem = None, str(error)
            progress(f"mlops-bot: warning: {environment}: {problem}")
        deployed.append({
            "deployed_model_id": model.deployed_model_id, "model": model.model,
            "model_version": model.model_version,
            "traffic": record.traffic.get(model.deployed_model_id, 0) if record else 0,
            "lineage": {"git_sha": model.lineage.get("git_sha", ""),
                        "image": model.lineage.get("image", ""),
                        "registry_version": model.lineage.get("registry_version", ""),
                        "run_id": model.lineage.get("run_id", ""),
                        "model_version": model.model_version},
            "aliases": list(version.aliases) if version else [],
            "metrics": dict(version.metrics) if version else {},
            "artifact_uri": version.artifact_uri if version else "",
            "problem": problem,
        })
    return {"environment": environment, "endpoint": record.name if record else name,
            "exists": record is not None, "etag": record.etag if record else None,
            "url": record.url if record else None, "deployed": deployed}


def _context(repo: Path) -> tuple[Any, Backends]:
    from mlops_bot.backends.factory import backends_for
    from mlops_bot.config import load_config

    config = load_config(repo)
    return config, backends_for(config, repo)


def run_endpoints_list(repo: Path, as_json: bool) -> int:
    from mlops_bot.report.endpoints_report import endpoints_table

    config, backends = _context(repo)
    documents = []
    for env, settings in config.environments.items():
        try:
            documents.append(describe_endpoint(backends, env, settings.endpoint,
                                               backends.endpoints.get(env)))
        except UserError as error:  # one environment's bad state never hides the others
            progress(f"mlops-bot: warning: skipped environment {env}: {error}")
    if as_json:
        emit_json({"environments": documents})
        return 0
    if not documents:
        say("mlops.yaml defines no environments: add one under environments: to deploy.")
        return 0
    say(endpoints_table(documents))
    return 0


def run_endpoints_show(repo: Path, environment: str, as_json: bool) -> int:
    from mlops_bot.flows.promote_inputs import environment_of
    from mlops_bot.report.endpoints_report import endpoint_text

    config, backends = _context(repo)
    settings = environment_of(config, environment)
    document = describe_endpoint(backends, environment, settings.endpoint,
                                 backends.endpoints.get(environment))
    if as_json:
        emit_json(document)
        return 0
    say(endpoint_text(document))
    return 0
