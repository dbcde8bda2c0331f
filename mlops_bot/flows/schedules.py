"""Schedules of mlops.yaml: their windows and what each one runs.

A schedule's window is the most recent time its cron fired, in its time zone, at or before now.
Everything a scheduled retraining does is keyed by that window, so any number of workflow runs
inside one window (a retry, a re-run, an hourly workflow for a weekly schedule) start one run.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_bot.cron import CronError, latest_fire, next_fire
from mlops_bot.errors import UsageError, UserError

if TYPE_CHECKING:
    from mlops_bot.backends.types import PipelineRegistry, VersionRecord
    from mlops_bot.config import Config, Schedule

__all__ = ["Window", "parse_now", "resolve_tag", "schedule_parameters", "selected_schedules",
           "window_of"]


@dataclass(frozen=True)
class Window:
    start: datetime  # UTC
    next: datetime  # UTC: when the next window starts

    @property
    def key(self) -> str:
        """The window as text that is a valid Vertex label value and run-id part."""
        return self.start.strftime("%Y%m%dt%H%Mz")

    def trigger(self, schedule: str) -> str:
        # At most 63 characters of a-z, 0-9 and '-': a label value on Vertex, so the trigger a
        # run record reads back is the one written (the window first: it is never cut).
        return f"sched-{self.key}-{schedule}"[:63]


def parse_now(text: str | None) -> datetime:
    """`--now` (ISO 8601; UTC when it names no zone), else the current time."""
    if text is None:
        return datetime.now(UTC)
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(f"--now {text!r} is not an ISO 8601 time: use e.g. "
                        "2026-03-02T03:05:00Z") from None
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)


def window_of(schedule: Schedule, index: int, now: datetime) -> Window:
    try:
        return Window(latest_fire(schedule.cron, schedule.timezone, now),
                      next_fire(schedule.cron, schedule.timezone, now))
    except CronError as error:
        raise UserError(f"mlops.yaml schedules[{index}] ({schedule.name}): {error}") from None


def selected_schedules(config: Config, pipeline: str | None) -> list[tuple[int, Schedule]]:
    """The schedules to retrain now: every one, or the named pipeline's."""
    chosen = [(i, s) for i, s in enumerate(config.schedules)
              if pipeline is None or s.pipeline == pipeline]
    if pipeline is not None and not chosen:
        known = sorted({s.pipeline for s in config.schedules})
        raise UserError(f"no schedule in mlops.yaml runs pipeline {pipeline!r} (scheduled "
                        f"pipelines: {', '.join(known) or 'none'}): add one under schedules:")
    return chosen


def schedule_parameters(repo: Path, config: Config, index: int, schedule: Schedule,
                        record: VersionRecord) -> dict[str, Any]:
    """The parameters of a scheduled run of `record`: the spec's defaults, then run.py at the
    version's commit, then mlops.yaml pipelines.<p>.parameters, then the schedule's own."""
    from mlops_bot.repo.git import GitRepo
    from mlops_bot.repo.parameters import merge_parameters, run_py_parameters

    manifest, pipeline = record.manifest, schedule.pipeline
    sha = str(manifest.get("git_sha", ""))
    git = GitRepo(repo)
    if git.resolve(sha) is None:
        raise UserError(f"{pipeline}@{record.version} was built from commit {sha[:12]}, which "
                        f"is not in the clone at {repo}: check out with fetch-depth: 0")
    run_py = f"{manifest.get('source', f'{config.pipelines_dir}/{pipeline}')}/run.py"
    source = git.show(sha, run_py)
    settings = config.pipelines.get(pipeline)
    return merge_parameters(
        pipeline, manifest.get("parameters", {}),
        (f"{run_py} at {sha[:12]}",
         run_py_parameters(source.encode() if source is not None else None, run_py)),
        (f"mlops.yaml pipelines.{pipeline}.parameters", settings.parameters if settings else {}),
        (f"mlops.yaml schedules[{index}].parameters ({schedule.name})", schedule.parameters),
    )


def resolve_tag(registry: PipelineRegistry, index: int, schedule: Schedule) -> VersionRecord:
    try:
        return registry.resolve(schedule.pipeline, schedule.tag)
    except UserError as error:
        raise UserError(f"mlops.yaml schedules[{index}] ({schedule.name}) runs "
                        f"{schedule.pipeline}:{schedule.tag}, which cannot be resolved: {error}"
                        ) from None
