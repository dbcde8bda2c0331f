"""`mlops-bot run` and `mlops-bot runs list` as text: one run's outcome, the runs newest first."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlops_bot.report.tables import table

if TYPE_CHECKING:
    from mlops_bot.backends.types import RunRecord

__all__ = ["run_text", "runs_table"]


def run_text(run: RunRecord, pipeline: str, status: str) -> str:
    """A run of `mlops-bot run`; `status` is the run's, or `existing` when it ran before."""
    metrics = ", ".join(f"{k}={v:.4g}" for k, v in sorted(run.metrics.items())) or "none"
    line = f"run {run.run_id} of {pipeline}@{run.version}: {status} (metrics: {metrics})"
    return f"{line}\n{run.error}" if run.error else line


def runs_table(runs: list[RunRecord]) -> str:
    if not runs:
        return "No runs yet: mlops-bot push runs the pipelines it publishes."
    return table(["RUN", "PIPELINE", "VERSION", "GIT SHA", "STATUS", "STARTED", "METRICS"], [
        [r.run_id, r.pipeline, r.version, r.git_sha[:12], r.status, r.started_at,
         ", ".join(f"{k}={v:.4g}" for k, v in sorted(r.metrics.items())) or "-"] for r in runs])
