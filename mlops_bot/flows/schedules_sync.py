"""Schedules sync: make the backend's schedules what mlops.yaml declares.

plan (declared, each tag resolved to a pinned version, against what the service holds) -> apply
the changes in order -> report. Only schedules mlops-bot created are ever changed or deleted;
the others are listed as left alone. `--dry-run` prints the plan and changes nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_bot.backends.schedule_types import RemoteSchedule, ScheduleListing, ScheduleSpec
from mlops_bot.console import progress
from mlops_bot.flows.results.schedules_sync import Change, SyncResult

if TYPE_CHECKING:
    from mlops_bot.backends.schedule_types import ScheduleService
    from mlops_bot.backends.types import PipelineRegistry
    from mlops_bot.config import Config

__all__ = ["apply_changes", "desired_schedules", "plan_changes", "sync_schedules"]


def desired_schedules(repo: Path, config: Config,
                      registry: PipelineRegistry) -> list[ScheduleSpec]:
    from mlops_bot.flows.schedules import resolve_tag, schedule_parameters

    desired = []
    for index, schedule in enumerate(config.schedules):
        record = resolve_tag(registry, index, schedule)
        desired.append(ScheduleSpec(
            name=schedule.name, pipeline=schedule.pipeline, tag=schedule.tag,
            version=record.version, git_sha=str(record.manifest.get("git_sha", "")),
            cron=" ".join(schedule.cron.split()), timezone=schedule.timezone,
            parameters=schedule_parameters(repo, config, index, schedule, record),
            paused=schedule.paused, spec=registry.spec(schedule.pipeline, record.version)))
    return desired


def plan_changes(desired: list[ScheduleSpec], listing: ScheduleListing) -> list[Change]:
    current = {s.name: s for s in listing.owned}
    changes = []
    for wanted in desired:
        found = current.pop(wanted.name, None)
        if found is None:
            changes.append(Change("create", wanted.name, _describe(wanted), wanted))
            continue
        differences = _differences(found, wanted)
        if differences:
            changes.append(Change("update", wanted.name, differences, wanted, found))
        if found.paused != wanted.paused:
            changes.append(Change("pause" if wanted.paused else "resume", wanted.name,
                                  ("paused: true" if wanted.paused else "paused: false",),
                                  wanted, found))
        if not differences and found.paused == wanted.paused:
            changes.append(Change("unchanged", wanted.name, (), wanted, found))
    for gone in current.values():  # created by mlops-bot, no longer declared
        changes.append(Change("delete", gone.name, (f"{gone.pipeline}@{gone.version}, "
                                                    f"cron {gone.cron!r} {gone.timezone}",),
                              None, gone))
    return changes


def apply_changes(service: ScheduleService, changes: list[Change]) -> list[str]:
    """Make each change in order; returns the names changed. A failure stops the sync with what
    was done so far in place: running it again finishes the job."""
    applied = []
    for change in changes:
        if change.action == "create" and change.desired is not None:
            service.create(change.desired)
        elif change.action == "update" and change.desired and change.current:
            service.update(change.current, change.desired)
        elif change.action in ("pause", "resume") and change.current is not None:
            service.set_paused(change.current, change.action == "pause")
        elif change.action == "delete" and change.current is not None:
            service.delete(change.current)
        else:
            continue
        progress(f"  {change.action} {change.name}: done")
        applied.append(change.name)
    return applied


def sync_schedules(service: ScheduleService, desired: list[ScheduleSpec],
                   dry_run: bool) -> SyncResult:
    listing = service.listing()
    result = SyncResult(plan_changes(desired, listing), listing.foreign, dry_run)
    if not dry_run:
        result.applied = apply_changes(service, result.changes)
    return result


def _describe(wanted: ScheduleSpec) -> tuple[str, ...]:
    return (f"{wanted.pipeline}:{wanted.tag} pinned at {wanted.version}",
            f"cron {wanted.cron!r} {wanted.timezone}" + (" (paused)" if wanted.paused else ""),
            f"parameters {_params(wanted.parameters)}")


def _differences(found: RemoteSchedule, wanted: ScheduleSpec) -> tuple[str, ...]:
    out = []
    if (found.cron, found.timezone) != (wanted.cron, wanted.timezone):
        out.append(f"cron {found.cron!r} {found.timezone} -> {wanted.cron!r} {wanted.timezone}")
    if found.pipeline != wanted.pipeline or found.version != wanted.version:
        out.append(f"version {found.pipeline}@{found.version} -> {wanted.pipeline}@"
                   f"{wanted.version} ({wanted.tag})")
    if found.parameters != wanted.parameters:
        out.append(f"parameters {_params(found.parameters)} -> {_params(wanted.parameters)}")
    return tuple(out)


def _params(values: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in sorted(values.items())) or "(defaults)"
