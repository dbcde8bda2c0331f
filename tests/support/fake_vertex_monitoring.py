"""A fake Vertex AI Model Monitoring (ModelDeploymentMonitoringJob) REST API next to the fake
models and endpoints, for the real `aiplatform_v1` JobServiceClient (REST): one server, as Vertex
AI is one `api_endpoint`.

    with FakeVertexMonitoring(files=tmp_path / "gcs") as vertex:
        ...  # promote through the endpoints; the monitoring job follows
        [job] = vertex.monitoring_jobs()
        vertex.record_run(job["name"], [anomaly("1001", "drift", "alcohol", 0.4, 0.2)])
        vertex.measure(job["name"], "1001", "skew", {"alcohol": 0.1, "colour": 0.2})  # judged
        # against the thresholds the job holds, as Vertex judges them

Routes, as job_service/transports/rest_base.py transcodes them, under /v1/projects/{p}/locations/
{r}/modelDeploymentMonitoringJobs:
    POST   ''                        create -> the job (not an operation)
    GET    ''?filter&pageSize&pageToken   list (filter: labels.key="value" AND ...)
    GET    /{id}                     get
    PATCH  /{id}?updateMask=a,b      -> Operation (the job, when done)
    DELETE /{id}                     -> Operation (Empty)
    POST   /{id}:searchModelDeploymentMonitoringStatsAnomalies   -> the recorded stats
    GET    /ui/projects/{p}/locations/{r}/modelDeploymentMonitoringJobs/{id}/operations/{op}
What the service checks, checked here: a display name and an endpoint that exists; one job per
endpoint; at least one objective config, each for a model deployed on the endpoint; skew
detection only with a training dataset; a sample rate in (0, 1]; an interval of at least an hour;
valid labels; an update mask naming updatable fields only. Faults per route name
(create_monitoring_job, list_monitoring_jobs, get_monitoring_job, update_monitoring_job,
delete_monitoring_job, search_monitoring_anomalies, get_operation): `fail()` / `stall()`.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from tests.support.fake_gcp_http import Reply
from tests.support.fake_vertex_models import (
    _LOC,
    _ROUTES,
    _TYPES,
    PROJECT_NUMBER,
    FakeVertexModels,
    _camel,
    _check_labels,
    _filter,
    _matches,
)

__all__ = ["FakeVertexMonitoring", "anomaly"]

_JOBS = _LOC + r"/modelDeploymentMonitoringJobs"
_JOB = _JOBS + r"/(?P<job>[^/:]+)"
_MONITORING_ROUTES = [
    ("POST", re.compile(_JOBS), "create_monitoring_job"),
    ("GET", re.compile(_JOBS), "list_monitoring_jobs"),
    ("GET", re.compile(_JOB), "get_monitoring_job"),
    ("PATCH", re.compile(_JOB), "update_monitoring_job"),
    ("DELETE", re.compile(_JOB), "delete_monitoring_job"),
    ("POST", re.compile(_JOB + r":searchModelDeploymentMonitoringStatsAnomalies"),
     "search_monitoring_anomalies"),
    ("GET", re.compile(r"/ui/(?P<op>projects/[^/]+/locations/[^/]+/modelDeploymentMonitoringJobs/"
                       r"[^/]+/operations/[^/]+)"), "get_operation"),
]
_OBJECTIVES = {1: "RAW_FEATURE_SKEW", 2: "RAW_FEATURE_DRIFT", 3: "FEATURE_ATTRIBUTION_SKEW",
               4: "FEATURE_ATTRIBUTION_DRIFT"}
# What UpdateModelDeploymentMonitoringJob may change (its documented update_mask paths).
_UPDATABLE = {"displayName", "modelDeploymentMonitoringScheduleConfig",
              "modelMonitoringAlertConfig", "loggingSamplingStrategy", "labels", "logTtl",
              "enableMonitoringPipelineLogs", "modelDeploymentMonitoringObjectiveConfigs"}


def anomaly(deployed_model_id: str, objective: str, feature: str, deviation: float,
            threshold: float, end: str = "2026-01-01T01:00:00Z") -> dict[str, Any]:
    """One ModelMonitoringStatsAnomalies entry: `feature`'s deviation in the run ending `end`."""
    kind = {"skew": "RAW_FEATURE_SKEW", "drift": "RAW_FEATURE_DRIFT"}[objective]
    return {"objective": kind, "deployedModelId": deployed_model_id, "anomalyCount": int(
        deviation > threshold), "featureStats": [{
            "featureDisplayName": feature, "threshold": {"value": threshold},
            "predictionStats": [{"distributionDeviation": deviation,
                                 "anomalyDetectionThreshold": threshold,
                                 "startTime": "2026-01-01T00:00:00Z", "endTime": end}]}]}


