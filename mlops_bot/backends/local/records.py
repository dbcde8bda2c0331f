"""The schemas of the run records and environment locks the local backend keeps, and their
checked readers (the runner and the lock store call these; files.read_state does the checking).

A bad file raises StateFileError naming it, what is wrong and the fix; listing callers skip it
with a warning, so one bad record never blocks another pipeline's commands.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from mlops_bot.backends.local.files import move_aside, read_state
from mlops_bot.backends.types import EnvironmentLock

__all__ = ["read_lock", "read_run"]


class _RunFile(BaseModel):
    """run.json: a RunRecord, plus what the runner adds (owner, attempts), kept as it is."""

    model_config = ConfigDict(extra="allow")

    run_id: str
    pipeline: str
    version: str
    git_sha: str
    status: str
    parameters: dict[str, Any]
    started_at: str
    finished_at: str | None = None
    metrics: dict[str, float] = {}
    artifacts: list[dict[str, Any]] = []
    error: str | None = None
    url: str | None = None
    trigger: str = "push"


def read_run(path: Path) -> dict[str, Any] | None:
    """The checked document of a run.json; None when there is none."""
    fix = f"{move_aside(path)}; the next push of that commit runs it again"
    record = read_state(path, _RunFile, fix)
    return None if record is None else record.model_dump()


def read_lock(path: Path, environment: str) -> EnvironmentLock | None:
    """The lock at `path`; None when the environment is not locked. A lock that cannot be read
    must deny, never allow: it raises, saying how to release it by hand."""
    fix = (f"if nobody is deploying to {environment}, {move_aside(path)} (that unlocks "
           f"{environment})")
    return read_state(path, EnvironmentLock, fix)
