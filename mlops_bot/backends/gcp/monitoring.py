"""Vertex AI Model Monitoring: the endpoint's `ModelDeploymentMonitoringJob` (GAPIC
`JobServiceClient`, REST), pointed at what serves after every promotion and rollback.

A location's jobs are listed and those of the endpoint kept: the one labelled `mlops-bot:
managed` is ours and is created, updated (only the fields that differ, by update mask) or
deleted (the environment's `monitoring:` removed); a job without the label is someone else's
and is left alone (Vertex allows one job per endpoint, so ours cannot be made while it is
there). A write that fails without saying whether it was applied (a 5xx, a timeout) is judged
by a re-read, as the endpoints adapter does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from mlops_bot.backends.gcp.api_errors import label_value, message_of
from mlops_bot.backends.gcp.endpoint_lookup import ENVIRONMENT_LABEL
from mlops_bot.backends.gcp.monitoring_job import MANAGED, differing, is_managed, wanted_job
from mlops_bot.backends.gcp.vertex_calls import Unsure, VertexCalls
from mlops_bot.backends.monitoring_types import (
    FeatureAnomaly,
    MonitoredModel,
    MonitoringChange,
    MonitoringService,
    MonitoringStatus,
)
from mlops_bot.errors import UserError

if TYPE_CHECKING:
    from google.cloud.aiplatform_v1 import ModelDeploymentMonitoringJob

    from mlops_bot.backends.gcp.clients import GcpClients
    from mlops_bot.backends.model_types import EndpointRecord
    from mlops_bot.monitoring_config import Monitoring

__all__ = ["VertexMonitoring"]

_OBJECTIVES = {"RAW_FEATURE_SKEW": "skew", "RAW_FEATURE_DRIFT": "drift"}
_HEAD_BYTES = 1024 * 1024  # of the training CSV: its header and enough rows to tell the kinds


class VertexMonitoring:
    def __init__(self, clients: GcpClients, *, request_timeout: float = 60.0,
                 poll_seconds: float = 5.0, operation_timeout: float = 600.0,
                 write_tries: int = 3) -> None:
        self._clients = clients
        self._calls = VertexCalls(clients.config, request_timeout=request_timeout,
                                  poll_seconds=poll_seconds)
        self._operation_timeout, self._write_tries = operation_timeout, write_tries

    # -- MonitoringService -----------------------------------------------------------------
    def ensure(self, endpoint: EndpointRecord, deployed: Sequence[MonitoredModel],
               monitoring: Monitoring | None) -> MonitoringChange:
        env = endpoint.environment
        unread: dict[str, str] = {}  # deployed model id -> why its kinds are not known
        if monitoring is not None:  # which features are categorical: their own thresholds
            deployed = [self._with_kinds(model, unread) for model in deployed]
        for _ in range(self._write_tries):
            jobs = self._jobs_of(endpoint.resource_name)
            ours = next((j for j in jobs if is_managed(j)), None)
            foreign = [j for j in jobs if not is_managed(j)]
            if monitoring is None:
                return self._remove(ours, env) if ours else MonitoringChange("off", "")
            if ours is None and foreign:
                job = foreign[0]
                return MonitoringChange("foreign", (
                    f"the Vertex AI monitoring job {job.display_name} ({job.name}) on the {env} "
                    f"endpoint is not mlops-bot's (no label {MANAGED[0]}: {MANAGED[1]}): it was "
                    f"left alone, so environments.{env}.monitoring is not applied; delete it "
                    "or add the label to let mlops-bot manage it"), job.name)
            wanted, notes = wanted_job(env, endpoint.resource_name, deployed, monitoring,
                                       unread)
            if not wanted.model_deployment_monitoring_objective_configs:
                return MonitoringChange("off", "; ".join(notes))
            try:
                return self._apply(env, ours, wanted, notes)
            except Unsure:
                continue  # read again: the write may have been applied
        raise UserError(f"could not set up the monitoring job of {env} in Vertex AI after "
                        f"{self._write_tries} tries; run the command again")

    def status(self, environment: str) -> MonitoringStatus:
        from google.cloud.aiplatform_v1 import ListModelDeploymentMonitoringJobsRequest

        request = ListModelDeploymentMonitoringJobsRequest(
            parent=self._calls.parent, page_size=100,
            filter=f'labels.{MANAGED[0]}="{MANAGED[1]}" AND '
                   f'labels.{ENVIRONMENT_LABEL}="{label_value(environment)}"')
        found = self._calls.read(f"list the monitoring jobs of {environment}", lambda: list(
            self._clients.jobs.list_model_deployment_monitoring_jobs(
                request=request, timeout=self._calls.timeout)))
        if not found:
            raise UserError(f"{environment} has no Vertex AI monitoring job of mlops-bot: set "
                            f"environments.{environment}.monitoring in mlops.yaml, then the next "
                            f"`mlops-bot deploy {environment}` (or rollback) creates it")
        job = found[0]
        meta = job.latest_monitoring_pipeline_metadata
        status = MonitoringStatus(
            environment, "gcp", job.name, job.state.name, last_run=_when(meta, "run_time"),
            last_error=meta.status.message if "status" in meta else "")
        for objective in job.model_deployment_monitoring_objective_configs:
            status.features.extend(self._anomalies(job, objective.deployed_model_id))
        if not status.last_run:
            status.notes.append("monitoring has not run yet: it runs every "
                                f"{_interval(job)} once requests arrive")
        return status

    # -- reading -----------------------------------------------------------------------------
    def _with_kinds(self, model: MonitoredModel, unread: dict[str, str]) -> MonitoredModel:
        """`model` with its categorical features, told from the first MiB of its training CSV
        as `mlops-bot monitor` tells them; unknown (None, and why in `unread`) when it cannot
        be read."""
        from mlops_bot.monitoring.samples import categorical_columns

        uri = model.training_data or ""
        if model.categorical is not None:
            return model
        if not uri.startswith("gs://"):
            unread[model.deployed_model_id] = "its run recorded no training Dataset in gs://"
            return model
        bucket, _, name = uri.removeprefix("gs://").partition("/")
        try:  # one try: the deploy is done and must not wait on this
            blob = self._clients.storage.bucket(bucket).blob(name)
            head = blob.download_as_bytes(start=0, end=_HEAD_BYTES - 1,
                                          timeout=self._calls.timeout, retry=None)
        except Exception as error:  # any fault: the kinds stay unknown, and the note says why
            unread[model.deployed_model_id] = f"reading {uri} failed: {message_of(error)[:240]}"
            return model
        text = head.decode("utf-8", errors="replace")
        return replace(model, categorical=categorical_columns(text, len(head) < _HEAD_BYTES))

    def _jobs_of(self, endpoint: str) -> list[ModelDeploymentMonitoringJob]:
        from google.cloud.aiplatform_v1 import ListModelDeploymentMonitoringJobsRequest

        request = ListModelDeploymentMonitoringJobsRequest(parent=self._calls.parent,
                                                           page_size=100)
        jobs = self._calls.read("list the Vertex AI monitoring jobs", lambda: list(
            self._clients.jobs.list_model_deployment_monitoring_jobs(
                request=request, timeout=self._calls.timeout)))
        return [j for j in jobs if j.endpoint == endpoint]

    def _anomalies(self, job: ModelDeploymentMonitoringJob,
                   deployed_model_id: str) -> list[FeatureAnomaly]:
        from google.cloud import aiplatform_v1 as v1

        search = v1.SearchModelDeploymentMonitoringStatsAnomaliesRequest
        request = search(model_deployment_monitoring_job=job.name,
                         deployed_model_id=deployed_model_id, objectives=[
                             search.StatsAnomaliesObjective(type_=kind)
                             for kind in _OBJECTIVES])
        stats = self._calls.read(
            f"read the anomalies of {deployed_model_id}", lambda: list(
                self._clients.jobs.search_model_deployment_monitoring_stats_anomalies(
                    request=request, timeout=self._calls.timeout)))
        found = []
        for item in stats:
            objective = _OBJECTIVES.get(item.objective.name, item.objective.name.lower())
            for feature in item.feature_stats:
                latest = max(feature.prediction_stats, default=None,
                             key=lambda s: _when(s, "end_time"))
                threshold = (latest.anomaly_detection_threshold if latest is not None
                             and latest.anomaly_detection_threshold else feature.threshold.value)
                found.append(FeatureAnomaly(
                    feature.feature_display_name, objective,
                    latest.distribution_deviation if latest is not None else None, threshold,
                    deployed_model_id, _when(latest, "end_time") if latest is not None else ""))
        return found

    # -- writing -----------------------------------------------------------------------------
    def _apply(self, env: str, ours: ModelDeploymentMonitoringJob | None,
               wanted: ModelDeploymentMonitoringJob, notes: list[str]) -> MonitoringChange:
        from google.protobuf import field_mask_pb2

        watched = ", ".join(c.deployed_model_id for c in
                            wanted.model_deployment_monitoring_objective_configs)
        tail = "".join(f"; {n}" for n in notes)
        if ours is None:
            doing = f"create the monitoring job of {env}"
            created = self._calls.write(doing, lambda: (
                self._clients.jobs.create_model_deployment_monitoring_job(
                    parent=self._calls.parent, model_deployment_monitoring_job=wanted,
                    timeout=self._calls.timeout)))
            return MonitoringChange("created", f"Vertex AI monitoring job {created.name} "
                                    f"created, watching deployed model {watched}{tail}",
                                    created.name)
        mask = differing(ours, wanted)
        if not mask:
            return MonitoringChange("unchanged", "", ours.name)
        wanted.name = ours.name
        doing = f"update the monitoring job of {env} ({', '.join(mask)})"
        operation = self._calls.write(doing, lambda: (
            self._clients.jobs.update_model_deployment_monitoring_job(
                model_deployment_monitoring_job=wanted,
                update_mask=field_mask_pb2.FieldMask(paths=mask), timeout=self._calls.timeout)))
        self._calls.wait(operation, doing, self._operation_timeout)
        return MonitoringChange("updated", f"Vertex AI monitoring job {ours.name} updated "
                                f"({', '.join(mask)}), watching deployed model {watched}{tail}",
                                ours.name)

    def _remove(self, job: ModelDeploymentMonitoringJob, env: str) -> MonitoringChange:
        doing = f"delete the monitoring job of {env}"
        operation = self._calls.write(doing, lambda: (
            self._clients.jobs.delete_model_deployment_monitoring_job(
                name=job.name, timeout=self._calls.timeout)))
        self._calls.wait(operation, doing, self._operation_timeout)
        return MonitoringChange("deleted", f"Vertex AI monitoring job {job.name} deleted: "
                                f"environments.{env}.monitoring is not set", job.name)


def _when(message: Any, name: str) -> str:
    """A timestamp field as ISO 8601 ("" when unset)."""
    if message is None or name not in message:
        return ""
    return str(getattr(message, name).isoformat()).replace("+00:00", "Z")


def _interval(job: ModelDeploymentMonitoringJob) -> str:
    every = job.model_deployment_monitoring_schedule_config.monitor_interval
    seconds = int(every.total_seconds()) if hasattr(every, "total_seconds") else 0
    return f"{seconds // 3600}h" if seconds else "interval"


if TYPE_CHECKING:
    # mypy checks VertexMonitoring against the MonitoringService Protocol here.
    def _satisfies_the_protocol(service: VertexMonitoring) -> MonitoringService:
        return service
