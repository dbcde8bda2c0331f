"""Each pipeline of a push goes on as soon as what it needs is built: its image, then its serving
image, then it is published and run, while other pipelines' images still build. An image several
pipelines name is built once, and each waits for it before its spec is pinned. The real gcp
backends against the fake Cloud Build, Cloud Storage and Vertex AI (polled every 50 ms); a build
of an image takes `after_polls` polls there."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from typing import Any

from mlops_bot.backends.types import BuildRequest, BuildResult, ImageBuilder, build_each
from mlops_bot.config import load_config
from mlops_bot.flows.push import PushFlow, PushResult
from mlops_bot.repo.git import GitRepo
from tests.flows.test_push_concurrent import Cloud, backends_of, builder, cloud
from tests.flows.test_push_layouts import COPY, SHARED_FMT
from tests.support.gitrepo import GitRepoBuilder, pipeline_files

__all__ = ["builder", "cloud"]  # fixtures, shared with the concurrent-push tests

SLOW = 50  # polls of 50 ms: a build of ~2.5 s, against ~50 ms for the others


class Timed:
    """The push's builder, noting when each image's build ended (time.monotonic()), and when
    the push reported each run's end (`reported`)."""

    def __init__(self, builder: ImageBuilder) -> None:
        self._builder = builder
        self.ended: dict[str, float] = {}
        self.reported: dict[str, float] = {}

    def build(self, requests: Sequence[BuildRequest]) -> list[BuildResult]:
        return self.build_each(requests, lambda _: None)

    def build_each(self, requests: Sequence[BuildRequest],
                   on_built: Callable[[BuildResult], None]) -> list[BuildResult]:
        def told(result: BuildResult) -> None:
            self.ended[result.image] = time.monotonic()
            on_built(result)

        return build_each(self._builder, requests, told)


def push_files(repo: GitRepoBuilder, cloud: Cloud, files: dict[str, str],
               again: bool = False) -> tuple[PushResult, Any, Timed]:
    """Push a commit adding `files` (or, `again`, the same range once more)."""
    if not again:
        repo.base = repo.commit({"README.md": "models\n"})  # type: ignore[attr-defined]
        repo.head = repo.commit({"mlops.yaml": cloud.mlops_yaml(), **files})  # type: ignore
    config = load_config(repo.path)
    backends = backends_of(config)
    timed = Timed(backends.builder)
    backends = dataclasses.replace(backends, builder=timed)
    flow = PushFlow(GitRepo(repo.path), config, backends, "main",
                    on_run=lambda run: timed.reported.setdefault(run.pipeline, time.monotonic()))
    return flow.run(repo.base, repo.head, {}), backends, timed  # type: ignore[attr-defined]


def builds_of(cloud: Cloud, image: str) -> int:
    return sum(1 for b in cloud.gcp.builds.values()
               if b.resource["images"][0].rsplit("/", 1)[-1].split(":")[0] == image)


def job_started(cloud: Cloud, pipeline: str) -> float:
    [job] = [j for j in cloud.vertex.jobs.values() if j.request["labels"]["pipeline"] == pipeline]
    return job.created


def test_a_pipeline_whose_image_is_fast_runs_while_a_slow_image_still_builds(
        cloud: Cloud, builder: GitRepoBuilder) -> None:
    cloud.vertex.set_outcome("SUCCEEDED", seconds=0.2)
    cloud.gcp.set_outcome("SUCCESS", after_polls=2 * SLOW, image="alpha")

    result, _, timed = push_files(builder, cloud,
                                  {**pipeline_files("alpha"), **pipeline_files("beta")})

    assert [(r.pipeline, r.status) for r in result.runs] == [
        ("alpha", "succeeded"), ("beta", "succeeded")]
    # beta's run started (its image, its serving image, its publish done) before alpha's image
    # was built; built in phases, both started after alpha's image.
    assert job_started(cloud, "beta") < timed.ended["alpha"] < job_started(cloud, "alpha")
    # ... and its end was reported (progress line, job summary) as it ended, not after alpha's.
    assert timed.reported["beta"] < timed.ended["alpha"]
    assert [v.pipeline for v in result.versions] == ["alpha", "beta"]  # the plan's order
    assert [n.split(":")[0] for n in result.notes] == ["alpha", "beta"]  # serving notes too
    assert (builds_of(cloud, "alpha-serving"), builds_of(cloud, "beta-serving")) == (1, 1)


def test_a_slow_failing_image_fails_only_its_pipeline_and_the_others_run_meanwhile(
        cloud: Cloud, builder: GitRepoBuilder) -> None:
    cloud.vertex.set_outcome("SUCCEEDED", seconds=0.2)
    cloud.gcp.set_outcome("FAILURE", after_polls=SLOW, image="alpha")

    result, _, timed = push_files(builder, cloud,
                                  {**pipeline_files("alpha"), **pipeline_files("beta")})

    assert job_started(cloud, "beta") < timed.ended["alpha"]
    assert [(v.pipeline, v.status) for v in result.versions] == [
        ("alpha", "failed"), ("beta", "published")]
    assert (result.versions[0].error or "").startswith(
        "not compiled: image alpha failed to build")
    assert [(r.pipeline, r.status) for r in result.runs] == [("beta", "succeeded")]
    assert builds_of(cloud, "alpha-serving") == 0  # nothing to serve from a failed image


def test_pipelines_naming_images_others_build_wait_for_them_and_each_is_built_once(
        cloud: Cloud, builder: GitRepoBuilder) -> None:
    cloud.vertex.set_outcome("SUCCEEDED", seconds=0.2)
    # alpha's image and the shared component's, which both copies name, are slow: alpha's
    # slower than compiling the copies, so they wait for it before their specs are pinned.
    cloud.gcp.set_outcome("SUCCESS", after_polls=2 * SLOW, image="alpha")
    cloud.gcp.set_outcome("SUCCESS", after_polls=SLOW, image="shared-fmt")
    files = {**pipeline_files("alpha"), **SHARED_FMT, "pipelines/copy/definition.py": COPY,
             "pipelines/copy2/definition.py": COPY.replace("'copy'", "'copy2'")}

    result, backends, timed = push_files(builder, cloud, files)

    assert sorted((r.pipeline, r.status) for r in result.runs) == [
        ("alpha", "succeeded"), ("copy", "succeeded"), ("copy2", "succeeded")]
    assert (builds_of(cloud, "alpha"), builds_of(cloud, "shared-fmt")) == (1, 1)
    refs = {b.image: b.ref for b in result.builds}
    assert set(refs) == {"alpha", "shared-fmt"}
    for pipeline in ("copy", "copy2"):  # pinned to this push's builds, nothing left unpinned
        manifest = backends.registry.resolve(pipeline, "main").manifest
        assert manifest["images"] == refs and manifest["unpinned_images"] == []
        assert job_started(cloud, pipeline) > max(timed.ended["alpha"],
                                                  timed.ended["shared-fmt"])

    # Pushed again: nothing built, published or started.
    again, _, _ = push_files(builder, cloud, files, again=True)
    assert {b.status for b in again.builds} == {"reused"}
    assert {v.status for v in again.versions} == {"unchanged"}
    assert {r.status for r in again.runs} == {"existing"}
    assert (builds_of(cloud, "alpha"), builds_of(cloud, "shared-fmt")) == (1, 1)
