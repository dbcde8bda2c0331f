"""A fake Vertex AI Pipelines REST API (pipelineJobs), for the real `aiplatform_v1` client.

    with FakeVertexPipelines() as vertex:
        config = GcpConfig(..., api_endpoints=ApiEndpoints(aiplatform=vertex.endpoint))
        vertex.set_outcome("FAILED", failing_task="train", after_polls=2)
        ...
        [job] = vertex.jobs.values()

Routes, as aiplatform_v1's PipelineServiceClient transcodes them (transports/rest_base.py):
    POST /v1/projects/{p}/locations/{r}/pipelineJobs?pipelineJobId=   create -> PipelineJob
    GET  /v1/projects/{p}/locations/{r}/pipelineJobs/{id}              get
    GET  /v1/projects/{p}/locations/{r}/pipelineJobs?filter=&orderBy=&pageSize=&pageToken=   list
Like the service, names in replies carry the project number, not the id; a job id already used
answers 409 ALREADY_EXISTS; ids and labels break Vertex's rules answer 400; a job with neither
`runtimeConfig.gcsOutputDirectory` nor a `defaultPipelineRoot` in its spec answers 400, as do
parameter values the spec does not declare.

A job is PIPELINE_STATE_PENDING when created, RUNNING from its first get, and ends at get number
`after_polls`: SUCCEEDED gives every task of the spec's root DAG a task detail whose output
artifacts are typed from the spec (a system.Metrics artifact carries `metrics` in its metadata, a
system.Model one a gs:// uri under the job's output directory); FAILED fails `failing_task` with
`task_error` and the tasks after it are CANCELLED, the job `error` naming it as Vertex does;
RUNNING never ends. With `seconds`, a job ends at its first get `seconds` after its creation
instead (a job that takes T seconds, however often it is polled). `set_outcome(...,
pipeline="beta")` sets the outcome of that pipeline's jobs only (its `pipeline` label).

Faults per route name (create_pipeline_job, get_pipeline_job, list_pipeline_jobs):
    vertex.fail("create_pipeline_job", 503)     # answer 503 once, without creating the job
    vertex.stall("create_pipeline_job", 3.0)    # create it, then answer after 3 s (client gave up)
"""

from __future__ import annotations

import copy
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tests.support.fake_gcp_http import JsonApiServer, Reply

__all__ = ["PROJECT_NUMBER", "FakeVertexPipelines", "JobOutcome"]

PROJECT_NUMBER = "123456789012"
_PARENT = r"/v1/projects/(?P<project>[^/]+)/locations/(?P<region>[^/]+)/pipelineJobs"
_ROUTES = [
    ("POST", re.compile(_PARENT), "create_pipeline_job"),
    ("GET", re.compile(_PARENT), "list_pipeline_jobs"),
    ("GET", re.compile(_PARENT + r"/(?P<id>[^/:]+)"), "get_pipeline_job"),
]
_JOB_ID = re.compile(r"^[a-z][-a-z0-9]{0,127}$")
_LABEL_KEY = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
_LABEL_VALUE = re.compile(r"^[a-z0-9_-]{0,63}$")
_FILTER_TERM = re.compile(r'^labels\.(?P<key>[a-z][a-z0-9_-]*)\s*=\s*"(?P<value>[^"]*)"$')


@dataclass
class JobOutcome:
    state: str = "SUCCEEDED"  # SUCCEEDED, FAILED, or RUNNING (never ends)
    after_polls: int = 2
    failing_task: str | None = None  # FAILED: the task that fails (default: the first)
    task_error: str = ("The replica workerpool0-0 exited with a non-zero status of 1. "
                       "Termination reason: Error.")
    metrics: dict[str, float] = field(default_factory=lambda: {"accuracy": 0.91, "f1": 0.88})
    seconds: float | None = None  # ends at the first get this long after creation
    # Output parameter values by name, for the succeeded tasks whose component declares them:
    # Vertex keeps them in the task's execution metadata as `output:<name>`.
    outputs: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Job:
    resource: dict[str, Any]
    outcome: JobOutcome
    request: dict[str, Any]  # the body as the client sent it
    polls: int = 0
    done: bool = False
    created: float = field(default_factory=time.monotonic)


