"""What a scheduled retraining did: one run per schedule and one promotion decision per run."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from mlops_bot.flows.results.gate import GateResult

__all__ = ["PromotionDecision", "RetrainPromotion", "RetrainResult", "ScheduledRun"]

# Every way a challenger's story ends; `offered` is the only one that creates a Deployment.
PromotionDecision = Literal[
    "offered",  # better: a GitHub Deployment awaits the environment's reviewers
    "already_offered",  # better, and a Deployment of this run exists already (a re-run)
    "better",  # better, but the schedule has no auto_promote: deploy it by hand
    "not_better",  # the gate said no (thresholds, or not better than the champion by margin)
    "serving",  # this run's model already serves the environment
    "no_environment",  # the schedule names no environment to compare with
    "not_compared",  # the run did not succeed (or is still running)
]


@dataclass
class ScheduledRun:
    schedule: str
    pipeline: str
    tag: str
    window: str  # when the schedule last fired (UTC, ISO 8601): the window this run is for
    version: str | None = None  # the pinned registry version the tag resolved to
    run_id: str | None = None
    status: str = "failed"  # succeeded, failed, running, skipped
    started: bool = False  # False: the run of this window existed already
    metrics: dict[str, float] = field(default_factory=dict)
    parameters: dict[str, Any] = field(default_factory=dict)
    git_sha: str = ""
    url: str | None = None
    error: str | None = None
    window_key: str = ""  # the window as a compact key (comment markers)

    def to_dict(self) -> dict[str, Any]:
        return {"schedule": self.schedule, "pipeline": self.pipeline, "tag": self.tag,
                "window": self.window, "version": self.version, "run_id": self.run_id,
                "status": self.status, "started": self.started, "metrics": self.metrics,
                "parameters": self.parameters, "git_sha": self.git_sha, "url": self.url,
                "error": self.error}


@dataclass
class RetrainPromotion:
    schedule: str
    pipeline: str
    environment: str | None
    run_id: str | None
    version: str | None
    decision: PromotionDecision
    message: str
    gate: GateResult | None = None
    champion: dict[str, str] | None = None  # model, version, run_id of the model serving
    deployment_id: int | None = None
    sha: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"schedule": self.schedule, "pipeline": self.pipeline,
                "environment": self.environment, "run_id": self.run_id,
                "version": self.version, "decision": self.decision, "message": self.message,
                "champion": self.champion, "deployment_id": self.deployment_id,
                "sha": self.sha, "gate": self.gate.to_dict() if self.gate else None}


@dataclass
class RetrainResult:
    now: str
    runs: list[ScheduledRun] = field(default_factory=list)
    promotions: list[RetrainPromotion] = field(default_factory=list)
    tracking_issues: dict[str, int] = field(default_factory=dict)  # title -> issue number
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(r.status == "failed" for r in self.runs)

    def to_dict(self) -> dict[str, Any]:
        return {"schema_version": 1, "now": self.now, "ok": self.ok,
                "runs": [r.to_dict() for r in self.runs],
                "promotions": [p.to_dict() for p in self.promotions],
                "tracking_issues": self.tracking_issues, "notes": self.notes}
