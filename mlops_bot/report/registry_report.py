"""`mlops-bot registry list|show` as text: published versions with their tags, one manifest."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from mlops_bot.report.tables import table

if TYPE_CHECKING:
    from mlops_bot.backends.types import VersionRecord

__all__ = ["version_text", "versions_table"]


def versions_table(records: list[VersionRecord]) -> str:
    if not records:
        return "The registry is empty: run mlops-bot push to publish a version."
    return table(["PIPELINE", "VERSION", "TAGS", "GIT SHA", "COMPILED AT"], [
        [r.pipeline, r.version, ", ".join(r.tags) or "-", str(r.manifest.get("git_sha", ""))[:12],
         str(r.manifest.get("compiled_at", ""))] for r in records])


def version_text(record: VersionRecord) -> str:
    return (f"{record.pipeline}@{record.version} (tags: {', '.join(record.tags) or 'none'})\n"
            + json.dumps(record.manifest, indent=2))
