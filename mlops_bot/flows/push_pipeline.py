"""A push's pipelines each go on as soon as what they need is ready, not in phases.

What a pipeline needs: its images (`Builds`: the push's images, built at once by the builder,
each known as soon as it ends, `build_each`), then its serving image (gcp), its compiled spec
(every pipeline compiles at the start of the push: compiling needs no image) pinned to the
images it names, and then it is published and its run started. So a pipeline whose image is
fast runs while another's slow image still builds, and one image failing stops only the
pipelines that need it.

Pinning waits for every image of the push the spec names, not only the pipeline's own (a
shared component's, another pipeline's): pinning an image the push is still building would
build it a second time (image_refs.py builds what it does not find).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from mlops_bot.backends.types import BuildRequest, BuildResult, build_each
from mlops_bot.compile import CompiledPipeline, image_repository
from mlops_bot.repo.layout import Problem

if TYPE_CHECKING:
    from mlops_bot.backends.types import ImageBuilder
    from mlops_bot.compile_pool import CompiledSpec
    from mlops_bot.flows.image_refs import RepositoryImages
    from mlops_bot.flows.results.push import RunOutcome, VersionOutcome
    from mlops_bot.repo.plan import PipelinePlan, Plan

__all__ = ["Builds", "Published", "in_thread", "pinned"]

T = TypeVar("T")


@dataclass
class Published:
    """What became of one pipeline of the push, up to its run's start."""

    version: VersionOutcome
    notes: list[str] = field(default_factory=list)
    run: RunOutcome | None = None  # a run that failed before it could start (its parameters)


class Builds:
    """The push's images, built together; `on_ready` hears of each pipeline (in the builder's
    thread) once all its own images ended, built, reused or failed."""

    def __init__(self, plan: Plan, tree: Path,
                 on_ready: Callable[[PipelinePlan], None]) -> None:
        requests = {(i.image.name, i.image.content_hash):
                    BuildRequest(i.image, p.name, plan.head, tree)
                    for p in plan.pipelines for i in p.images}
        requests.update({(i.image.name, i.image.content_hash):
                         BuildRequest(i.image, "shared", plan.head, tree)
                         for i in plan.shared_images})
        self.requests = list(requests.values())
        self.refs: dict[str, str] = {}  # image name -> pinned ref, as each image is built
        self._pending = {name for name, _ in requests}
        self._waiting = {p.name: (p, {i.image.name for i in p.images}) for p in plan.pipelines}
        self._on_ready = on_ready
        self._changed = threading.Condition()

    def run(self, builder: ImageBuilder) -> list[BuildResult]:
        """Build every image; pipelines without one are ready at once."""
        self._ready()
        results = build_each(builder, self.requests, self._ended)
        for result in results:  # a builder that left one untold must not leave a pipeline hanging
            if result.image in self._pending:
                self._ended(result)
        return results

    def _ended(self, result: BuildResult) -> None:
        with self._changed:
            if result.ref and result.status != "failed":
                self.refs[result.image] = result.ref
            self._pending.discard(result.image)
            self._changed.notify_all()
        self._ready()

    def _ready(self) -> None:
        with self._changed:
            ready = [entry for entry, images in self._waiting.values()
                     if not images & self._pending]
            for entry in ready:
                del self._waiting[entry.name]
        for entry in ready:
            self._on_ready(entry)

    def missing(self, entry: PipelinePlan) -> list[str]:
        """The pipeline's own images that failed to build."""
        return [i.image.name for i in entry.images if i.image.name not in self.refs]

    def base(self, entry: PipelinePlan) -> str | None:
        """The ref of the pipeline's pipeline image (what its serving image is built FROM)."""
        found = [self.refs.get(i.image.name) for i in entry.images if i.image.kind == "pipeline"]
        return found[-1] if found else None

    def snapshot(self) -> tuple[dict[str, str], set[str]]:
        """The refs so far and the images still building, at one instant."""
        with self._changed:
            return dict(self.refs), set(self._pending)

    def wait(self, names: Iterable[str] | None = None) -> None:
        """Until every image of `names` (None: all) the push builds has ended."""
        wanted = None if names is None else set(names)
        with self._changed:
            self._changed.wait_for(lambda: not (self._pending if wanted is None
                                                else self._pending & wanted))


def pinned(entry: PipelinePlan, compiled: CompiledSpec | Problem | None, builds: Builds,
           images: RepositoryImages, lock: threading.Lock) -> CompiledPipeline | Problem | None:
    """The pipeline's spec with every image it names pinned (once the push's builds of those
    ended), compiled specs read (precompiled.py); None when there is nothing to publish."""
    outcomes: dict[str, CompiledPipeline | Problem] = {}
    if isinstance(compiled, Problem):
        return compiled
    if compiled is not None:
        refs, building = builds.snapshot()
        outcome = compiled.pinned(refs)
        named = {image_repository(reference) for reference in outcome.unpinned}
        if named & building:  # an image of the push that has not ended yet: wait, pin again
            builds.wait(named)
            outcome = compiled.pinned(builds.refs)
        outcomes[entry.name] = outcome
    elif entry.pipeline.spec:
        builds.wait()  # a compiled spec names any image: read only once all are built
    with lock:  # one image named by several specs and built by none is built once
        images.complete([entry.pipeline], outcomes)
    return outcomes.get(entry.name)


def in_thread(name: str, work: Callable[[], T]) -> Future[T]:
    """`work()` in a daemon thread (an interrupted push exits without waiting for it)."""
    future: Future[T] = Future()

    def run() -> None:
        future.set_running_or_notify_cancel()
        try:
            future.set_result(work())
        except BaseException as error:  # handed to whoever reads the result
            future.set_exception(error)

    threading.Thread(target=run, name=name, daemon=True).start()
    return future
