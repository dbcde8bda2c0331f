"""The Protocols every backend implements, and the records they exchange.

Each Protocol is a handful of methods whose docstrings state the contract; local and gcp
implementations must honour it identically (the same tests run against both where possible).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

from mlops_bot.repo.layout import Image

__all__ = [
    "BuildRequest",
    "BuildResult",
    "EachImageBuilder",
    "EnvironmentLock",
    "ImageBuilder",
    "LockStore",
    "PipelineRegistry",
    "PipelineRunner",
    "PublishResult",
    "RunRecord",
    "RunRequest",
    "VersionRecord",
    "build_each",
    "metrics_of",
]

BuildStatus = Literal["built", "reused", "failed"]
PublishStatus = Literal["published", "unchanged", "failed"]
RunStatus = Literal["succeeded", "failed", "running", "existing"]


@dataclass(frozen=True)
class BuildRequest:
    image: Image
    pipeline: str
    git_sha: str
    source_root: Path  # a folder holding the commit's files (image.context is relative to it)


@dataclass(frozen=True)
class BuildResult:
    image: str
    content_hash: str
    status: BuildStatus
    ref: str | None  # the pinned reference components run with (a digest on gcp)
    error: str | None = None
    seconds: float = 0.0


class ImageBuilder(Protocol):
    def build(self, requests: Sequence[BuildRequest]) -> list[BuildResult]:
        """Build each requested image, or reuse the one already built for its content hash.

        Independent images may be built concurrently. A failure is returned as a result with
        `status="failed"` and an `error` naming the image, the command or step, and the tail of
        its log; it never raises for one image's failure.
        """
        ...


@runtime_checkable
class EachImageBuilder(ImageBuilder, Protocol):
    """A builder that can say when each image is ready, so what needs only that image (a push's
    pipeline) goes on while the others build. Optional: `build_each` below serves every builder."""

    def build_each(self, requests: Sequence[BuildRequest],
                   on_built: Callable[[BuildResult], None]) -> list[BuildResult]:
        """`build`, calling `on_built` once per distinct image (name and content hash) as soon as
        it is built, reused or failed, from whichever thread built it, before returning."""
        ...


def build_each(builder: ImageBuilder, requests: Sequence[BuildRequest],
               on_built: Callable[[BuildResult], None]) -> list[BuildResult]:
    """`builder.build(requests)`, calling `on_built` with each distinct image's result as soon as
    the builder can tell: as each ends for an EachImageBuilder, all at the end for the others."""
    if isinstance(builder, EachImageBuilder):
        return builder.build_each(requests, on_built)
    results = builder.build(requests)
    for result in {(r.image, r.content_hash): r for r in results}.values():
        on_built(result)
    return results


@dataclass(frozen=True)
class VersionRecord:
    pipeline: str
    version: str
    manifest: dict[str, Any]
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class PublishResult:
    pipeline: str
    version: str
    status: PublishStatus
    tags: tuple[str, ...] = ()
    error: str | None = None


class PipelineRegistry(Protocol):
    def publish(self, pipeline: str, spec: bytes, manifest: dict[str, Any]) -> PublishResult:
        """Store a compiled spec under its content-derived version, create-only.

        The same bytes under an existing version succeed as `unchanged` (a retry after a lost
        response); different bytes under an existing version raise `UserError`.
        """
        ...

    def tag(self, pipeline: str, tag: str, version: str) -> None:
        """Point `tag` at `version`, atomically (compare-and-swap against concurrent movers)."""
        ...

    def resolve(self, pipeline: str, ref: str | None = None) -> VersionRecord:
        """The version named by `ref`: a version, `@version` or a tag (default `latest`).

        Raises `UserError` naming the pipeline and what exists when there is no such version.
        """
        ...

    def spec(self, pipeline: str, version: str) -> bytes:
        """The compiled pipeline spec (YAML bytes) of a version."""
        ...

    def versions(self, pipeline: str | None = None) -> list[VersionRecord]:
        """Versions, newest first, with the tags pointing at each."""
        ...


@dataclass(frozen=True)
class RunRequest:
    run_id: str
    pipeline: str
    version: str
    spec: bytes
    parameters: dict[str, Any]
    git_sha: str
    trigger: str
    images: dict[str, str] = field(default_factory=dict)  # image name -> the pinned reference
    labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RunRecord:
    run_id: str
    pipeline: str
    version: str
    git_sha: str
    status: str
    parameters: dict[str, Any]
    started_at: str
    finished_at: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    artifacts: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    url: str | None = None
    trigger: str = "push"


def metrics_of(artifacts: list[dict[str, Any]]) -> dict[str, float]:
    """The metrics of a run (as RunRecord.artifacts lists its artifacts): from its Metrics
    artifacts, its model's metadata and its final tasks' float outputs (backends/run_metrics.py)."""
    from mlops_bot.backends.run_metrics import metric_values

    return metric_values(artifacts)


class PipelineRunner(Protocol):
    def run(self, request: RunRequest) -> RunRecord:
        """Run a registry version and wait for it; returns the finished record.

        A run id that already ran is not started again: its existing record is returned (the
        caller reports it as `existing`). A failed run is a record with `status="failed"` and an
        `error` naming the failed task, not an exception.
        """
        ...

    def start(self, request: RunRequest) -> RunRecord:
        """Start the run (or attach to the one of its run id) as `run` does, without waiting
        for it where the backend runs it elsewhere: the record then has `status="running"` and
        its `url`. Safe to call from several threads at once, one request each."""
        ...

    def wait(self, request: RunRequest, deadline: float) -> RunRecord:
        """The started run once it ended, or, when `time.monotonic()` reaches `deadline` first,
        a record with `status="failed"` whose `error` says it is still running and where."""
        ...

    def get(self, run_id: str) -> RunRecord | None:
        """The record of a run, or None if there is none."""
        ...

    def runs(self, pipeline: str | None = None, git_sha: str | None = None) -> list[RunRecord]:
        """Runs, newest first, optionally only those of a pipeline or a commit."""
        ...


@dataclass(frozen=True)
class EnvironmentLock:
    environment: str
    owner: str  # who holds it: a pull request ("#12") or a person on the command line
    actor: str  # the login that took it
    reason: str
    created_at: str
    # When it lapses unless renewed (ISO 8601, UTC); "" never: a /lock holds until /unlock.
    expires_at: str = ""


class LockStore(Protocol):
    def acquire(self, lock: EnvironmentLock) -> EnvironmentLock:
        """Take the environment's lock; returns the lock in force afterwards.

        Atomic: of two concurrent callers exactly one gets its own lock back. When another
        owner holds it, that owner's lock is returned unchanged (the caller compares owners).
        """
        ...

    def take_over(self, held: EnvironmentLock, lock: EnvironmentLock) -> EnvironmentLock:
        """Replace `held` (expired, or its holder gone) by `lock`, atomically: only if `held` is
        still the lock in force; returns the lock in force afterwards, as `acquire`."""
        ...

    def renew(self, lock: EnvironmentLock) -> bool:
        """Replace the lock `lock.owner` holds by `lock` (a later `expires_at`); False, changing
        nothing, when that owner no longer holds it."""
        ...

    def release(self, environment: str, owner: str | None) -> EnvironmentLock | None:
        """Release the lock held by `owner` (None: whoever holds it, a forced unlock); returns
        what was released (None: not locked).

        Raises UserError naming the holder when someone else holds it.
        """
        ...

    def get(self, environment: str) -> EnvironmentLock | None:
        ...
