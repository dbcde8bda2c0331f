"""Scheduled retraining as Markdown (job summary, tracking-issue comments) and as text."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlops_bot.report.markdown import fenced, link, plain
from mlops_bot.report.tables import code, markdown_table, table

if TYPE_CHECKING:
    from mlops_bot.flows.results.gate import GateResult
    from mlops_bot.flows.results.retrain import RetrainPromotion, RetrainResult, ScheduledRun

__all__ = ["retrain_markdown", "retrain_text", "schedule_markdown"]

_ICON = {"offered": "🚀", "already_offered": "🚀", "better": "✅", "not_better": "⏸️",
         "serving": "✅", "no_environment": "📝", "not_compared": "❌"}


def schedule_markdown(run: ScheduledRun, promotion: RetrainPromotion | None) -> str:
    """One schedule's retraining: the run, the metric table against the champion, the verdict.
    Metric names, the run's error and the verdict's message come from the pipeline: each is
    shown as code or plain text."""
    started = "started now" if run.started else "already started in this window"
    version = code(f"{run.pipeline}:{run.tag}") + (f" → {code(run.version)}" if run.version
                                                    else "")
    lines = [f"### Retraining {code(run.schedule)} (window {plain(run.window)})", "",
             f"- Version: {version}" + (f" at {code(run.git_sha[:12])}" if run.git_sha else "")]
    if run.run_id:
        web = link("run", run.url)
        lines.append(f"- Run: {code(run.run_id)}: **{plain(run.status)}**, {started}"
                     + (f" ({web})" if web else ""))
    if run.error:
        lines += ["", fenced(run.error.strip()[:3000])]
    if promotion is not None:
        lines += ["", _metrics_table(run, promotion.gate), "",
                  f"{_ICON[promotion.decision]} **{promotion.decision.replace('_', ' ')}**: "
                  f"{plain(promotion.message)}"]
    return "\n".join(lines) + "\n"


def retrain_markdown(result: RetrainResult) -> str:
    promotions = {p.schedule: p for p in result.promotions}
    parts = [f"## mlops-bot retrain ({plain(result.now)})", ""]
    if not result.runs:
        parts.append("No schedule was due.")
    parts += [schedule_markdown(run, promotions.get(run.schedule)) for run in result.runs]
    parts += [f"- {plain(note)}" for note in result.notes]
    return "\n".join(parts).rstrip() + "\n"


def retrain_text(result: RetrainResult) -> str:
    if not result.runs:
        return "No schedule was due."
    promotions = {p.schedule: p for p in result.promotions}
    rows = []
    for run in result.runs:
        promotion = promotions.get(run.schedule)
        rows.append([run.schedule, f"{run.pipeline}@{run.version or '-'}", run.run_id or "-",
                     run.status + ("" if run.started or not run.run_id else " (existing)"),
                     ", ".join(f"{k}={v:.4g}" for k, v in sorted(run.metrics.items())) or "-",
                     promotion.decision if promotion else "-"])
    lines = [table(["SCHEDULE", "VERSION", "RUN", "STATUS", "METRICS", "PROMOTION"], rows)]
    lines += [f"{p.schedule}: {p.message}" for p in result.promotions]
    lines += [f"{r.schedule}: {r.error}" for r in result.runs if r.error]
    lines += result.notes
    return "\n".join(lines)


def _metrics_table(run: ScheduledRun, gate: GateResult | None) -> str:
    if gate is None:
        rows = [[plain(name), _number(value), "-", "", ""]
                for name, value in sorted(run.metrics.items())]
    else:
        rows = [[plain(row.name), _number(row.candidate), _number(row.champion), row.rule,
                 ("✅" if row.ok else "❌") if row.rule else ""] for row in gate.rows]
    if not rows:
        return "_The run reported no metrics._"
    return markdown_table(["Metric", "Challenger", "Champion", "Rule", ""], rows)


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"
