"""Monitoring follows what serves: after a promotion or rollback moved traffic, the
environment's monitoring (`backends.monitoring`) is pointed at the deployed models, each with
the training Dataset its run recorded; and `mlops-bot monitoring status <env>` reads it back.

A monitoring failure never undoes a deploy that succeeded: it is reported as one sentence among
the promotion's notes (the next deploy or rollback tries again).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from mlops_bot.backends.monitoring_types import MonitoredModel, MonitoringStatus
from mlops_bot.errors import UserError
from mlops_bot.monitoring.samples import TRAINING_NAMES

if TYPE_CHECKING:
    from mlops_bot.backends.factory import Backends
    from mlops_bot.backends.model_types import DeployedModel, EndpointRecord
    from mlops_bot.config import Config

__all__ = ["follow_serving", "monitoring_status", "training_data_of"]


def follow_serving(backends: Backends, config: Config, record: EndpointRecord) -> str:
    """Point the environment's monitoring at `record`'s deployed models; a sentence to note
    ("" when there is nothing to say)."""
    environment = config.environments.get(record.environment)
    monitoring = environment.monitoring if environment is not None else None
    try:
        # Without monitoring only our job's removal is asked: no lineage to read.
        deployed = [_monitored(backends, d) for d in record.deployed
                    if monitoring is not None and record.traffic.get(d.deployed_model_id, 0)]
        if not deployed and monitoring is not None:
            return ""
        change = backends.monitoring.ensure(record, deployed, monitoring)
    except UserError as error:
        return (f"monitoring was not updated: {error}; the deploy stands, and the next deploy "
                "or rollback tries again")
    except Exception as error:  # a service fault or a bug here must not undo the promotion
        return (f"monitoring was not updated ({type(error).__name__}: {error}); the deploy "
                "stands, and the next deploy or rollback tries again")
    return change.message


def _monitored(backends: Backends, deployed: DeployedModel) -> MonitoredModel:
    version = backends.models.get(deployed.model, deployed.model_version)
    run_id = deployed.lineage.get("run_id") or (version.run_id if version else "")
    run = backends.runner.get(run_id) if run_id else None
    training = training_data_of(run.artifacts, run_id, backends.artifact_root) if run else None
    return MonitoredModel(deployed.deployed_model_id, deployed.model, deployed.model_version,
                          training, tuple(version.feature_names) if version else ())


def training_data_of(artifacts: list[dict[str, object]], run_id: str,
                     artifact_root: str) -> str | None:
    """The URI of the run's training Dataset (the names `mlops-bot monitor` reads), if it is
    inside the run's own folder under `artifact_root` (or "" roots, which check nothing)."""
    datasets = {str(a.get("name")): str(a.get("uri")) for a in artifacts
                if a.get("type") == "system.Dataset" and a.get("uri")}
    uri = next((datasets[n] for n in TRAINING_NAMES if n in datasets), None)
    if uri is None or not artifact_root:
        return uri
    root = artifact_root.rstrip("/") + "/"
    inside = uri.startswith(root) and f"/{run_id}/" in "/" + uri.removeprefix(root)
    return uri if inside else None


def monitoring_status(repo: Path, environment: str) -> MonitoringStatus:
    from mlops_bot.backends.factory import backends_for
    from mlops_bot.config import load_config
    from mlops_bot.flows.promote_inputs import environment_of

    config = load_config(repo)
    if environment_of(config, environment).monitoring is None:
        raise UserError(f"environments.{environment}.monitoring is not set in mlops.yaml: add "
                        f"`monitoring: {{}}` under {environment} to watch its model")
    return backends_for(config, repo).monitoring.status(environment)
