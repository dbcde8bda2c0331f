"""The EndpointService contract (mlops_bot.backends.model_types), held by both implementations:
the local endpoints (state files read by `mlops-bot serve`) and Vertex AI endpoints (the real
aiplatform_v1 clients against `tests.support.fake_vertex_models`). The promote flow relies on
exactly this behaviour, whichever backend runs it.

Deployed-model ids differ (`wine_quality-1` locally, numbers on Vertex), so the tests take them
from the records, never spell them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from google.auth.credentials import AnonymousCredentials

from mlops_bot.backends.gcp.clients import GcpClients
from mlops_bot.backends.gcp.endpoints import VertexEndpoints
from mlops_bot.backends.gcp.models import VertexModelRegistry
from mlops_bot.backends.local.endpoints import LocalEndpoints
from mlops_bot.backends.model_types import (
    NEW_DEPLOYMENT,
    ConcurrentChange,
    EndpointRecord,
    EndpointService,
    ModelVersion,
)
from mlops_bot.config import ApiEndpoints, GcpConfig
from mlops_bot.errors import UserError
from tests.support.fake_vertex_models import FakeVertexModels
from tests.support.models import candidate, train_wine_model, version, wine_features

SERVING_IMAGE = "europe-west4-docker.pkg.dev/test-project/images/wine_quality-serving"
SAMPLE = [[14.23, 1.71, 2.43, 15.6, 127.0, 2.8, 3.06, 0.28, 2.29, 5.64, 1.04, 3.92, 1065.0],
          [12.93, 2.81, 2.7, 21.0, 96.0, 1.54, 0.5, 0.53, 0.75, 4.6, 0.77, 2.31, 600.0]]


@dataclass
class Backend:
    endpoints: EndpointService
    version: Callable[[int], ModelVersion]  # the model of run n, registered as that backend does


@pytest.fixture(scope="module")
def bucket(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Model files: a local path for the local backend, gs://models/wine/<n> on Vertex."""
    root = tmp_path_factory.mktemp("gcs")
    train_wine_model(root / "models" / "wine" / "1")
    train_wine_model(root / "models" / "wine" / "2", n_estimators=1, max_depth=1)
    return root


def _local(tmp_path: Path, bucket: Path) -> Iterator[Backend]:
    yield Backend(LocalEndpoints(tmp_path / "state"),
                  lambda n: version(n, bucket / "models" / "wine" / str(n)))


def _vertex(tmp_path: Path, bucket: Path) -> Iterator[Backend]:
    with FakeVertexModels(files=bucket) as vertex:
        config = GcpConfig(project="test-project", region="europe-west4",
                           artifact_repository="images", registry_bucket="registry",
                           api_endpoints=ApiEndpoints(aiplatform=vertex.endpoint))
        clients = GcpClients(config, AnonymousCredentials())
        registry = VertexModelRegistry(clients, poll_seconds=0.02)

        def register(n: int) -> ModelVersion:
            return registry.register(candidate(
                f"run-{n}", f"gs://models/wine/{n}", git_sha=f"{n}" * 40,
                registry_version=f"v-{n}", serving_image=f"{SERVING_IMAGE}@sha256:{'1' * 64}",
                feature_names=tuple(wine_features()), classes=(0, 1, 2)))

        yield Backend(VertexEndpoints(clients, request_timeout=2.0, poll_seconds=0.02,
                                      settle_seconds=0.3), register)


@pytest.fixture(params=["local", "vertex"])
def backend(request: pytest.FixtureRequest, tmp_path: Path, bucket: Path) -> Iterator[Backend]:
    make = {"local": _local, "vertex": _vertex}[request.param]
    yield from make(tmp_path, bucket)


def _deployed(backend: Backend) -> tuple[EndpointRecord, str]:
    record = backend.endpoints.deploy(backend.endpoints.ensure("staging", "wine-staging"),
                                      backend.version(1), {NEW_DEPLOYMENT: 100})
    [first] = record.traffic
    return record, first


def _canary(backend: Backend) -> tuple[EndpointRecord, str, str]:
    record, first = _deployed(backend)
    record = backend.endpoints.deploy(record, backend.version(2),
                                      {first: 50, NEW_DEPLOYMENT: 50})
    [second] = set(record.traffic) - {first}
    return record, first, second


