"""Pipeline runs on Vertex AI Pipelines: PipelineJobs created with the GAPIC client (REST).

A run's PipelineJob id is its run id made valid for Vertex, so starting a run is idempotent: a
retry that finds the id taken (409 AlreadyExists) attaches to that job, and a create that failed
in a way that leaves unknown whether Vertex accepted it (5xx, a timeout after the request was
sent) is followed by a get of the id before another create. A run whose job failed or was
cancelled is run again, as the local runner does, under the next attempt id (`<id>-a2`,
`-a3`...); `get` returns the newest attempt.

The job's id, labels and body are built in `pipeline_job_spec`; its labels make
`runs(pipeline, git_sha)` one filtered list call. `pipeline_job_record` reads a job back as a
RunRecord. This module starts jobs exactly once, waits for them and translates API errors.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from google.api_core import exceptions as gexc
from google.api_core import retry as gretry

from mlops_bot.backends.gcp.api_errors import TRANSIENT as _TRANSIENT
from mlops_bot.backends.gcp.api_errors import Refusal, denied_sentence, label_value, message_of
from mlops_bot.backends.gcp.pipeline_job_record import (
    ENDED,
    RERUN,
    failed_to_start,
    job_id_of,
    job_state,
    run_record,
    state_word,
    task_progress,
)
from mlops_bot.backends.gcp.pipeline_job_spec import MARKER, job_id_for, pipeline_job
from mlops_bot.backends.types import RunRecord, RunRequest
from mlops_bot.console import progress as console_progress
from mlops_bot.errors import UserError

if TYPE_CHECKING:
    from google.cloud.aiplatform_v1 import PipelineJob

    from mlops_bot.backends.gcp.clients import GcpClients

__all__ = ["VertexRunner"]

_MAX_ATTEMPTS = 10  # runs of one run id (each after the previous one failed)
_CREATE_TRIES = 3
_HEARTBEAT = 60.0  # seconds between "still RUNNING" lines
_LIST_LIMIT = 500  # jobs scanned by runs() when the filter cannot be exact


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
        return self._waited(request, lambda: self._start(request), started + self._deadline,
                            f"within {self._deadline:g} s (gcp.run_timeout_seconds")

    def start(self, request: RunRequest) -> RunRecord:
        try:
            job = self._start(request)
        except UserError as failure:
            return failed_to_start(request, str(failure), self.url(job_id_for(request.run_id)))
        return self._of_request(self._record(job, request.run_id), request)

    def wait(self, request: RunRequest, deadline: float) -> RunRecord:
        return self._waited(request, lambda: self._latest(request.run_id), deadline,
                            "within the deadline of all the runs (run.timeout_seconds")

    def _waited(self, request: RunRequest, job_of: Callable[[], PipelineJob],
                deadline: float, setting: str) -> RunRecord:
        """The record of the job `job_of` finds, once it ended or at `deadline`."""
        job = None
        try:
            job = job_of()
            job, overdue = self._wait(job, time.monotonic(), deadline)
        except UserError as failure:
            url = self.url(job_id_of(job) if job is not None else job_id_for(request.run_id))
            return failed_to_start(request, str(failure), url)
        record = self._of_request(self._record(job, request.run_id), request)
        if overdue:
            record = dataclasses.replace(record, status="failed", error=(
                f"pipeline job {job_id_of(job)} did not finish {setting} in mlops.yaml); "
                f"it is still {state_word(job)} on Vertex AI: see {record.url}; "
                "a new push of this commit waits for it again, or cancel it there"))
        return record

    @staticmethod
    def _of_request(record: RunRecord, request: RunRequest) -> RunRecord:
        return dataclasses.replace(record, pipeline=request.pipeline, version=request.version,
                                   git_sha=request.git_sha, trigger=request.trigger,
                                   parameters=request.parameters)

    def get(self, run_id: str) -> RunRecord | None:
        latest = self._newest(run_id)
        return None if latest is None else self._record(latest, run_id)

    def _newest(self, run_id: str) -> PipelineJob | None:
        """The newest attempt's job of a run id (only a failed attempt has a successor)."""
        latest = None
        for attempt in range(1, _MAX_ATTEMPTS + 1):
            job = self._get(job_id_for(run_id, attempt))
            if job is None:
                break
            latest = job
            if job_state(job) not in RERUN:
                break
        return latest

    def _latest(self, run_id: str) -> PipelineJob:
        job = self._newest(run_id)
        if job is None:
            raise UserError(f"pipeline job {job_id_for(run_id)} disappeared from Vertex AI "
                            "while mlops-bot waited for it (deleted by hand?)")
        return job

    def runs(self, pipeline: str | None = None, git_sha: str | None = None) -> list[RunRecord]:
        from google.cloud.aiplatform_v1 import ListPipelineJobsRequest

        terms = [f'labels.{MARKER}="true"']
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
                record = self._record(job, job.labels.get("run_id") or job_id_of(job))
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
            if job_state(job) not in RERUN:
                self._say(request, f"attaching to pipeline job {job_id} "
                          f"({state_word(job)}), started earlier for this run")
                return job
            self._say(request, f"pipeline job {job_id} ended {state_word(job)}; "
                      f"running it again as {job_id_for(request.run_id, attempt + 1)}")
        raise UserError(f"run {request.run_id} failed {_MAX_ATTEMPTS} times (pipeline jobs "
                        f"{job_id_for(request.run_id)} and its -aN retries): look at "
                        f"{self.url(job_id_for(request.run_id, _MAX_ATTEMPTS))}, fix the "
                        "pipeline and push again")

    def _create(self, request: RunRequest, job_id: str) -> tuple[PipelineJob, bool]:
        """The job `job_id`, and whether this call created it (False: it existed)."""
        spec, last = pipeline_job(self._config, request), None
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

    # -- waiting ---------------------------------------------------------------------------
    def _wait(self, job: PipelineJob, started: float,
              deadline: float) -> tuple[PipelineJob, bool]:
        """The job once ended, or as it was at the deadline (True: the deadline passed)."""
        job_id = job_id_of(job)
        state, said, delay = "", 0.0, min(1.0, self._poll)
        while True:
            now = time.monotonic()
            if job_state(job) != state or now - said >= _HEARTBEAT:
                state, said = job_state(job), now
                shown = state.removeprefix("PIPELINE_STATE_")
                self._progress(f"  {job.display_name}: {job_id} {shown}{task_progress(job)} "
                               f"({now - started:.0f} s)")
            if state in ENDED:
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
        return run_record(job, run_id, self.url(job_id_of(job)))

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
