"""What a push did, as a terminal table and as Markdown for the job summary."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from mlops_bot.flows.results.push import PushResult
from mlops_bot.report.markdown import plain
from mlops_bot.report.tables import markdown_table, table

__all__ = ["render_push_markdown", "render_push_text"]

Table = Callable[[Sequence[str], Sequence[Sequence[str]]], str]
Text = Callable[[str], str]  # how a value that is not the bot's is shown


def render_push_text(result: PushResult) -> str:
    return "\n".join(_sections(result, table, str, "Note: "))


def render_push_markdown(result: PushResult) -> str:
    """The job summary. Branch, pipeline, image and metric names, errors and notes are not the
    bot's (a branch or folder name may hold Markdown): each is shown as plain text."""
    lines = _sections(result, markdown_table, plain, "- Note: ")  # one line each, not a paragraph
    lines[0] = f"### mlops-bot: {lines[0]}"
    return "\n".join(lines)


def _sections(result: PushResult, render: Table, text: Text, note: str) -> list[str]:
    plan = result.plan
    where = f"{text(result.branch)} @ {plan.head[:12]}" if result.branch else plan.head[:12]
    verdict = "ok" if result.ok else "FAILED"
    out = [f"push {where}: {verdict}"]
    if plan.everything_reason:
        out.append(f"Every pipeline: {text(plan.everything_reason)}")
    if result.builds:
        out += ["", render(["IMAGE", "CONTENT HASH", "STATUS", "REFERENCE"], [
            [text(b.image), b.content_hash[:12], b.status, text(b.ref) if b.ref else "-"]
            for b in result.builds])]
    if result.versions:
        out += ["", render(["PIPELINE", "VERSION", "STATUS", "TAGS"], [
            [text(v.pipeline), v.version or "-", v.status, ", ".join(map(text, v.tags)) or "-"]
            for v in result.versions])]
    if result.runs:
        out += ["", render(["PIPELINE", "RUN", "STATUS", "METRICS"], [
            [text(r.pipeline), text(r.run_id) if r.run_id else "-", r.status,
             ", ".join(text(f"{k}={v:.4g}") for k, v in sorted(r.metrics.items())) or "-"]
            for r in result.runs])]
    out += _problems(result, text)
    notes = [note + text(n) for n in [*plan.notes, *result.notes]]
    # A line right after a table would be read into it as one more row.
    return out + ([""] if notes and len(out) > 1 else []) + notes


def _problems(result: PushResult, text: Text) -> list[str]:
    problems = [f"build {b.image}: {b.error}" for b in result.builds if b.error]
    problems += [f"{v.pipeline}: {v.error}" for v in result.versions if v.error]
    problems += [f"run {r.pipeline} {r.run_id}: {r.error}" for r in result.runs if r.error]
    problems += [f"{name}: {p}" for name, ps in sorted(result.plan.broken.items()) for p in ps]
    if not problems:
        return []
    return ["", "Failures:"] + [f"  - {text(problem)}" for problem in problems]
