"""Pipeline runs on Vertex AI Pipelines: PipelineJobs created with the GAPIC client (REST).

A run's PipelineJob id is its run id made valid for Vertex, so starting a run is idempotent: a
retry that finds the id taken (409 AlreadyExists) attaches to that job, and a create that failed
in a way that leaves unknown whether Vertex accepted it (5xx, a timeout after the request was
sent) is followed by a get of the id before another create. A run whose job failed or was
cancelled is run again, as the local runner does, under the next attempt id (`<id>-a2`,
`-a3`...); `get` returns the newest attempt.

Every job carries labels for lineage and lookup (`mlops_bot`, `pipeline`, `version`, `git_sha`,
`trigger`, `run_id`; underscores, as in the filter examples Vertex documents), so
`runs(pipeline, git_sha)` is one filtered list call. A request label `enable_caching: "false"`
(or `enable-caching`) turns caching off in every task; without it the compiled setting stands.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import re
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import yaml
from google.api_core import exceptions as gexc
from google.api_core import retry as gretry

from mlops_bot.backends.gcp.api_errors import TRANSIENT as _TRANSIENT
from mlops_bot.backends.gcp.api_errors import Refusal, denied_sentence, label_value, message_of
from mlops_bot.backends.types import RunRecord, RunRequest, metrics_of
from mlops_bot.console import progress as console_progress
from mlops_bot.errors import UserError

if TYPE_CHECKING:
    from google.cloud.aiplatform_v1 import PipelineJob

    from mlops_bot.backends.gcp.clients import GcpClients

__all__ = ["VertexRunner", "job_id_for"]

_MARKER = "mlops_bot"
_MAX_ATTEMPTS = 10  # runs of one run id (each after the previous one failed)
_CREATE_TRIES = 3
_HEARTBEAT = 60.0  # seconds between "still RUNNING" lines
_LIST_LIMIT = 500  # jobs scanned by runs() when the filter cannot be exact
_JOB_ID_LENGTH = 128
_ENDED = {"PIPELINE_STATE_SUCCEEDED", "PIPELINE_STATE_FAILED", "PIPELINE_STATE_CANCELLED"}
_RERUN = {"PIPELINE_STATE_FAILED", "PIPELINE_STATE_CANCELLED"}


class _Loader(yaml.SafeLoader):
    """Safe YAML that keeps dates as text: a Struct holds no datetimes."""


_Loader.add_constructor("tag:yaml.org,2002:timestamp", lambda loader, node: node.value)


def job_id_for(run_id: str, attempt: int = 1) -> str:
    """The PipelineJob id of a run id: `^[a-z][-a-z0-9]{0,127}$`, the same for the same run id.

    An id that had to be changed to fit gets a hash of the original, so two run ids that differ
    only in what was changed (case, `_` against `-`) never share a job.
    """
    slug = re.sub(r"[^a-z0-9-]+", "-", run_id.lower()).strip("-")
    if not slug[:1].isalpha():
        slug = "run-" + slug
    suffix = f"-a{attempt}" if attempt > 1 else ""
    room = _JOB_ID_LENGTH - len(suffix)
    if slug != run_id or len(slug) > room:
        digest = hashlib.sha256(run_id.encode()).hexdigest()[:12]
        slug = f"{slug[:room - 13].rstrip('-')}-{digest}"
    return slug + suffix


class VertexRunner:
    """Runs registry versions as Vertex AI PipelineJobs in `gcp.project` / `gcp.region`."""

    def __init__(self, clients: GcpClients, poll_seconds: float = 10.0,
                 progress: Callable[[str], None] = console_progress, *,
                 request_timeout: float = 60.0, deadline_seconds: float | None = None) -> None:
        self._clients = clients
        self._config = clients.config
        self._poll = poll_seconds
        self._progress = progress
        self._timeout = request_timeout  # per API call
        self._deadline = float(deadline_seconds or clients.config.run_timeout_seconds)
        self._parent = f"projects/{self._config.project}/locations/{self._config.region}"
        self._retry = gretry.Retry(predicate=lambda e: isinstance(e, _TRANSIENT),
                                   initial=min(1.0, poll_seconds), maximum=10.0,
                                   timeout=request_timeout)

    # -- PipelineRunner --------------------------------------------------------------------
    def run(self, request: RunRequest) -> RunRecord:
        started = time.monotonic()
        try:
            job = self._start(request)
            job, overdue = self._wait(job, started)
        except UserError as failure:
            return _failed_to_start(request, str(failure), self.url(job_id_for(request.run_id)))
        record = self._record(job, request.run_id)
        record = dataclasses.replace(record, pipeline=request.pipeline, version=request.version,
                                     git_sha=request.git_sha, trigger=request.trigger,
                                     parameters=request.parameters)
        if overdue:
            record = dataclasses.replace(record, status="failed", error=(
                f"pipeline job {_job_id(job)} did not finish within {self._deadline:g} s "
                f"(gcp.run_timeout_seconds in mlops.yaml); it is still "
                f"{_shown(job)} on Vertex AI: see {record.url}; a new push of this "
                "commit waits for it again, or cancel it there"))
        return record

    def get(self, run_id: str) -> RunRecord | None:
        latest = None
        for attempt in range(1, _MAX_ATTEMPTS + 1):
            job = self._get(job_id_for(run_id, attempt))
            if job is None:
                break
            latest = job
            if _state(job) not in _RERUN:  # only a failed attempt has a successor
                break
        return None if latest is None else self._record(latest, run_id)

    def runs(self, pipeline: str | None = None, git_sha: str | None = None) -> list[RunRecord]:
        from google.cloud.aiplatform_v1 import ListPipelineJobsRequest

        terms = [f'labels.{_MARKER}="true"']
        if pipeline is not None:
            terms.append(f'labels.pipeline="{label_value(pipeline)}"')
        if git_sha is not None and len(git_sha) == 40:
            terms.append(f'labels.git_sha="{git_sha.lower()}"')
        request = ListPipelineJobsRequest(parent=self._parent, filter=" AND ".join(terms),
                                          order_by="create_time desc", page_size=100)
        records = []
        with self._translated("list pipeline jobs", needs="aiplatform.pipelineJobs.list"):
            pages = self._clients.pipelines.list_pipeline_jobs(
                request=request, retry=self._retry, timeout=self._timeout)
            for index, job in enumerate(pages):
                if index >= _LIST_LIMIT:
                    break
                record = self._record(job, job.labels.get("run_id") or _job_id(job))
                if ((pipeline is None or record.pipeline == pipeline)
                        and (git_sha is None or record.git_sha.startswith(git_sha.lower()))):
                    records.append(record)
        return records

    def url(self, job_id: str) -> str:
        c = self._config
        return (f"https://console.cloud.google.com/vertex-ai/locations/{c.region}/pipelines/"
                f"runs/{job_id}?project={c.project}")

    # -- starting a job, exactly once ------------------------------------------------------
    def _start(self, request: RunRequest) -> PipelineJob:
        for attempt in range(1, _MAX_ATTEMPTS + 1):
            job_id = job_id_for(request.run_id, attempt)
            job, created = self._create(request, job_id)
            if created:
                self._say(request, f"pipeline job {job_id} started; {self.url(job_id)}")
                return job
            if _state(job) not in _RERUN:
                self._say(request, f"attaching to pipeline job {job_id} "
                          f"({_shown(job)}), started earlier for this run")
                return job
            self._say(request, f"pipeline job {job_id} ended {_shown(job)}; "
                      f"running it again as {job_id_for(request.run_id, attempt + 1)}")
        raise UserError(f"run {request.run_id} failed {_MAX_ATTEMPTS} times (pipeline jobs "
                        f"{job_id_for(request.run_id)} and its -aN retries): look at "
                        f"{self.url(job_id_for(request.run_id, _MAX_ATTEMPTS))}, fix the "
                        "pipeline and push again")

    def _create(self, request: RunRequest, job_id: str) -> tuple[PipelineJob, bool]:
        """The job `job_id`, and whether this call created it (False: it existed)."""
        spec, last = self._job(request, job_id), None
        for attempt in range(_CREATE_TRIES):
            if attempt:
                time.sleep(self._poll * attempt)
                try:
                    found = self._get(job_id, retry=False)
                except _TRANSIENT as error:
                    last = error
                    continue  # still unknown whether the job exists: don't create another
                if found is not None:
                    self._say(request, f"pipeline job {job_id} was created by the request that "
                              "failed; attaching to it")
                    return found, True
            try:
                with self._translated(f"start pipeline job {job_id}", transient_ok=True,
                                      expected=gexc.Conflict,
                                      needs="aiplatform.pipelineJobs.create"):
                    job = self._clients.pipelines.create_pipeline_job(
                        parent=self._parent, pipeline_job=spec, pipeline_job_id=job_id,
                        timeout=self._timeout)
                return job, True
            except gexc.Conflict:  # REST turns 409 ALREADY_EXISTS into Conflict
                existing = self._get(job_id)
                if existing is not None:
                    return existing, False
                last = None  # deleted in between: create it
            except _TRANSIENT as error:
                last = error
                self._say(request, f"starting pipeline job {job_id} failed ({error}); checking "
                          "whether Vertex AI received it")
        raise UserError(f"could not start pipeline job {job_id} in Vertex AI ({self._parent}) "
                        f"after {_CREATE_TRIES} attempts: {last}; the Vertex AI console may "
                        "show it started anyway; run the push again to attach to it")

    def _job(self, request: RunRequest, job_id: str) -> PipelineJob:
        from google.cloud import aiplatform_v1 as v1

        c = self._config
        caching = self._labels(request).get("enable_caching")
        spec = _spec(request, None if caching is None else caching.lower() != "false")
        root = c.pipeline_root or f"gs://{c.registry_bucket}/runs"
        return v1.PipelineJob(
            display_name=request.pipeline[:128], pipeline_spec=spec,
            labels=self._labels(request),
            runtime_config=v1.PipelineJob.RuntimeConfig(
                gcs_output_directory=root, parameter_values=request.parameters),
            service_account=c.service_account or "", network=c.network or "",
            encryption_spec=(v1.EncryptionSpec(kms_key_name=c.encryption_key)
                             if c.encryption_key else None))

    def _labels(self, request: RunRequest) -> dict[str, str]:
        labels = {_label_key(k): label_value(v) for k, v in request.labels.items()}
        labels.update({_MARKER: "true", "pipeline": label_value(request.pipeline),
                       "version": label_value(request.version),
                       "git_sha": label_value(request.git_sha),
                       "trigger": label_value(request.trigger)})
        base = job_id_for(request.run_id)
        if len(base) <= 63:
            labels["run_id"] = base
        labels.pop("", None)
        return dict(list(labels.items())[:64])  # Vertex takes at most 64 labels

    # -- waiting ---------------------------------------------------------------------------
    def _wait(self, job: PipelineJob, started: float) -> tuple[PipelineJob, bool]:
        """The job once ended, or as it was at the deadline (True: the deadline passed)."""
        deadline, job_id = started + self._deadline, _job_id(job)
        state, said, delay = "", 0.0, min(1.0, self._poll)
        while True:
            now = time.monotonic()
            if _state(job) != state or now - said >= _HEARTBEAT:
                state, said = _state(job), now
                shown = state.removeprefix("PIPELINE_STATE_")
                self._progress(f"  {job.display_name}: {job_id} {shown}{_task_progress(job)} "
                               f"({now - started:.0f} s)")
            if state in _ENDED:
                return job, False
            if now >= deadline:
                return job, True
            # Short polls first, so a cached run that ends at once is seen at once.
            time.sleep(min(delay, max(0.0, deadline - now)))
            delay = min(delay * 2, self._poll)
            with contextlib.suppress(*_TRANSIENT):  # the next poll is the retry
                found = self._get(job_id, retry=False)
                if found is None:
                    raise UserError(f"pipeline job {job_id} disappeared from Vertex AI while "
                                    "mlops-bot waited for it (deleted by hand?)")
                job = found

    # -- reading ---------------------------------------------------------------------------
    def _get(self, job_id: str, retry: bool = True) -> PipelineJob | None:
        name = f"{self._parent}/pipelineJobs/{job_id}"
        with self._translated(f"read pipeline job {job_id}", transient_ok=not retry,
                              expected=gexc.NotFound, needs="aiplatform.pipelineJobs.get"):
            try:
                job: PipelineJob = self._clients.pipelines.get_pipeline_job(
                    name=name, retry=self._retry if retry else None, timeout=self._timeout)
            except gexc.NotFound:
                return None
        return job

    def _record(self, job: PipelineJob, run_id: str) -> RunRecord:
        from google.cloud.aiplatform_v1 import PipelineJob

        data = PipelineJob.to_dict(job, use_integers_for_enums=False)
        labels, job_id = dict(job.labels), _job_id(job)
        artifacts = _artifacts(data.get("job_detail") or {})
        state = _state(job)
        status = ("succeeded" if state == "PIPELINE_STATE_SUCCEEDED" else
                  "failed" if state in _RERUN else "running")
        return RunRecord(
            run_id=run_id, pipeline=job.display_name or labels.get("pipeline", ""),
            version=labels.get("version", ""), git_sha=labels.get("git_sha", ""), status=status,
            parameters=_parameters(data), started_at=_time(job.create_time) or "",
            finished_at=_time(job.end_time), metrics=metrics_of(artifacts), artifacts=artifacts,
            error=_error(job, data) if status == "failed" else None, url=self.url(job_id),
            trigger=labels.get("trigger", "push"))

    # -- errors ----------------------------------------------------------------------------
    def _say(self, request: RunRequest, text: str) -> None:
        self._progress(f"  {request.pipeline}: {text}")

    @contextlib.contextmanager
    def _translated(self, doing: str, transient_ok: bool = False,
                    expected: type[Exception] | None = None,
                    needs: str | None = None) -> Iterator[None]:
        """Google API errors as UserError sentences naming the job and the fix.

        `expected` (NotFound for a get, Conflict for a create) passes through to the caller,
        as do transient errors when `transient_ok` (the caller retries them). `needs`: the
        permission the call needs, for a 403 that does not name it.
        """
        try:
            yield
        except Exception as error:
            if expected is not None and isinstance(error, expected):
                raise
            if isinstance(error, _TRANSIENT) and transient_ok:
                raise
            sentence = self._sentence(doing, error, needs)
            if sentence is None:
                raise
            raise UserError(sentence) from error

    def _sentence(self, doing: str, error: Exception, needs: str | None = None) -> str | None:
        if isinstance(error, _TRANSIENT):
            return f"could not {doing} in Vertex AI ({self._parent}): {error}; try again"
        if isinstance(error, gexc.Forbidden):
            # Starting a run as gcp.service_account also needs actAs on it: Vertex names it.
            return denied_sentence(doing, error, self._config, " in Vertex AI", Refusal(needs))
        if isinstance(error, gexc.Unauthenticated):
            return (f"could not {doing}: not authenticated ({message_of(error)}); on GitHub run "
                    "google-github-actions/auth first, locally run `gcloud auth "
                    "application-default login`")
        if isinstance(error, gexc.GoogleAPICallError):
            return f"could not {doing} in Vertex AI ({self._parent}): {message_of(error)}"
        return None  # not an API error: a bug, shown with its traceback


def _spec(request: RunRequest, caching: bool | None) -> dict[str, Any]:
    """The pipeline spec as a mapping; caching forced on or off in every task when given."""
    documents = [d for d in yaml.load_all(request.spec, Loader=_Loader) if d is not None]
    # The compiler writes the platform config (Kubernetes settings) as a second document,
    # which Vertex does not take.
    spec = documents[0] if documents else None
    if not isinstance(spec, dict) or "root" not in spec:
        raise UserError(f"{request.pipeline}@{request.version} has no KFP pipeline spec in its "
                        "pipeline.yaml; see mlops-bot registry show")
    if caching is not None:
        for component in [spec["root"], *spec.get("components", {}).values()]:
            for task in component.get("dag", {}).get("tasks", {}).values():
                task["cachingOptions"] = {"enableCache": caching}
    return spec


def _artifacts(detail: dict[str, Any]) -> list[dict[str, Any]]:
    """Output artifacts of the executed tasks, like the local runner's (task, name, type...)."""
    tasks = detail.get("task_details") or []
    # Executors first: a DAG task (the root, a condition) repeats its children's outputs.
    tasks = sorted(tasks, key=lambda t: not t.get("executor_detail"))
    found: dict[str, dict[str, Any]] = {}
    for task in tasks:
        for name, listed in sorted((task.get("outputs") or {}).items()):
            for artifact in listed.get("artifacts") or []:
                key = artifact.get("name") or artifact.get("uri") or f"{task['task_name']}/{name}"
                found.setdefault(key, {
                    "task": task.get("task_name", ""), "name": name,
                    "type": artifact.get("schema_title", ""), "uri": artifact.get("uri"),
                    "metadata": dict(artifact.get("metadata") or {})})
    return list(found.values())



