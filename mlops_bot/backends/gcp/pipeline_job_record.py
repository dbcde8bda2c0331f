"""What a Vertex AI PipelineJob says about a run, as the RunRecord every runner returns.

The state, the parameters as run, the executed tasks' output artifacts and the final tasks'
float outputs (and the metrics among them, as the local runner reports them) and, for a failed
job, which task failed and why.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from mlops_bot.backends.run_metrics import final_tasks, float_outputs
from mlops_bot.backends.types import RunRecord, RunRequest, metrics_of

if TYPE_CHECKING:
    from google.cloud.aiplatform_v1 import PipelineJob

__all__ = ["ENDED", "RERUN", "failed_to_start", "job_id_of", "job_state", "run_record",
           "state_word", "task_progress"]

ENDED = {"PIPELINE_STATE_SUCCEEDED", "PIPELINE_STATE_FAILED", "PIPELINE_STATE_CANCELLED"}
RERUN = {"PIPELINE_STATE_FAILED", "PIPELINE_STATE_CANCELLED"}  # a run ended so runs again


def run_record(job: PipelineJob, run_id: str, url: str) -> RunRecord:
    """The record of run `run_id` as `job` shows it; `url`: the job in the console."""
    from google.cloud.aiplatform_v1 import PipelineJob

    data = PipelineJob.to_dict(job, use_integers_for_enums=False)
    labels = dict(job.labels)
    artifacts = _artifacts(data.get("job_detail") or {})
    artifacts += _float_outputs(data)
    state = job_state(job)
    status = ("succeeded" if state == "PIPELINE_STATE_SUCCEEDED" else
              "failed" if state in RERUN else "running")
    return RunRecord(
        run_id=run_id, pipeline=job.display_name or labels.get("pipeline", ""),
        version=labels.get("version", ""), git_sha=labels.get("git_sha", ""), status=status,
        parameters=_parameters(data), started_at=_time(job.create_time) or "",
        finished_at=_time(job.end_time), metrics=metrics_of(artifacts), artifacts=artifacts,
        error=_error(job, data) if status == "failed" else None, url=url,
        trigger=labels.get("trigger", "push"))


def failed_to_start(request: RunRequest, error: str, url: str) -> RunRecord:
    return RunRecord(run_id=request.run_id, pipeline=request.pipeline, version=request.version,
                     git_sha=request.git_sha, status="failed", parameters=request.parameters,
                     started_at=_now(), error=error, trigger=request.trigger,
                     url=url)


def task_progress(job: PipelineJob) -> str:
    tasks = [t for t in job.job_detail.task_details if t.parent_task_id]
    if not tasks:
        return ""
    done = sum(1 for t in tasks if t.state.name in ("SUCCEEDED", "SKIPPED"))
    return f", {done}/{len(tasks)} tasks done"


def job_state(job: PipelineJob) -> str:
    return str(job.state.name)


def state_word(job: PipelineJob) -> str:
    """The state as a word for sentences: `running`, `failed`..."""
    return job_state(job).removeprefix("PIPELINE_STATE_").lower()


def job_id_of(job: PipelineJob) -> str:
    return str(job.name).rsplit("/", 1)[-1]


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


def _float_outputs(data: dict[str, Any]) -> list[dict[str, Any]]:
    """The float outputs of the pipeline's final tasks: Vertex AI keeps a task's output
    parameters in its execution's metadata as `output:<name>`."""
    spec = data.get("pipeline_spec") or {}
    final = final_tasks(spec)
    tasks = ((spec.get("root") or {}).get("dag") or {}).get("tasks") or {}
    found = []
    for task in (data.get("job_detail") or {}).get("task_details") or []:
        name = task.get("task_name", "")
        if name not in final or not task.get("executor_detail"):
            continue
        metadata = (task.get("execution") or {}).get("metadata") or {}
        values = {key.removeprefix("output:"): value for key, value in metadata.items()
                  if key.startswith("output:")}
        reference = ((tasks.get(name) or {}).get("componentRef") or {}).get("name", "")
        found += float_outputs(name, values, (spec.get("components") or {}).get(reference) or {})
    return found


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
        lines = [f"pipeline job {job_id_of(job)} {state_word(job)}: "
                 f"{job.error.message or 'no error message'}"]
    return "; ".join(lines)


def _time(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat(timespec="seconds") if moment else None


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