class FakeVertexMonitoring(FakeVertexModels):
    routes = _ROUTES + _MONITORING_ROUTES

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.jobs: dict[str, dict[str, Any]] = {}  # job id -> ModelDeploymentMonitoringJob JSON
        self.stats: dict[str, list[dict[str, Any]]] = {}  # job name -> monitoringStats
        self.update_seconds = 0.0

    # -- set-up and assertions -------------------------------------------------------------
    def monitoring_jobs(self) -> list[dict[str, Any]]:
        with self._lock:
            self._advance()
            return copy.deepcopy(list(self.jobs.values()))

    def writes(self) -> int:
        """Requests that change a job (create, update, delete), so far."""
        return sum(self.calls(r) for r in ("create_monitoring_job", "update_monitoring_job",
                                           "delete_monitoring_job"))

    def seed_deployed(self, endpoint: str, *deployed_model_ids: str) -> None:
        """Models deployed to `endpoint` (a resource name), the first with all the traffic,
        without their containers (monitoring never predicts)."""
        with self._lock:
            found = self.endpoints[endpoint.rsplit("/", 1)[-1]]
            found["deployedModels"] = [{"id": i, "model": f"projects/{PROJECT_NUMBER}/locations/"
                                        "europe-west4/models/wine_quality", "modelVersionId": "1"}
                                       for i in deployed_model_ids]
            found["trafficSplit"] = {i: (100 if n == 0 else 0)
                                     for n, i in enumerate(deployed_model_ids)}
            self._changed(found)

    def seed_job(self, endpoint: str, labels: dict[str, str], deployed_model_id: str) -> str:
        """A job made outside mlops-bot (in the console); returns its name."""
        body = {"displayName": "made-by-hand", "endpoint": endpoint, "labels": labels,
                "modelDeploymentMonitoringObjectiveConfigs": [{
                    "deployedModelId": deployed_model_id, "objectiveConfig": {
                        "predictionDriftDetectionConfig": {}}}],
                "modelDeploymentMonitoringScheduleConfig": {"monitorInterval": "3600s"}}
        return str(self.create_monitoring_job({"region": endpoint.split("/")[3]}, {}, body)[
            "name"])

    def measure(self, job_name: str, deployed_model_id: str, objective: str,
                distances: dict[str, float], end: str = "2026-01-01T01:00:00Z") -> None:
        """A monitoring run of the job measured these distances of the deployed model's
        features (Jensen-Shannon for numeric ones, L-infinity for categorical ones: Vertex's own,
        whatever mlops.yaml's statistic), each judged as the service judges it, against the
        job's threshold for the feature, else its default threshold: there is no default per
        kind of feature. A feature with no threshold (or 0) raises no anomaly."""
        detection, thresholds, default = {
            "skew": ("trainingPredictionSkewDetectionConfig", "skewThresholds",
                     "defaultSkewThreshold"),
            "drift": ("predictionDriftDetectionConfig", "driftThresholds",
                      "defaultDriftThreshold")}[objective]
        with self._lock:
            job = next(j for j in self.jobs.values() if j["name"] == job_name)
            [config] = [c["objectiveConfig"] for c in
                        job["modelDeploymentMonitoringObjectiveConfigs"]
                        if c["deployedModelId"] == deployed_model_id]
            settings = config.get(detection) or {}
            given = {name: float((settings.get(thresholds) or {}).get(name, {}).get("value") or
                                 (settings.get(default) or {}).get("value") or 0.0)
                     for name in distances}
        entry = anomaly(deployed_model_id, objective, "", 0.0, 0.0, end)
        entry["featureStats"] = [
            {**anomaly(deployed_model_id, objective, name, distance, given[name], end)[
                "featureStats"][0], "threshold": {"value": given[name]}}
            for name, distance in distances.items()]
        entry["anomalyCount"] = sum(1 for name, distance in distances.items()
                                    if given[name] and distance > given[name])
        self.record_run(job_name, [entry], run_time=end)

    def record_run(self, job_name: str, stats: list[dict[str, Any]],
                   run_time: str = "2026-01-01T01:00:00Z", error: str | None = None) -> None:
        """A monitoring pipeline run of the job ended at `run_time` and found `stats`."""
        with self._lock:
            job = next(j for j in self.jobs.values() if j["name"] == job_name)
            job["state"] = "JOB_STATE_RUNNING"
            job["latestMonitoringPipelineMetadata"] = {
                "runTime": run_time, "status": {"code": 13, "message": error} if error else {}}
            self.stats[job_name] = copy.deepcopy(stats)

    # -- routes ----------------------------------------------------------------------------
    def create_monitoring_job(self, m: dict[str, str], query: dict[str, str], body: Any) -> Any:
        job = copy.deepcopy(body)
        with self._lock:
            self._check_job(job)
            endpoint = job["endpoint"]
            if any(j["endpoint"] == endpoint for j in self.jobs.values()):
                raise Reply(400, f"Endpoint {endpoint} already has a "
                                 "ModelDeploymentMonitoringJob; only one is allowed per endpoint.")
            job_id = str(7000000000000000000 + next(self._ids))
            job.update({"name": f"projects/{PROJECT_NUMBER}/locations/{m['region']}/"
                                f"modelDeploymentMonitoringJobs/{job_id}",
                        "state": "JOB_STATE_PENDING", "scheduleState": "PENDING",
                        "createTime": self._now(), "updateTime": self._now()})
            self.jobs[job_id] = job
            return copy.deepcopy(job)

    def list_monitoring_jobs(self, m: dict[str, str], query: dict[str, str], body: Any) -> Any:
        terms = _filter(query.get("filter", ""))
        with self._lock:
            found = [copy.deepcopy(j) for j in self.jobs.values() if _matches(j, terms)]
        return self._page(query, "modelDeploymentMonitoringJobs", found)

    def get_monitoring_job(self, m: dict[str, str], query: dict[str, str], body: Any) -> Any:
        with self._lock:
            return copy.deepcopy(self._job(m["job"]))

    def update_monitoring_job(self, m: dict[str, str], query: dict[str, str], body: Any) -> Any:
        mask = [_camel(p) for p in (query.get("updateMask") or "").split(",") if p]
        if not mask or set(mask) - _UPDATABLE:
            raise Reply(400, f"update_mask must name updatable ModelDeploymentMonitoringJob "
                             f"fields, got {mask}")
        with self._lock:
            job = self._job(m["job"])
            changed = {**copy.deepcopy(job), **{f: copy.deepcopy(body.get(f)) for f in mask}}
            self._check_job(changed)
            job["state"] = "JOB_STATE_UPDATING"

            def finish() -> dict[str, Any]:
                job.update({f: copy.deepcopy(changed[f]) for f in mask})
                job.update({"state": "JOB_STATE_RUNNING" if "latestMonitoringPipelineMetadata"
                            in job else "JOB_STATE_PENDING", "updateTime": self._now()})
                return {"@type": _TYPES + "ModelDeploymentMonitoringJob", **copy.deepcopy(job)}

            return self._start(f"{job['name']}/operations/{next(self._ids)}",
                               "UpdateModelDeploymentMonitoringJobOperationMetadata",
                               self.update_seconds, finish)

    def delete_monitoring_job(self, m: dict[str, str], query: dict[str, str], body: Any) -> Any:
        with self._lock:
            job = self._job(m["job"])

            def finish() -> dict[str, Any]:
                self.jobs.pop(m["job"], None)
                return {"@type": "type.googleapis.com/google.protobuf.Empty"}

            return self._start(f"{job['name']}/operations/{next(self._ids)}",
                               "DeleteOperationMetadata", self.update_seconds, finish)

    def search_monitoring_anomalies(self, m: dict[str, str], query: dict[str, str],
                                    body: Any) -> Any:
        if not body.get("deployedModelId"):
            raise Reply(400, "deployed_model_id is required.")
        # Enums travel as numbers (`enum-encoding=int`) or names.
        kinds = {_OBJECTIVES.get(o.get("type"), o.get("type"))
                 for o in body.get("objectives") or []}
        if not kinds:
            raise Reply(400, "At least one objective is required.")
        with self._lock:
            job = self._job(m["job"])
            found = [s for s in self.stats.get(job["name"], [])
                     if s["deployedModelId"] == body["deployedModelId"]
                     and s["objective"] in kinds]
        return {"monitoringStats": copy.deepcopy(found)}

    # -- checks ----------------------------------------------------------------------------
    def _job(self, job_id: str) -> dict[str, Any]:
        self._advance()
        if job_id not in self.jobs:
            raise Reply(404, f"ModelDeploymentMonitoringJob {job_id} not found.")
        return self.jobs[job_id]

    def _check_job(self, job: dict[str, Any]) -> None:
        if not job.get("displayName"):
            raise Reply(400, "ModelDeploymentMonitoringJob.display_name is required.")
        found = re.fullmatch(r"projects/[^/]+/locations/[^/]+/endpoints/([^/]+)",
                             str(job.get("endpoint", "")))
        if found is None or found.group(1) not in self.endpoints:
            raise Reply(400, f"Endpoint {job.get('endpoint')!r} does not exist.")
        deployed = {d["id"] for d in self.endpoints[found.group(1)].get("deployedModels") or []}
        configs = job.get("modelDeploymentMonitoringObjectiveConfigs") or []
        if not configs:
            raise Reply(400, "model_deployment_monitoring_objective_configs is required.")
        for config in configs:
            if config.get("deployedModelId") not in deployed:
                raise Reply(400, f"Deployed model {config.get('deployedModelId')} is not "
                                 f"deployed to endpoint {job['endpoint']}.")
            objective = config.get("objectiveConfig") or {}
            if objective.get("trainingPredictionSkewDetectionConfig") and not (
                    objective.get("trainingDataset") or {}).get("gcsSource"):
                raise Reply(400, "Training dataset is required for skew detection.")
        rate = ((job.get("loggingSamplingStrategy") or {}).get("randomSampleConfig") or {}).get(
            "sampleRate")
        if rate is not None and not 0 < float(rate) <= 1:
            raise Reply(400, f"sample_rate must be in (0, 1], got {rate}.")
        interval = (job.get("modelDeploymentMonitoringScheduleConfig") or {}).get(
            "monitorInterval")
        if not interval or float(str(interval).rstrip("s")) < 3600:
            raise Reply(400, f"monitor_interval must be at least 1 hour, got {interval!r}.")
        _check_labels(job.get("labels") or {})