class FakeVertexPipelines(JsonApiServer):
    routes = _ROUTES
    discovery = ("aiplatform.v1",)  # held to Google's API: tests.support.discovery

    def __init__(self) -> None:
        super().__init__()
        self.outcome = JobOutcome()
        self.outcomes: dict[str, JobOutcome] = {}  # by the job's pipeline label
        self.jobs: dict[str, _Job] = {}  # job id -> job, in creation order
        self._clock = threading.Lock()
        self._ticks = 0

    # -- set-up ----------------------------------------------------------------------------
    def set_outcome(self, state: str, after_polls: int = 2, failing_task: str | None = None,
                    metrics: dict[str, float] | None = None, task_error: str | None = None,
                    seconds: float | None = None, pipeline: str | None = None) -> None:
        outcome = JobOutcome(state, after_polls, failing_task, seconds=seconds)
        if metrics is not None:
            outcome.metrics = metrics
        if task_error is not None:
            outcome.task_error = task_error
        if pipeline is not None:
            self.outcomes[pipeline] = outcome
        else:
            self.outcome = outcome

    def sent(self, job_id: str) -> dict[str, Any]:
        """The PipelineJob body the client sent for `job_id`."""
        with self._lock:
            return self.jobs[job_id].request

    # -- routes ----------------------------------------------------------------------------
    def create_pipeline_job(self, m: dict[str, str], query: dict[str, str], body: Any) -> Any:
        spec = body.get("pipelineSpec") or {}
        job_id = query.get("pipelineJobId") or self._generated_id(spec)
        self._check(job_id, body, spec)
        name = f"projects/{PROJECT_NUMBER}/locations/{m['region']}/pipelineJobs/{job_id}"
        now = self._now()
        runtime = dict(body.get("runtimeConfig") or {})
        runtime.setdefault("gcsOutputDirectory", spec.get("defaultPipelineRoot", ""))
        resource = {**copy.deepcopy(body), "name": name, "createTime": now, "updateTime": now,
                    "state": "PIPELINE_STATE_PENDING", "runtimeConfig": runtime}
        with self._lock:
            if job_id in self.jobs:
                raise Reply(409, f"PipelineJob {name} already exists.")
            outcome = self.outcomes.get((body.get("labels") or {}).get("pipeline", ""),
                                        self.outcome)
            self.jobs[job_id] = _Job(resource, outcome, copy.deepcopy(body))
            return copy.deepcopy(resource)

    def get_pipeline_job(self, m: dict[str, str], query: dict[str, str], body: Any) -> Any:
        with self._lock:
            job = self.jobs.get(m["id"])
            if job is None:
                raise Reply(404, f"PipelineJob projects/{PROJECT_NUMBER}/locations/"
                                 f"{m['region']}/pipelineJobs/{m['id']} does not exist.")
            return copy.deepcopy(self._poll(job).resource)

    def list_pipeline_jobs(self, m: dict[str, str], query: dict[str, str], body: Any) -> Any:
        wanted = _parse_filter(query.get("filter", ""))
        order = query.get("orderBy", "create_time desc").replace(" ", "")
        if order not in ("create_time", "create_timedesc"):
            raise Reply(400, f"the fake only orders by create_time, got {order!r}")
        with self._lock:
            jobs = [copy.deepcopy(j.resource) for j in self.jobs.values()
                    if all(j.resource.get("labels", {}).get(k) == v for k, v in wanted)]
        jobs.sort(key=lambda r: r["createTime"], reverse=order.endswith("desc"))
        size = int(query.get("pageSize") or 0) or 100
        start = int(query.get("pageToken") or 0)
        page = jobs[start:start + size]
        reply: dict[str, Any] = {"pipelineJobs": page} if page else {}
        if start + size < len(jobs):
            reply["nextPageToken"] = str(start + size)
        return reply

    # -- checks the service makes ----------------------------------------------------------
    def _check(self, job_id: str, body: dict[str, Any], spec: dict[str, Any]) -> None:
        if not _JOB_ID.match(job_id):
            raise Reply(400, f"Invalid pipeline job id {job_id!r}: it must match "
                             f"{_JOB_ID.pattern}")
        for key, value in (body.get("labels") or {}).items():
            if not _LABEL_KEY.match(key) or not _LABEL_VALUE.match(str(value)):
                raise Reply(400, f"Invalid label {key}={value}: label keys and values can be no "
                                 "longer than 63 characters and contain only lowercase letters, "
                                 "numeric characters, underscores and dashes")
        runtime = body.get("runtimeConfig") or {}
        if not runtime.get("gcsOutputDirectory") and not spec.get("defaultPipelineRoot"):
            raise Reply(400, "Pipeline root is not set: set runtimeConfig.gcsOutputDirectory")
        declared = (spec.get("root", {}).get("inputDefinitions", {}).get("parameters", {}))
        unknown = sorted(set(runtime.get("parameterValues") or {}) - set(declared))
        if unknown:
            raise Reply(400, f"The pipeline parameter(s) {', '.join(unknown)} are not defined "
                             "in the pipeline spec.")

    def _generated_id(self, spec: dict[str, Any]) -> str:
        base = str(spec.get("pipelineInfo", {}).get("name", "pipeline"))
        return f"{base}-{datetime.now(UTC):%Y%m%d%H%M%S%f}"

    def _now(self) -> str:
        # Strictly increasing, so "newest first" is well defined within one test.
        with self._clock:
            self._ticks += 1
            ticks = self._ticks
        moment = datetime.now(UTC).replace(microsecond=0)
        return f"{moment:%Y-%m-%dT%H:%M:%S}.{ticks:06d}Z"

    # -- job life cycle --------------------------------------------------------------------
    def _poll(self, job: _Job) -> _Job:
        if job.done:
            return job
        job.polls += 1
        resource, outcome = job.resource, job.outcome
        if resource["state"] == "PIPELINE_STATE_PENDING":
            resource["state"], resource["startTime"] = "PIPELINE_STATE_RUNNING", self._now()
        if outcome.state == "RUNNING":
            return job
        if (time.monotonic() - job.created < outcome.seconds if outcome.seconds is not None
                else job.polls < outcome.after_polls):
            return job
        job.done = True
        resource["endTime"] = resource["updateTime"] = self._now()
        resource["state"] = f"PIPELINE_STATE_{outcome.state}"
        tasks = _task_names(resource.get("pipelineSpec") or {})
        failing = (outcome.failing_task or (tasks[0] if tasks else "")
                   if outcome.state == "FAILED" else None)
        resource["jobDetail"] = self._detail(resource, tasks, failing, outcome)
        if failing is not None:
            resource["error"] = {"code": 9, "message": "The DAG failed because some tasks "
                                 f"failed. The failed tasks are: [{failing}]."}
        return job

    def _detail(self, resource: dict[str, Any], tasks: list[str], failing: str | None,
                outcome: JobOutcome) -> dict[str, Any]:
        spec = resource.get("pipelineSpec") or {}
        root_name = str(spec.get("pipelineInfo", {}).get("name", "pipeline"))
        ended = resource["endTime"]
        details: list[dict[str, Any]] = [{
            "taskId": "1", "taskName": root_name, "createTime": resource["createTime"],
            "endTime": ended, "state": "FAILED" if failing else "SUCCEEDED"}]
        state = "SUCCEEDED"
        for index, task in enumerate(tasks):
            if task == failing:
                state = "FAILED"
            elif state != "SUCCEEDED":
                state = "CANCELLED"
            detail: dict[str, Any] = {
                "taskId": str(index + 2), "parentTaskId": "1", "taskName": task,
                "createTime": resource["createTime"], "endTime": ended, "state": state,
                "executorDetail": {"containerDetail": {
                    "mainJob": f"projects/{PROJECT_NUMBER}/locations/europe-west4/customJobs/"
                               f"{1000 + index}"}}}
            if state == "FAILED":
                detail["error"] = {"code": 3, "message": outcome.task_error}
            elif state == "SUCCEEDED":
                detail["outputs"] = self._outputs(resource, spec, task, index, outcome)
                detail["execution"] = {
                    "name": f"projects/{PROJECT_NUMBER}/locations/europe-west4/metadataStores/"
                            f"default/executions/{1000 + index}",
                    "metadata": {f"output:{name}": outcome.outputs[name]
                                 for name in _output_parameters(spec, task)
                                 if name in outcome.outputs}}
            details.append(detail)
            if state == "FAILED":
                state = "CANCELLED"
        return {"pipelineContext": {"name": "context/pipeline"},
                "pipelineRunContext": {"name": "context/run"}, "taskDetails": details}

    def _outputs(self, resource: dict[str, Any], spec: dict[str, Any], task: str, index: int,
                 outcome: JobOutcome) -> dict[str, Any]:
        root = resource["runtimeConfig"]["gcsOutputDirectory"].rstrip("/")
        job_id = resource["name"].rsplit("/", 1)[-1]
        outputs: dict[str, Any] = {}
        for number, (name, schema) in enumerate(_output_artifacts(spec, task)):
            uri = f"{root}/{PROJECT_NUMBER}/{job_id}/{task}_{1000 + index}/{name}"
            metadata: dict[str, Any] = {"display_name": name}
            if schema == "system.Metrics":
                metadata.update(outcome.metrics)
            elif schema == "system.Model":
                metadata["framework"] = "sklearn"
            outputs[name] = {"artifacts": [{
                "name": f"projects/{PROJECT_NUMBER}/locations/europe-west4/metadataStores/"
                        f"default/artifacts/{job_id}-{index}-{number}",
                "displayName": name, "uri": uri, "schemaTitle": schema,
                "schemaVersion": "0.0.1", "metadata": metadata, "state": "LIVE"}]}
        return outputs


