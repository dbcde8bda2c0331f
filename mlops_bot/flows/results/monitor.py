"""What one `mlops-bot monitor` found: a verdict per feature and objective, and what followed."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["FeatureResult", "MonitorResult", "Verdict"]

Verdict = Literal[
    "drift",  # over its threshold (for ks: a p-value under it)
    "ok",  # within its threshold
    "no_baseline",  # nothing to compare with (drift: no requests in the window before)
    "too_few",  # fewer values than monitoring.min_samples on a side: no verdict
]


@dataclass(frozen=True)
class FeatureResult:
    feature: str
    objective: str  # skew (against the training data) or drift (against the window before)
    kind: str  # numeric or categorical
    statistic: str
    threshold: float
    value: float | None
    verdict: Verdict
    baseline_count: int
    recent_count: int

    @property
    def severity(self) -> float:
        """How far past its threshold (above 1: drifted), for ranking the worst features."""
        if self.value is None:
            return 0.0
        if self.statistic == "ks":
            return self.threshold / max(self.value, 1e-300)
        return self.value / self.threshold

    def to_dict(self) -> dict[str, Any]:
        return {"feature": self.feature, "objective": self.objective, "kind": self.kind,
                "statistic": self.statistic, "threshold": self.threshold, "value": self.value,
                "verdict": self.verdict, "baseline_count": self.baseline_count,
                "recent_count": self.recent_count}


@dataclass
class MonitorResult:
    environment: str
    window: str  # e.g. 1d: how far back requests count as recent
    since: str  # UTC, ISO 8601
    until: str
    model: dict[str, str] = field(default_factory=dict)  # what serves: id, name, version, run_id
    requests: int = 0  # logged instances in the window
    training_rows: int = 0
    features: list[FeatureResult] = field(default_factory=list)
    episode: dict[str, Any] | None = None  # the drift episode under way, as recorded
    retrain: dict[str, Any] | None = None  # the retraining this run started, if any
    issue: int | None = None  # the GitHub issue reported on
    plot: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def drifted(self) -> list[FeatureResult]:
        return [f for f in self.features if f.verdict == "drift"]

    def to_dict(self) -> dict[str, Any]:
        return {"environment": self.environment, "window": self.window, "since": self.since,
                "until": self.until, "model": self.model, "requests": self.requests,
                "training_rows": self.training_rows, "drift": bool(self.drifted),
                "features": [f.to_dict() for f in self.features], "episode": self.episode,
                "retrain": self.retrain, "issue": self.issue, "plot": self.plot,
                "notes": self.notes}