def _parameters(data: dict[str, Any]) -> dict[str, Any]:
    """Parameter values as run; JSON numbers made ints again where the spec says integer."""
    values = dict((data.get("runtime_config") or {}).get("parameter_values") or {})
    declared = (((data.get("pipeline_spec") or {}).get("root") or {})
                .get("inputDefinitions", {}).get("parameters", {}))
    for name, value in values.items():
        kind = (declared.get(name) or {}).get("parameterType")
        if kind == "NUMBER_INTEGER" and isinstance(value, float) and value.is_integer():
            values[name] = int(value)
    return values


def _error(job: PipelineJob, data: dict[str, Any]) -> str:
    """Which task failed and why, from the job detail; else the job's own error."""
    tasks = (data.get("job_detail") or {}).get("task_details") or []
    failed = [t for t in tasks if t.get("state") == "FAILED" and int(t.get("parent_task_id") or 0)]
    # A DAG (the root, a condition, a loop) fails with its failed child: name the child.
    failed = [t for t in failed if t.get("executor_detail")] or failed
    lines = [f"task {t.get('task_name')} failed: "
             f"{(t.get('error') or {}).get('message') or 'no error message'}" for t in failed]
    if not lines:
        lines = [f"pipeline job {_job_id(job)} {_shown(job)}: "
                 f"{job.error.message or 'no error message'}"]
    return "; ".join(lines)


