"""What `mlops-bot gc` removed (or, with --dry-run, would remove) and kept, and why."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["GcResult", "Item"]


@dataclass(frozen=True)
class Item:
    kind: str  # run, environment, image or temporary
    name: str  # a path under the state folder, an image tag or a temporary path
    bytes: int
    why: str  # why it goes, or why it stays


@dataclass
class GcResult:
    state_dir: str
    dry_run: bool
    removed: list[Item] = field(default_factory=list)
    kept: list[Item] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def freed(self) -> int:
        return sum(item.bytes for item in self.removed)

    def counts(self, items: Iterable[Item]) -> dict[str, int]:
        found: dict[str, int] = {}
        for item in items:
            found[item.kind] = found.get(item.kind, 0) + 1
        return found

    def to_dict(self) -> dict[str, Any]:
        return {"schema_version": 1, "state_dir": self.state_dir, "dry_run": self.dry_run,
                "freed_bytes": self.freed, "removed_counts": self.counts(self.removed),
                "kept_counts": self.counts(self.kept),
                "removed": [asdict(i) for i in self.removed],
                "kept": [asdict(i) for i in self.kept], "notes": self.notes}
