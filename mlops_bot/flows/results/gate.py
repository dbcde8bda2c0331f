"""The metric gate's verdict (flows/gate.py): one row per metric and a sentence per failure."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["GateResult", "MetricRow"]


@dataclass(frozen=True)
class MetricRow:
    name: str
    candidate: float | None
    champion: float | None
    rule: str  # what the candidate had to meet, in words ("" when the metric is only shown)
    ok: bool
    # Where the candidate's value came from: (kind, name, task), backends/run_metrics.py.
    source: tuple[str, str, str] | None = None


@dataclass(frozen=True)
class GateResult:
    passed: bool
    rows: tuple[MetricRow, ...]
    reasons: tuple[str, ...]  # one sentence per failed rule

    def to_dict(self) -> dict[str, Any]:
        return {"passed": self.passed, "reasons": list(self.reasons),
                "metrics": [{"name": r.name, "candidate": r.candidate, "champion": r.champion,
                             "rule": r.rule, "ok": r.ok,
                             "source": list(r.source) if r.source else None}
                            for r in self.rows]}
