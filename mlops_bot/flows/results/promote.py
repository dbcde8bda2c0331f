"""What a promotion or a rollback did: a status from a closed list, the lineage, the traffic
steps and the gate's metric table, as reported and as JSON."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from mlops_bot.flows.results.gate import GateResult

__all__ = ["PromotionResult", "PromotionStatus", "RollbackResult", "RollbackStatus",
           "TrafficStep"]

# Every way a promotion can end. The first two are success; the refusals change nothing; the
# failures happened after the endpoint was touched and say what it was left (restored) as.
PromotionStatus = Literal[
    "promoted", "unchanged",
    "no_run", "run_failed", "no_model", "artifact_outside_run", "gate_failed",
    "smoke_failed", "deploy_failed", "concurrent_change",
]
RollbackStatus = Literal["rolled_back", "nothing_deployed", "no_previous", "deploy_failed",
                         "concurrent_change"]


@dataclass(frozen=True)
class TrafficStep:
    """One change made to the endpoint, in order: what, the split after it, the new etag."""

    action: str  # create, deploy, traffic, undeploy, restore, restore-undeploy
    traffic: dict[str, int]
    etag: str
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"action": self.action, "traffic": self.traffic, "etag": self.etag,
                "detail": self.detail}


@dataclass
class PromotionResult:
    environment: str
    pipeline: str
    status: PromotionStatus
    message: str
    git_sha: str | None = None
    run_id: str | None = None
    registry_version: str | None = None
    image: str | None = None
    model_version: str | None = None
    deployed_model_id: str | None = None
    previous: dict[str, str] | None = None  # the champion: deployed_model_id, model_version...
    endpoint: str | None = None
    url: str | None = None
    traffic_before: dict[str, int] = field(default_factory=dict)
    traffic_after: dict[str, int] = field(default_factory=dict)
    gate: GateResult | None = None
    smoke: dict[str, Any] | None = None
    steps: list[TrafficStep] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status in ("promoted", "unchanged")

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": 1, "kind": "promotion", "ok": self.ok, "status": self.status,
            "message": self.message, "environment": self.environment,
            "pipeline": self.pipeline, "git_sha": self.git_sha, "run_id": self.run_id,
            "registry_version": self.registry_version, "image": self.image,
            "model_version": self.model_version, "deployed_model_id": self.deployed_model_id,
            "previous": self.previous, "endpoint": self.endpoint, "url": self.url,
            "traffic_before": self.traffic_before, "traffic_after": self.traffic_after,
            "gate": self.gate.to_dict() if self.gate else None, "smoke": self.smoke,
            "steps": [s.to_dict() for s in self.steps], "notes": self.notes,
        }


@dataclass
class RollbackResult:
    environment: str
    pipeline: str | None
    status: RollbackStatus
    message: str
    from_version: str | None = None
    to_version: str | None = None
    to_lineage: dict[str, str] = field(default_factory=dict)
    endpoint: str | None = None
    url: str | None = None
    traffic_before: dict[str, int] = field(default_factory=dict)
    traffic_after: dict[str, int] = field(default_factory=dict)
    steps: list[TrafficStep] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status == "rolled_back"

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": 1, "kind": "rollback", "ok": self.ok, "status": self.status,
            "message": self.message, "environment": self.environment,
            "pipeline": self.pipeline, "from_version": self.from_version,
            "to_version": self.to_version, "to_lineage": self.to_lineage,
            "endpoint": self.endpoint, "url": self.url, "traffic_before": self.traffic_before,
            "traffic_after": self.traffic_after, "steps": [s.to_dict() for s in self.steps],
            "notes": self.notes,
        }
