"""`mlops-bot schedules list|sync` as text: the declared schedules and when each is next due; the
sync's plan of changes, what was left alone, what was done."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlops_bot.report.tables import table

if TYPE_CHECKING:
    from mlops_bot.flows.results.schedules_sync import SyncResult

__all__ = ["render_sync", "schedules_table"]

_SYMBOL = {"create": "+", "update": "~", "pause": "~", "resume": "~", "delete": "-",
           "unchanged": " "}


def render_sync(result: SyncResult) -> str:
    lines = []
    for change in result.changes:
        lines.append(f"{_SYMBOL[change.action]} {change.action} {change.name}")
        lines += [f"      {detail}" for detail in change.details]
    todo = sum(c.action != "unchanged" for c in result.changes)
    if result.foreign:
        lines.append(f"left alone (not created by mlops-bot): {', '.join(result.foreign)}")
    if result.dry_run:
        lines.append(f"dry run: {todo} change(s) planned, nothing was changed")
    else:
        lines.append(f"{len(result.applied)} change(s) made" if todo else "in sync: nothing to do")
    return "\n".join(lines)


def schedules_table(rows: list[dict[str, Any]]) -> str:
    """`schedules list`, from the rows its `--json` prints."""
    if not rows:
        return ("No schedules: declare them under schedules: in mlops.yaml (see mlops-bot config "
                "schema).")
    return table(["SCHEDULE", "PIPELINE", "TAG", "CRON", "TIME ZONE", "NEXT DUE (UTC)", "TARGET"], [
        [r["name"], r["pipeline"], r["tag"], r["cron"], r["timezone"],
         "paused" if r["paused"] else str(r["next_due"]),
         f"{r['environment'] or '-'}{' (auto-promote)' if r['auto_promote'] else ''}"]
        for r in rows])