def test_an_endpoint_is_created_empty_once(backend: Backend) -> None:
    assert backend.endpoints.get("staging") is None
    created = backend.endpoints.ensure("staging", "wine-staging")
    assert (created.environment, created.name, created.deployed, created.traffic) == (
        "staging", "wine-staging", (), {})
    assert created.serving() is None
    assert backend.endpoints.ensure("staging", "wine-staging") == created
    assert backend.endpoints.get("staging") == created
    assert backend.endpoints.get("production") is None


def test_canary_full_traffic_and_undeploy(backend: Backend) -> None:
    record, first = _deployed(backend)
    etags = [record.etag]
    [only] = record.deployed
    assert (only.model, only.model_version, record.traffic) == ("wine_quality", "1", {first: 100})
    assert {k: only.lineage[k] for k in ("git_sha", "run_id", "registry_version")} == {
        "git_sha": "1" * 40, "run_id": "run-1", "registry_version": "v-1"}

    record = backend.endpoints.deploy(record, backend.version(2), {first: 90, NEW_DEPLOYMENT: 10})
    [second] = set(record.traffic) - {first}
    etags.append(record.etag)
    assert record.traffic == {first: 90, second: 10}
    serving = record.serving()
    assert serving is not None and serving.deployed_model_id == first

    record = backend.endpoints.set_traffic(record, {second: 100})
    etags.append(record.etag)
    assert record.traffic == {first: 0, second: 100}
    record = backend.endpoints.undeploy(record, first)
    etags.append(record.etag)

    assert record.traffic == {second: 100}
    assert [d.model_version for d in record.deployed] == ["2"]
    assert len(set(etags)) == 4  # every change moves the etag
    assert backend.endpoints.get("staging") == record


def test_a_stale_etag_changes_nothing(backend: Backend) -> None:
    stale, first, second = _canary(backend)
    fresh = backend.endpoints.set_traffic(stale, {first: 70, second: 30})

    for change in (lambda: backend.endpoints.set_traffic(stale, {second: 100}),
                   lambda: backend.endpoints.undeploy(stale, second),
                   lambda: backend.endpoints.deploy(stale, backend.version(1),
                                                    {first: 100, NEW_DEPLOYMENT: 0})):
        with pytest.raises(ConcurrentChange, match=r"nothing was overwritten"):
            change()
    assert backend.endpoints.get("staging") == fresh


def test_invalid_changes_are_refused_and_change_nothing(backend: Backend) -> None:
    record, first, second = _canary(backend)

    with pytest.raises(UserError, match=r"must sum to 100, not 90"):
        backend.endpoints.set_traffic(record, {first: 80, second: 10})
    with pytest.raises(UserError, match=r"which is not deployed"):
        backend.endpoints.set_traffic(record, {"nope": 100})
    with pytest.raises(UserError, match=r"already deployed"):
        backend.endpoints.deploy(record, backend.version(1), {NEW_DEPLOYMENT: 100})
    with pytest.raises(UserError, match=f"{first} still gets 50% of"):
        backend.endpoints.undeploy(record, first)
    with pytest.raises(UserError, match=r"nope is not deployed"):
        backend.endpoints.undeploy(record, "nope")
    assert backend.endpoints.get("staging") == record


def test_the_last_model_may_be_undeployed(backend: Backend) -> None:
    record, first = _deployed(backend)
    record = backend.endpoints.undeploy(record, first)
    assert (record.deployed, record.traffic, record.serving()) == ((), {}, None)


def test_predictions_from_the_endpoint_and_from_one_deployed_model(backend: Backend) -> None:
    record, first = _deployed(backend)
    assert backend.endpoints.predict(record, SAMPLE) == [0, 2]
    assert backend.endpoints.predict(record, SAMPLE, first) == [0, 2]
    named = dict(zip(wine_features(), SAMPLE[1], strict=True))
    assert backend.endpoints.predict(record, [named]) == [2]

    record = backend.endpoints.deploy(record, backend.version(2), {first: 50, NEW_DEPLOYMENT: 50})
    [second] = set(record.traffic) - {first}
    assert len(backend.endpoints.predict(record, SAMPLE, second)) == 2


def test_a_prediction_the_model_cannot_make_names_the_endpoint(backend: Backend) -> None:
    record, _ = _deployed(backend)
    with pytest.raises(UserError, match=r"wine-staging \(staging\).*cannot predict the sample "
                                        "instances.*expected 13 feature values, got 2"):
        backend.endpoints.predict(record, [[1.0, 2.0]])
