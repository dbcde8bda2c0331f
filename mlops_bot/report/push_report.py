"""What a push did, as a terminal table and as Markdown for the job summary."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from mlops_bot.flows.results.push import PushResult
from mlops_bot.report.tables import markdown_table, table

__all__ = ["render_push_markdown", "render_push_text"]

Table = Callable[[Sequence[str], Sequence[Sequence[str]]], str]


def render_push_text(result: PushResult) -> str:
    return "\n".join(_sections(result, table))


def render_push_markdown(result: PushResult) -> str:
    lines = _sections(result, markdown_table)
    lines[0] = f"### mlops-bot: {lines[0]}"
    return "\n".join(lines)


def _sections(result: PushResult, render: Table) -> list[str]:
    plan = result.plan
    where = f"{result.branch} @ {plan.head[:12]}" if result.branch else plan.head[:12]
    verdict = "ok" if result.ok else "FAILED"
    out = [f"push {where}: {verdict}"]
    if plan.everything_reason:
        out.append(f"Every pipeline: {plan.everything_reason}")
    if result.builds:
        out += ["", render(["IMAGE", "CONTENT HASH", "STATUS", "REFERENCE"], [
            [b.image, b.content_hash[:12], b.status, b.ref or "-"] for b in result.builds])]
    if result.versions:
        out += ["", render(["PIPELINE", "VERSION", "STATUS", "TAGS"], [
            [v.pipeline, v.version or "-", v.status, ", ".join(v.tags) or "-"]
            for v in result.versions])]
    if result.runs:
        out += ["", render(["PIPELINE", "RUN", "STATUS", "METRICS"], [
            [r.pipeline, r.run_id or "-", r.status,
             ", ".join(f"{k}={v:.4g}" for k, v in sorted(r.metrics.items())) or "-"]
            for r in result.runs])]
    out += _problems(result)
    out += [f"Note: {note}" for note in [*plan.notes, *result.notes]]
    return out


def _problems(result: PushResult) -> list[str]:
    problems = [f"build {b.image}: {b.error}" for b in result.builds if b.error]
    problems += [f"{v.pipeline}: {v.error}" for v in result.versions if v.error]
    problems += [f"run {r.pipeline} {r.run_id}: {r.error}" for r in result.runs if r.error]
    problems += [f"{name}: {p}" for name, ps in sorted(result.plan.broken.items()) for p in ps]
    if not problems:
        return []
    return ["", "Failures:"] + [f"  - {problem}" for problem in problems]
