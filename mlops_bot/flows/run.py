"""Run a registry version by hand (`mlops-bot run`): parameters merged from the version's run.py,
mlops.yaml and the caller; the same version and parameters run once."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlops_bot.backends.factory import Backends
    from mlops_bot.backends.types import RunRecord
    from mlops_bot.config import Config

__all__ = ["run_version"]


def run_version(repo: Path, config: Config, backends: Backends, pipeline: str,
                ref: str | None, cli_parameters: dict[str, Any],
                trigger: str = "manual") -> tuple[RunRecord, str]:
    """Run a registry version; returns the record and `succeeded|failed|existing`."""
    from mlops_bot.backends.types import RunRequest
    from mlops_bot.flows.push import run_id_for, run_labels
    from mlops_bot.repo.git import GitRepo
    from mlops_bot.repo.parameters import merge_parameters, run_py_parameters, spec_inputs

    record = backends.registry.resolve(pipeline, ref)
    manifest = record.manifest
    run_py = f"{manifest.get('source', f'{config.pipelines_dir}/{pipeline}')}/run.py"
    source = GitRepo(repo).show(str(manifest["git_sha"]), run_py)
    settings = config.pipelines.get(pipeline)
    spec = backends.registry.spec(pipeline, record.version)
    types, required = spec_inputs(spec)
    parameters = merge_parameters(
        pipeline, manifest.get("parameters", {}),
        (f"{run_py} at {str(manifest['git_sha'])[:12]}",
         run_py_parameters(source.encode() if source is not None else None, run_py)),
        (f"mlops.yaml pipelines.{pipeline}.parameters", settings.parameters if settings else {}),
        ("--param", cli_parameters), types=types, required=required,
    )
    run_id = run_id_for(pipeline, record.version, parameters, trigger)
    existing = backends.runner.get(run_id)
    if existing is not None and existing.status == "succeeded":
        return existing, "existing"
    run = backends.runner.run(RunRequest(
        run_id=run_id, pipeline=pipeline, version=record.version,
        spec=spec, parameters=parameters,
        git_sha=str(manifest["git_sha"]), trigger=trigger,
        images=dict(manifest.get("images", {})),
        labels=run_labels(config, pipeline, record.version, str(manifest["git_sha"]))))
    return run, run.status

