"""`build_each`: a builder tells of each image as soon as it ends, so a push's pipeline whose
image is ready goes on while the others build. The Cloud Build builder against the fake Cloud
Build (one image slow, one fast), the venv builder on a real virtualenv, and a builder that can
only tell at the end (a test double's `build`)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from google.auth.credentials import AnonymousCredentials

from mlops_bot.backends.gcp.builder import CloudBuildBuilder
from mlops_bot.backends.gcp.clients import GcpClients
from mlops_bot.backends.local.builder import VenvBuilder
from mlops_bot.backends.types import BuildRequest, BuildResult, EachImageBuilder, build_each
from mlops_bot.config import ApiEndpoints, GcpConfig
from mlops_bot.repo.layout import Image
from tests.support.fake_gcp import FakeGcp
from tests.support.fake_gcs import FakeGcs

SHA = "0123456789abcdef0123456789abcdef01234567"


def request(root: Path, name: str, pipeline: str | None = None) -> BuildRequest:
    context = root / "pipelines" / name
    context.mkdir(parents=True, exist_ok=True)
    (context / "Dockerfile").write_text("FROM python:3.11-slim\n")
    content_hash = (name.encode().hex() * 20)[:64]
    image = Image(name, "pipeline", f"pipelines/{name}", f"pipelines/{name}/Dockerfile",
                  content_hash)
    return BuildRequest(image, pipeline or name, SHA, root)


class Told:
    """What on_built heard, with when, from which thread."""

    def __init__(self) -> None:
        self.results: list[tuple[str, float]] = []
        self.threads: set[str] = set()

    def __call__(self, result: BuildResult) -> None:
        self.results.append((result.image, time.monotonic()))
        self.threads.add(threading.current_thread().name)


@pytest.fixture
def cloud_build(tmp_path: Path) -> Iterator[tuple[CloudBuildBuilder, FakeGcp]]:
    with FakeGcp() as gcp, FakeGcs() as gcs:
        config = GcpConfig(project="test-project", region="europe-west4", artifact_repository="images",
                           registry_bucket="registry",
                           api_endpoints=ApiEndpoints(cloudbuild=gcp.endpoint,
                                                      artifactregistry=gcp.endpoint,
                                                      storage=gcs.endpoint))
        clients = GcpClients(config, credentials=AnonymousCredentials())
        yield CloudBuildBuilder(clients, poll_seconds=0.02, progress=lambda _: None), gcp


def test_cloud_build_tells_of_the_fast_image_while_the_slow_one_builds(cloud_build, tmp_path):
    builder, gcp = cloud_build
    gcp.set_outcome("SUCCESS", after_polls=1)
    gcp.set_outcome("SUCCESS", after_polls=75, image="slow")  # ~1.5 s of polls
    requests = [request(tmp_path, "slow"), request(tmp_path, "fast"),
                request(tmp_path, "fast", pipeline="other")]  # two pipelines, one image
    told = Told()

    assert isinstance(builder, EachImageBuilder)
    results = build_each(builder, requests, told)
    returned = time.monotonic()

    assert [(r.image, r.status) for r in results] == [
        ("slow", "built"), ("fast", "built"), ("fast", "built")]
    assert [name for name, _ in told.results] == ["fast", "slow"]  # each once, as it ended
    fast_at = told.results[0][1]
    assert returned - fast_at > 0.5, "the fast image was told of only when all had ended"
    assert len(gcp.builds) == 2
    assert threading.current_thread().name not in told.threads  # from the builder's workers


def test_a_builder_that_tells_only_at_the_end_still_tells_of_each_image_once(tmp_path):
    class AllAtOnce:  # what the test doubles and the no-engine builder offer: build alone
        def build(self, requests: Sequence[BuildRequest]) -> list[BuildResult]:
            return [BuildResult(r.image.name, r.image.content_hash, "built", f"x/{r.image.name}")
                    for r in requests]

    told = Told()
    requests = [request(tmp_path, "a"), request(tmp_path, "b"), request(tmp_path, "a", "c")]
    assert not isinstance(AllAtOnce(), EachImageBuilder)
    results = build_each(AllAtOnce(), requests, told)
    assert [r.image for r in results] == ["a", "b", "a"]
    assert [name for name, _ in told.results] == ["a", "b"]


def test_the_venv_builder_tells_of_each_environment_once(tmp_path):
    builder = VenvBuilder(tmp_path / "envs")
    told = Told()
    requests = [request(tmp_path, "solo"), request(tmp_path, "solo", pipeline="twin")]

    results = builder.build_each(requests, told)

    assert [r.status for r in results] == ["built", "reused"]
    assert [name for name, _ in told.results] == ["solo"]
    again = Told()
    assert [r.status for r in builder.build_each(requests[:1], again)] == ["reused"]
    assert [name for name, _ in again.results] == ["solo"]