def _task_names(spec: dict[str, Any]) -> list[str]:
    """The root DAG's tasks in an order that respects dependencies (the order they would run)."""
    tasks: dict[str, Any] = spec.get("root", {}).get("dag", {}).get("tasks", {})
    ordered: list[str] = []
    while len(ordered) < len(tasks):
        ready = sorted(name for name, task in tasks.items() if name not in ordered
                       and all(d in ordered for d in task.get("dependentTasks", [])))
        if not ready:  # a cycle: the compiler never makes one
            ready = sorted(n for n in tasks if n not in ordered)
        ordered.append(ready[0])
    return ordered


def _output_artifacts(spec: dict[str, Any], task: str) -> list[tuple[str, str]]:
    reference = spec["root"]["dag"]["tasks"][task].get("componentRef", {}).get("name", "")
    component = spec.get("components", {}).get(reference, {})
    artifacts = component.get("outputDefinitions", {}).get("artifacts", {})
    return [(name, str(a.get("artifactType", {}).get("schemaTitle", "system.Artifact")))
            for name, a in sorted(artifacts.items())]


def _output_parameters(spec: dict[str, Any], task: str) -> list[str]:
    reference = spec["root"]["dag"]["tasks"][task].get("componentRef", {}).get("name", "")
    component = spec.get("components", {}).get(reference, {})
    return sorted(component.get("outputDefinitions", {}).get("parameters", {}))


def _parse_filter(text: str) -> list[tuple[str, str]]:
    """`labels.k="v" AND labels.k2="v2"`: the only filter shape mlops-bot sends."""
    if not text.strip():
        return []
    terms = []
    for part in re.split(r"\s+AND\s+", text.strip()):
        found = _FILTER_TERM.match(part.strip())
        if found is None:
            raise Reply(400, f"the fake only understands labels.<key>=\"<value>\" terms joined "
                             f"by AND, got {text!r}")
        terms.append((found["key"], found["value"]))
    return terms
