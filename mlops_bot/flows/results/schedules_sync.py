"""What a schedules sync plans and does (flows/schedules_sync.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from mlops_bot.backends.schedule_types import RemoteSchedule, ScheduleSpec

__all__ = ["Action", "Change", "SyncResult"]

Action = Literal["create", "update", "pause", "resume", "delete", "unchanged"]


@dataclass(frozen=True)
class Change:
    action: Action
    name: str
    details: tuple[str, ...] = ()
    desired: ScheduleSpec | None = field(default=None, repr=False)
    current: RemoteSchedule | None = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {"action": self.action, "name": self.name, "details": list(self.details)}


@dataclass
class SyncResult:
    changes: list[Change]
    foreign: tuple[str, ...]
    dry_run: bool
    applied: list[str] = field(default_factory=list)  # names whose change was made

    def to_dict(self) -> dict[str, Any]:
        return {"schema_version": 1, "dry_run": self.dry_run,
                "changes": [c.to_dict() for c in self.changes], "applied": self.applied,
                "left_alone": list(self.foreign)}
