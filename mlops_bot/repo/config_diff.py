"""What a change to `mlops.yaml` affects.

Sections that decide where pipelines are or where images and versions go (`pipelines_dir`,
`shared`, `entries`, `images`, `backend`, `gcp`) affect every pipeline; `pipelines.<name>` affects
that pipeline; the rest (environments, schedules, branches) changes how the bot acts, not what it
builds, and is listed as a config change only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from mlops_bot.config_location import config_file
from mlops_bot.repo.git import GitRepo

if TYPE_CHECKING:
    from mlops_bot.config import Config

__all__ = ["ConfigImpact", "DefaultLayout", "LayoutSettings", "config_at", "config_impact",
           "layout_at"]

_EVERYTHING = ("pipelines_dir", "shared", "backend", "gcp", "entries", "images")


class LayoutSettings(Protocol):
    """The settings that say where pipelines and shared code are (a `Config` has them)."""

    @property
    def pipelines_dir(self) -> str: ...

    @property
    def shared(self) -> list[str]: ...

    @property
    def default_branch(self) -> str: ...


@dataclass(frozen=True)
class DefaultLayout:
    """`Config()`'s layout defaults, without importing pydantic: most plans need nothing more,
    and planning a large monorepo must not pay for validating a file that is not there."""

    pipelines_dir: str = "pipelines"
    shared: list[str] = field(default_factory=lambda: ["components"])
    default_branch: str = "main"


@dataclass
class ConfigImpact:
    everything_reason: str | None = None
    pipelines: dict[str, list[str]] = field(default_factory=dict)
    changed_sections: list[str] = field(default_factory=list)


def config_at(repo: GitRepo, commit: str) -> Config:
    """The configuration in force at `commit` (defaults when it has no mlops.yaml)."""
    from mlops_bot.config import Config, parse_config

    text = repo.show(commit, config_file())
    if text is None:
        return Config()
    return parse_config(text, f"{config_file()} at {commit[:12]}")


def layout_at(repo: GitRepo, commit: str) -> LayoutSettings:
    """Where pipelines are at `commit`: validated mlops.yaml when there is one."""
    text = repo.show(commit, config_file())
    if text is None:
        return DefaultLayout()
    from mlops_bot.config import parse_config

    return parse_config(text, f"{config_file()} at {commit[:12]}")


def config_impact(base: Config | None, head: Config) -> ConfigImpact:
    """Compare the configuration before and after; `base` is None when it could not be read."""
    if base is None:
        return ConfigImpact(f"{config_file()} at the base commit is invalid, so what changed is "
                            "unknown: planning every pipeline", changed_sections=["*"])
    before: dict[str, Any] = base.model_dump(mode="json")
    after: dict[str, Any] = head.model_dump(mode="json")
    changed = sorted(key for key in before.keys() | after.keys()
                     if before.get(key) != after.get(key))
    impact = ConfigImpact(changed_sections=changed)
    global_changes = [key for key in changed if key in _EVERYTHING]
    if global_changes:
        impact.everything_reason = (f"{config_file()}: {', '.join(global_changes)} changed: "
                                    "planning every pipeline")
        return impact
    old, new = before.get("pipelines") or {}, after.get("pipelines") or {}
    for name in sorted(old.keys() | new.keys()):
        if old.get(name) != new.get(name):
            impact.pipelines[name] = [f"{config_file()}: pipelines.{name} changed"]
    return impact
