"""`mlops-bot run` (a registry version, by hand) and `mlops-bot runs list`."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_bot.console import emit_json, say
from mlops_bot.errors import UserError

if TYPE_CHECKING:
    from mlops_bot.backends.factory import Backends
    from mlops_bot.backends.types import RunRecord
    from mlops_bot.config import Config

__all__ = ["run_pipeline", "run_runs_list", "run_version"]


def run_version(repo: Path, config: Config, backends: Backends, pipeline: str,
                ref: str | None, cli_parameters: dict[str, Any],
                trigger: str = "manual") -> tuple[RunRecord, str]:
    """Run a registry version; returns the record and `succeeded|failed|existing`."""
    from mlops_bot.backends.types import RunRequest
    from mlops_bot.flows.push import run_id_for, run_labels
    from mlops_bot.repo.git import GitRepo
    from mlops_bot.repo.parameters import merge_parameters, run_py_parameters

    record = backends.registry.resolve(pipeline, ref)
    manifest = record.manifest
    run_py = f"{manifest.get('source', f'{config.pipelines_dir}/{pipeline}')}/run.py"
    source = GitRepo(repo).show(str(manifest["git_sha"]), run_py)
    settings = config.pipelines.get(pipeline)
    parameters = merge_parameters(
        pipeline, manifest.get("parameters", {}),
        (f"{run_py} at {str(manifest['git_sha'])[:12]}",
         run_py_parameters(source.encode() if source is not None else None, run_py)),
        (f"mlops.yaml pipelines.{pipeline}.parameters", settings.parameters if settings else {}),
        ("--param", cli_parameters),
    )
    run_id = run_id_for(pipeline, record.version, parameters, trigger)
    existing = backends.runner.get(run_id)
    if existing is not None and existing.status == "succeeded":
        return existing, "existing"
    run = backends.runner.run(RunRequest(
        run_id=run_id, pipeline=pipeline, version=record.version,
        spec=backends.registry.spec(pipeline, record.version), parameters=parameters,
        git_sha=str(manifest["git_sha"]), trigger=trigger,
        images=dict(manifest.get("images", {})),
        labels=run_labels(config, pipeline, record.version, str(manifest["git_sha"]))))
    return run, run.status


def run_pipeline(repo: Path, pipeline: str, ref: str | None, cli_parameters: dict[str, Any],
                 as_json: bool) -> int:
    """The `mlops-bot run` command."""
    from mlops_bot.backends.factory import backends_for
    from mlops_bot.config import load_config

    config = load_config(repo)
    run, status = run_version(repo, config, backends_for(config, repo), pipeline, ref,
                              cli_parameters)
    if as_json:
        emit_json({**dataclasses.asdict(run), "status": status})
    else:
        metrics = ", ".join(f"{k}={v:.4g}" for k, v in sorted(run.metrics.items())) or "none"
        say(f"run {run.run_id} of {pipeline}@{run.version}: {status} (metrics: {metrics})")
        if run.error:
            say(run.error)
    return 0 if run.status == "succeeded" else 1


def run_runs_list(repo: Path, pipeline: str | None, sha: str | None, as_json: bool) -> int:
    from mlops_bot.backends.factory import backends_for
    from mlops_bot.config import load_config
    from mlops_bot.report.tables import table

    if sha is not None and len(sha) < 7:
        raise UserError(f"--sha {sha!r} is too short: give at least 7 hex digits")
    runs = backends_for(load_config(repo), repo).runner.runs(pipeline, sha)
    if as_json:
        emit_json({"runs": [dataclasses.asdict(r) for r in runs]})
        return 0
    if not runs:
        say("No runs yet: mlops-bot push runs the pipelines it publishes.")
        return 0
    say(table(["RUN", "PIPELINE", "VERSION", "GIT SHA", "STATUS", "STARTED", "METRICS"], [
        [r.run_id, r.pipeline, r.version, r.git_sha[:12], r.status, r.started_at,
         ", ".join(f"{k}={v:.4g}" for k, v in sorted(r.metrics.items())) or "-"] for r in runs]))
    return 0
