"""What the GitHub Actions runner tells a step through its environment.

`ActionContext` is what mlops_bot.github.action hands to each flow it dispatches to; it lives here,
below both, so the flows need not import the module that calls them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_bot.errors import UserError

if TYPE_CHECKING:
    from mlops_bot.github.forge import Forge

__all__ = ["ActionContext", "PushEvent", "push_event_from_env", "step_summary_path"]


@dataclass(frozen=True)
class ActionContext:
    environ: Mapping[str, str]
    workspace: Path
    event_name: str
    event: dict[str, Any]

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> ActionContext:
        path = environ.get("GITHUB_EVENT_PATH")
        event: dict[str, Any] = {}
        if path and Path(path).is_file():
            event = json.loads(Path(path).read_text())
        workspace = Path(environ.get("GITHUB_WORKSPACE") or os.getcwd())
        return cls(environ, workspace, environ.get("GITHUB_EVENT_NAME", ""), event)

    def input(self, name: str) -> str:
        # Docker actions receive inputs as INPUT_<NAME>, upper-cased, hyphens kept.
        key = f"INPUT_{name.upper()}"
        return self.environ.get(key, self.environ.get(key.replace("-", "_"), "")).strip()

    @property
    def dry_run(self) -> bool:
        return self.input("dry-run").lower() in ("true", "1", "yes")

    def forge(self) -> Forge:
        """GitHub when a token and repository are given, else a console that prints."""
        token, repository = self.input("github-token"), self.environ.get("GITHUB_REPOSITORY")
        if token and repository:
            from mlops_bot.github.pygithub_forge import GithubForge

            return GithubForge(repository, token,
                               self.environ.get("GITHUB_API_URL", "https://api.github.com"))
        from mlops_bot.github.console_forge import ConsoleForge

        return ConsoleForge()


@dataclass(frozen=True)
class PushEvent:
    before: str  # all zeros for a new branch
    after: str
    ref: str  # refs/heads/<branch> or refs/tags/<tag>
    default_branch: str | None = None  # the repository's, as the event says

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
        repository = payload.get("repository")
        default = repository.get("default_branch") if isinstance(repository, dict) else None
        return PushEvent(str(payload["before"]), str(payload["after"]), str(payload["ref"]),
                         default if isinstance(default, str) and default else None)
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise UserError(f"cannot read the push event at {path} (GITHUB_EVENT_PATH): {error}; "
                        "pass --base and --head instead") from None


def step_summary_path(environ: Mapping[str, str] = os.environ) -> Path | None:
    value = environ.get("GITHUB_STEP_SUMMARY")
    return Path(value) if value else None
