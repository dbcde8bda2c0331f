"""`mlops-bot monitoring status`: the environment's monitoring as last measured, as text."""

from __future__ import annotations

from mlops_bot.backends.monitoring_types import FeatureAnomaly, MonitoringStatus
from mlops_bot.report.tables import table

__all__ = ["monitoring_status_text"]


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def _row(feature: FeatureAnomaly) -> list[str]:
    verdict = "OVER" if feature.over else ("ok" if feature.score is not None else "-")
    return [feature.feature, feature.objective, feature.statistic or "vertex",
            _number(feature.score), _number(feature.threshold), verdict,
            feature.deployed_model_id]


def monitoring_status_text(status: MonitoringStatus) -> str:
    over = status.anomalies
    where = "Vertex AI job" if status.backend == "gcp" else "last `mlops-bot monitor`"
    lines = [f"{status.environment}: {len(over)} feature(s) over threshold"
             + (f" ({', '.join(sorted({f'{f.feature} ({f.objective})' for f in over}))})"
                if over else ""),
             f"{where}: {status.job}", f"state: {status.state}",
             f"last run: {status.last_run or 'never'}"]
    if status.last_error:
        lines.append(f"last run failed: {status.last_error}")
    if status.features:
        lines += ["", table(["feature", "objective", "statistic", "score", "threshold",
                             "verdict", "deployed model"],
                            [_row(f) for f in status.features])]
    lines += [f"note: {note}" for note in status.notes]
    return "\n".join(lines)
