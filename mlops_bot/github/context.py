"""What the GitHub Actions runner tells a step through its environment."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from mlops_bot.errors import UserError

__all__ = ["PushEvent", "push_event_from_env", "step_summary_path"]


@dataclass(frozen=True)
class PushEvent:
    before: str  # all zeros for a new branch
    after: str
    ref: str  # refs/heads/<branch> or refs/tags/<tag>

    @property
    def branch(self) -> str | None:
        return self.ref.removeprefix("refs/heads/") if self.ref.startswith("refs/heads/") else None


def push_event_from_env(environ: Mapping[str, str] = os.environ) -> PushEvent | None:
    """The push event this job runs for, or None outside a push-triggered workflow."""
    if environ.get("GITHUB_EVENT_NAME") != "push" or not environ.get("GITHUB_EVENT_PATH"):
        return None
    path = Path(environ["GITHUB_EVENT_PATH"])
    try:
        payload = json.loads(path.read_text())
        return PushEvent(str(payload["before"]), str(payload["after"]), str(payload["ref"]))
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise UserError(f"cannot read the push event at {path} (GITHUB_EVENT_PATH): {error}; "
                        "pass --base and --head instead") from None


def step_summary_path(environ: Mapping[str, str] = os.environ) -> Path | None:
    value = environ.get("GITHUB_STEP_SUMMARY")
    return Path(value) if value else None
