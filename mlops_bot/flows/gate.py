"""The metric gate: a candidate model against the environment's thresholds and its champion.

Pure: metrics in, a verdict with one row per metric and a sentence per failure out. The promote
flow uses it with the environment's tolerance (the candidate may be at most that much worse than
the champion on the primary metric); scheduled retraining uses it with a required gain (the
challenger must beat the champion by at least that much, and strictly when the gain is 0).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from mlops_bot.flows.results.gate import GateResult, MetricRow

if TYPE_CHECKING:
    from mlops_bot.config import Environment

__all__ = ["check_gate"]

# Metrics arrive through JSON and float sums: 0.1 + 0.2 must still count as 0.3.
_EPSILON = 1e-9


def check_gate(candidate: Mapping[str, float], champion: Mapping[str, float] | None,
               environment: Environment, *, required_gain: float | None = None,
               sources: Mapping[str, tuple[str, str, str]] | None = None) -> GateResult:
    """`sources`: where each candidate metric came from, shown in the table."""
    primary = environment.primary_metric
    names = [*environment.thresholds]
    names += [primary] if primary not in names else []
    names += sorted(set(candidate) - set(names))  # the rest is shown, not judged
    rows, reasons = [], []
    for name in names:
        rules: list[str] = []
        failures: list[str] = []
        value = _number(candidate.get(name))
        threshold = environment.thresholds.get(name)
        judged = threshold is not None or (name == primary and champion is not None)
        if value is None and name == primary:  # never judged without it
            rules += [] if judged else ["required (primary_metric)"]
            failures.append(_primary_missing(name, name in candidate))
        elif judged and value is None:
            problem = ("is not a finite number" if name in candidate
                       else "is missing from the candidate's metrics")
            failures.append(f"{name} {problem}"
                            + (" (thresholds of mlops.yaml need it)" if threshold else ""))
        if threshold is not None:
            rules.append(_bounds(threshold.min, threshold.max))
            if value is not None:
                failures += _threshold_failures(name, value, threshold.min, threshold.max)
        best = _number(champion.get(name)) if champion is not None else None
        if name == primary and champion is not None:
            rule, failure = _versus_champion(name, value, best, environment.tolerance,
                                             required_gain)
            rules.append(rule)
            failures += [failure] if failure else []
        source = (sources or {}).get(name) if value is not None else None
        rows.append(MetricRow(name, value, best, "; ".join(rules), not failures, source))
        reasons += failures
    return GateResult(not reasons, tuple(rows), tuple(reasons))


def _primary_missing(name: str, present: bool) -> str:
    if present:
        return f"{name} is not a finite number (it is the primary_metric in mlops.yaml)"
    return (f"{name} is missing from the candidate's metrics (it is the primary_metric in "
            "mlops.yaml): looked in the run's Metrics and ClassificationMetrics artifacts, its "
            "model artifact's numeric metadata and the float outputs of its final tasks; log it "
            "in one of them (e.g. metrics.log_metric) or set primary_metric to one the run has")


def _threshold_failures(name: str, value: float, low: float | None,
                        high: float | None) -> list[str]:
    failures = []
    if low is not None and value < low - _EPSILON:
        failures.append(f"{name} {_fmt(value)} is below the minimum {_fmt(low)}")
    if high is not None and value > high + _EPSILON:
        failures.append(f"{name} {_fmt(value)} is above the maximum {_fmt(high)}")
    return failures


def _versus_champion(name: str, value: float | None, best: float | None, tolerance: float,
                     required_gain: float | None) -> tuple[str, str | None]:
    if best is None:
        return "champion has no value: not compared", None
    if required_gain is None:
        floor = best - tolerance
        rule = (f">= champion - {_fmt(tolerance)} ({_fmt(floor)})" if tolerance
                else ">= champion")
        if value is None or value >= floor - _EPSILON:
            return rule, None
        allowed = f" (tolerance {_fmt(tolerance)})" if tolerance else " (tolerance 0)"
        return rule, (f"{name} {_fmt(value)} is {_fmt(best - value)} worse than the champion's "
                      f"{_fmt(best)}{allowed}")
    if required_gain == 0:
        rule = "> champion"
        if value is None or value > best + _EPSILON:
            return rule, None
        return rule, (f"{name} {_fmt(value)} does not beat the champion's {_fmt(best)}")
    target = best + required_gain
    rule = f">= champion + {_fmt(required_gain)} ({_fmt(target)})"
    if value is None or value >= target - _EPSILON:
        return rule, None
    return rule, (f"{name} {_fmt(value)} does not beat the champion's {_fmt(best)} by the "
                  f"required {_fmt(required_gain)}")


def _bounds(low: float | None, high: float | None) -> str:
    if low is not None and high is not None:
        return f"between {_fmt(low)} and {_fmt(high)}"
    return f">= {_fmt(low)}" if low is not None else f"<= {_fmt(high)}"


def _number(value: Any) -> float | None:
    """A finite metric value, else None (a NaN metric is as good as a missing one)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"
