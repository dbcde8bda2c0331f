"""`mlops-bot schedules sync` as text: the plan of changes, what was left alone, what was done."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mlops_bot.flows.results.schedules_sync import SyncResult

__all__ = ["render_sync"]

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
