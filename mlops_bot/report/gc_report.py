"""`mlops-bot gc` as text: what was freed (or, with --dry-run, would be), then what was kept."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlops_bot.report.tables import table

if TYPE_CHECKING:
    from mlops_bot.flows.results.gc import GcResult

__all__ = ["gc_text", "human_bytes"]

_KINDS = ("run", "environment", "image", "temporary")


def gc_text(result: GcResult) -> str:
    verb = "would free" if result.dry_run else "freed"
    removed = result.counts(result.removed)
    kept = result.counts(result.kept)
    lines = [f"gc {verb} {human_bytes(result.freed)} in {result.state_dir}: "
             + _counted(removed, "nothing to remove")]
    if result.removed:
        lines += ["", table(["REMOVE" if result.dry_run else "REMOVED", "SIZE", "WHY"], [
            [f"{item.kind} {item.name}", human_bytes(item.bytes), item.why]
            for item in result.removed])]
    lines += ["", "kept (something refers to them, or recent): " + _counted(kept, "nothing")]
    lines += [f"Note: {note}" for note in result.notes]
    if result.dry_run and result.removed:
        lines.append("Nothing was removed (--dry-run): run `mlops-bot gc` to remove these.")
    return "\n".join(lines)


def _counted(counts: dict[str, int], empty: str) -> str:
    parts = [f"{counts[kind]} {kind}{'s' if counts[kind] != 1 else ''}" for kind in _KINDS
             if counts.get(kind)]
    return ", ".join(parts) or empty


def human_bytes(count: int) -> str:
    """1536 -> '1.5 kB', in decimal units as `local.state_size_warning` reads them."""
    size = float(count)
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} TB"
