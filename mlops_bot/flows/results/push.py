"""What a push did: the plan, builds, versions and runs, as reported and as JSON."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mlops_bot.backends.types import BuildResult
from mlops_bot.repo.plan import Plan

__all__ = ["PushResult", "RunOutcome", "VersionOutcome"]


@dataclass
class VersionOutcome:
    pipeline: str
    version: str | None
    status: str  # published, unchanged or failed
    tags: list[str] = field(default_factory=list)
    error: str | None = None


@dataclass
class RunOutcome:
    pipeline: str
    version: str
    run_id: str
    status: str  # succeeded, failed or existing
    metrics: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    url: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    produced_by: str | None = None  # the commit whose push ran it (an earlier one for existing)


@dataclass
class PushResult:
    plan: Plan
    branch: str | None
    builds: list[BuildResult] = field(default_factory=list)
    versions: list[VersionOutcome] = field(default_factory=list)
    runs: list[RunOutcome] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        statuses = [b.status for b in self.builds] + [v.status for v in self.versions]
        return self.plan.ok and "failed" not in statuses + [r.status for r in self.runs]

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": 1,
            "ok": self.ok,
            "branch": self.branch,
            "plan": self.plan.to_dict(),
            "builds": [{"image": b.image, "content_hash": b.content_hash, "status": b.status,
                        "ref": b.ref, "error": b.error} for b in self.builds],
            "versions": [vars(v) for v in self.versions],
            "runs": [vars(r) for r in self.runs],
            "notes": self.notes,
        }
