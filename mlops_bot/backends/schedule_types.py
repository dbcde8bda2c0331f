"""The schedule service Protocol: PipelineJobSchedules kept in step with `schedules:` of mlops.yaml.

Only Vertex AI has one (`mlops_bot.backends.gcp.schedules.VertexSchedules`). On the local backend
nothing fires by itself: the scheduled workflow runs `mlops-bot retrain`, so there is nothing to
sync and `mlops_bot.backends.factory.schedule_service_for` returns None.

A service only ever lists, changes or deletes the schedules mlops-bot created (it marks them);
anyone else's schedules are reported by name and left alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = ["RemoteSchedule", "ScheduleListing", "ScheduleService", "ScheduleSpec"]


@dataclass(frozen=True)
class ScheduleSpec:
    """A schedule as mlops.yaml declares it, its tag resolved to a pinned registry version."""

    name: str
    pipeline: str
    tag: str
    version: str
    git_sha: str
    cron: str  # five fields, read in `timezone`
    timezone: str
    parameters: dict[str, Any]
    paused: bool
    spec: bytes = field(repr=False, compare=False)  # the version's compiled pipeline.yaml


@dataclass(frozen=True)
class RemoteSchedule:
    """A schedule mlops-bot created, as the service holds it now."""

    name: str  # the mlops.yaml schedule name it was created for
    resource_name: str
    pipeline: str
    version: str
    cron: str
    timezone: str
    parameters: dict[str, Any]
    paused: bool
    next_run_time: str | None = None


@dataclass(frozen=True)
class ScheduleListing:
    owned: tuple[RemoteSchedule, ...]
    foreign: tuple[str, ...]  # display names of schedules mlops-bot did not create


class ScheduleService(Protocol):
    def listing(self) -> ScheduleListing:
        """Every schedule of the project and region: those mlops-bot created, and the others."""
        ...

    def create(self, desired: ScheduleSpec) -> RemoteSchedule:
        """Create the schedule (paused when `desired.paused`), marked as mlops-bot's."""
        ...

    def update(self, current: RemoteSchedule, desired: ScheduleSpec) -> RemoteSchedule:
        """Replace the cron, pinned version and parameters of one of mlops-bot's schedules."""
        ...

    def set_paused(self, current: RemoteSchedule, paused: bool) -> None:
        """Pause or resume one of mlops-bot's schedules."""
        ...

    def delete(self, current: RemoteSchedule) -> None:
        """Delete one of mlops-bot's schedules and wait until it is gone."""
        ...