def _task_progress(job: PipelineJob) -> str:
    tasks = [t for t in job.job_detail.task_details if t.parent_task_id]
    if not tasks:
        return ""
    done = sum(1 for t in tasks if t.state.name in ("SUCCEEDED", "SKIPPED"))
    return f", {done}/{len(tasks)} tasks done"


def _failed_to_start(request: RunRequest, error: str, url: str) -> RunRecord:
    return RunRecord(run_id=request.run_id, pipeline=request.pipeline, version=request.version,
                     git_sha=request.git_sha, status="failed", parameters=request.parameters,
                     started_at=_now(), error=error, trigger=request.trigger,
                     url=url)


def _state(job: PipelineJob) -> str:
    return str(job.state.name)


def _shown(job: PipelineJob) -> str:
    """The state as a word for sentences: `running`, `failed`..."""
    return _state(job).removeprefix("PIPELINE_STATE_").lower()


def _job_id(job: PipelineJob) -> str:
    return str(job.name).rsplit("/", 1)[-1]


def _time(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat(timespec="seconds") if moment else None


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _label_key(key: str) -> str:
    """Label keys: like values with `_` for `-` (filters read them), starting with a letter."""
    value = label_value(key).replace("-", "_")
    return ("k-" + value)[:63] if value and not value[0].isalpha() else value
