"""Vertex AI endpoints, run with the real aiplatform_v1 EndpointServiceClient, ModelServiceClient
and PredictionServiceClient (REST) against `tests.support.fake_vertex_models`, which serves real
scikit-learn models the way the serving container would."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from google.auth.credentials import AnonymousCredentials

from mlops_bot.backends.gcp.clients import GcpClients
from mlops_bot.backends.gcp.endpoints import VertexEndpoints
from mlops_bot.backends.gcp.factory import gcp_backends
from mlops_bot.backends.gcp.models import VertexModelRegistry
from mlops_bot.backends.model_types import NEW_DEPLOYMENT, ConcurrentChange, ModelVersion
from mlops_bot.config import ApiEndpoints, GcpConfig, ServingResources
from mlops_bot.errors import UserError
from tests.support.fake_vertex_models import FakeVertexModels
from tests.support.models import candidate, train_wine_model, wine_features

PROJECT, REGION = "test-project", "europe-west4"
IMAGE = f"{REGION}-docker.pkg.dev/{PROJECT}/images/wine_quality@sha256:{'b' * 64}"
SAMPLE = [[14.23, 1.71, 2.43, 15.6, 127.0, 2.8, 3.06, 0.28, 2.29, 5.64, 1.04, 3.92, 1065.0],
          [12.93, 2.81, 2.7, 21.0, 96.0, 1.54, 0.5, 0.53, 0.75, 4.6, 0.77, 2.31, 600.0]]


@pytest.fixture(scope="module")
def gcs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What the fake's containers read gs://models/wine/<n> from."""
    root = tmp_path_factory.mktemp("gcs")
    train_wine_model(root / "models" / "wine" / "1")
    train_wine_model(root / "models" / "wine" / "2", n_estimators=1, max_depth=1)
    (root / "models" / "wine" / "broken").mkdir(parents=True)
    (root / "models" / "wine" / "broken" / "model").write_bytes(b"not a pickle")
    return root


@pytest.fixture
def vertex(gcs: Path) -> Iterator[FakeVertexModels]:
    with FakeVertexModels(files=gcs) as fake:
        yield fake


@pytest.fixture
def clients(vertex: FakeVertexModels) -> GcpClients:
    config = GcpConfig(project=PROJECT, region=REGION, artifact_repository="images",
                       registry_bucket="registry",
                       api_endpoints=ApiEndpoints(aiplatform=vertex.endpoint))
    return GcpClients(config, AnonymousCredentials())


@pytest.fixture
def make_endpoints(clients: GcpClients) -> Any:
    def make(**options: Any) -> VertexEndpoints:
        settings = {"request_timeout": 1.0, "poll_seconds": 0.02, "settle_seconds": 0.3,
                    **options}
        return VertexEndpoints(clients, **settings)
    return make


@pytest.fixture
def endpoints(make_endpoints: Any) -> VertexEndpoints:
    return make_endpoints()


@pytest.fixture
def versions(clients: GcpClients) -> dict[str, ModelVersion]:
    registry = VertexModelRegistry(clients, poll_seconds=0.02)
    return {name: registry.register(candidate(
        f"run-{name}", f"gs://models/wine/{name}", serving_image=IMAGE, git_sha=name * 40,
        registry_version=f"v-{name}", feature_names=tuple(wine_features()), classes=(0, 1, 2)))
        for name in ("1", "2", "broken")}


@pytest.fixture
def canary(endpoints: VertexEndpoints, versions: dict[str, ModelVersion]) -> Any:
    """staging with version 1 at 90% and version 2 at 10%: (record, id of 1, id of 2)."""
    record = endpoints.deploy(endpoints.ensure("staging", "wine-staging"), versions["1"],
                              {NEW_DEPLOYMENT: 100})
    [old] = record.traffic
    record = endpoints.deploy(record, versions["2"], {old: 90, NEW_DEPLOYMENT: 10})
    [new] = set(record.traffic) - {old}
    return record, old, new


def test_models_are_deployed_on_the_resources_of_mlops_yaml(
        vertex: FakeVertexModels, clients: GcpClients, versions: dict[str, ModelVersion]) -> None:
    gcp = clients.config.model_copy(update={"serving": ServingResources(
        machine_type="n1-highmem-4", min_replicas=2, max_replicas=5)})
    endpoints = gcp_backends(gcp, AnonymousCredentials()).endpoints
    endpoints.deploy(endpoints.ensure("staging", "wine-staging"), versions["1"],
                     {NEW_DEPLOYMENT: 100})
    [deployed] = vertex.endpoint_state()["deployedModels"]
    assert deployed["dedicatedResources"] == {
        "machineSpec": {"machineType": "n1-highmem-4"}, "minReplicaCount": 2,
        "maxReplicaCount": 5}


# -- the endpoint of an environment ------------------------------------------------------------

def test_ensure_creates_the_labelled_endpoint_once(vertex: FakeVertexModels,
                                                   endpoints: VertexEndpoints) -> None:
    assert endpoints.get("staging") is None

    created = endpoints.ensure("staging", "wine-staging")
    again = endpoints.ensure("staging", "wine-staging")

    assert again == created == endpoints.get("staging")
    assert vertex.calls("create_endpoint") == 1
    stored = vertex.endpoint_state()
    assert stored["displayName"] == "wine-staging"
    assert stored["labels"] == {"mlops-bot-environment": "staging", "mlops_bot": "true"}
    assert (created.name, created.etag, created.deployed, created.traffic) == (
        "wine-staging", stored["etag"], (), {})
    assert created.resource_name == stored["name"]
    assert created.url == f"{vertex.endpoint}/v1/{stored['name']}:predict"


def test_the_environment_label_finds_the_endpoint_not_the_display_name(
        vertex: FakeVertexModels, endpoints: VertexEndpoints) -> None:
    vertex.seed_endpoint("wine-staging", labels={})  # made by hand: not the environment's
    created = endpoints.ensure("staging", "wine-staging")
    assert vertex.calls("create_endpoint") == 1 and len(vertex.endpoints) == 2
    vertex.seed_endpoint("copy", labels={"mlops-bot-environment": "staging"})
    with pytest.raises(UserError, match=r"2 Vertex AI endpoints carry the label "
                                        r"mlops-bot-environment=staging: wine-staging .*copy"):
        endpoints.get("staging")
    assert created.name == "wine-staging"


def test_an_endpoint_create_that_fails_once_is_created_once(
        vertex: FakeVertexModels, endpoints: VertexEndpoints) -> None:
    vertex.fail("create_endpoint", 503)
    endpoints.ensure("staging", "wine-staging")
    vertex.stall("create_endpoint", 3.0)  # accepted, answered after the client gave up
    endpoints.ensure("production", "wine-production")
    assert vertex.calls("create_endpoint") == 3 and len(vertex.endpoints) == 2


# -- deploying -----------------------------------------------------------------------------

def test_deploy_with_a_canary_split(vertex: FakeVertexModels, canary: Any) -> None:
    record, old, new = canary

    stored = vertex.endpoint_state()
    assert stored["trafficSplit"] == {old: 90, new: 10} == record.traffic
    deployed = {d["id"]: d for d in stored["deployedModels"]}
    assert deployed[new]["model"].endswith("/models/wine_quality")
    assert deployed[new]["modelVersionId"] == "2"
    assert deployed[new]["dedicatedResources"] == {
        "machineSpec": {"machineType": "n1-standard-2"}, "minReplicaCount": 1,
        "maxReplicaCount": 1}
    assert record.etag == stored["etag"]
    champion = record.serving()
    assert champion is not None and (champion.deployed_model_id, champion.model,
                                     champion.model_version) == (old, "wine_quality", "1")
    by_id = {d.deployed_model_id: d for d in record.deployed}
    assert by_id[new].lineage == {"git_sha": "2" * 40, "registry_version": "v-2",
                                  "run_id": "run-2", "pipeline": "wine_quality",
                                  "model_version": "2"}


def test_full_traffic_then_undeploy_the_previous_model(vertex: FakeVertexModels,
                                                       endpoints: VertexEndpoints,
                                                       canary: Any) -> None:
    record, old, new = canary
    etags = [record.etag]

    record = endpoints.set_traffic(record, {new: 100})
    etags.append(record.etag)
    assert record.traffic == {old: 0, new: 100}
    record = endpoints.undeploy(record, old)
    etags.append(record.etag)

    stored = vertex.endpoint_state()
    assert [d["id"] for d in stored["deployedModels"]] == [new]
    assert stored["trafficSplit"] == {new: 100} == record.traffic
    assert len(set(etags)) == 3 and record.etag == stored["etag"]


def test_invalid_splits_and_undeploys_are_refused_before_any_change(
        vertex: FakeVertexModels, endpoints: VertexEndpoints,
        versions: dict[str, ModelVersion], canary: Any) -> None:
    record, old, new = canary
    before = vertex.endpoint_state()
    with pytest.raises(UserError, match=r"must sum to 100, not 90"):
        endpoints.set_traffic(record, {old: 80, new: 10})
    with pytest.raises(UserError, match=r"names 999, which is not deployed"):
        endpoints.set_traffic(record, {"999": 100})
    with pytest.raises(UserError, match=r"already deployed"):
        endpoints.deploy(record, versions["1"], {NEW_DEPLOYMENT: 100})
    with pytest.raises(UserError, match=f"{old} still gets 90% of endpoint wine-staging"):
        endpoints.undeploy(record, old)
    assert vertex.endpoint_state() == before
    assert vertex.calls("update_endpoint") == vertex.calls("undeploy_model") == 0


# -- concurrent changes ------------------------------------------------------------------------

def test_a_stale_etag_changes_nothing(vertex: FakeVertexModels, endpoints: VertexEndpoints,
                                      versions: dict[str, ModelVersion], canary: Any) -> None:
    stale, old, new = canary
    fresh = endpoints.set_traffic(stale, {old: 50, new: 50})  # someone else's change
    before = vertex.endpoint_state()

    with pytest.raises(ConcurrentChange, match=f"etag {stale.etag} was read, it is now "
                                               f"{fresh.etag}.*nothing was overwritten"):
        endpoints.set_traffic(stale, {new: 100})
    with pytest.raises(ConcurrentChange):
        endpoints.undeploy(stale, new)
    with pytest.raises(ConcurrentChange):
        endpoints.deploy(stale, versions["broken"], {old: 90, NEW_DEPLOYMENT: 10})

    assert vertex.endpoint_state() == before
    assert vertex.calls("update_endpoint") == 2  # the stale PATCH reached Vertex: 409 ABORTED
    assert vertex.calls("deploy_model") == 2 and vertex.calls("undeploy_model") == 0


# -- failures of Vertex ------------------------------------------------------------------------

def test_a_deployment_that_fails_leaves_the_endpoint_as_it_was(
        vertex: FakeVertexModels, endpoints: VertexEndpoints,
        versions: dict[str, ModelVersion]) -> None:
    record = endpoints.deploy(endpoints.ensure("staging", "wine-staging"), versions["1"],
                              {NEW_DEPLOYMENT: 100})
    [old] = record.traffic
    before = vertex.endpoint_state()

    vertex.fail_next_deploy("Model server never became ready.")
    with pytest.raises(UserError, match=r"could not deploy wine_quality version 2 to endpoint "
                                        r"wine-staging \(staging\): Vertex AI reports Model "
                                        r"server never became ready.*left as it was"):
        endpoints.deploy(record, versions["2"], {old: 90, NEW_DEPLOYMENT: 10})
    with pytest.raises(UserError, match=r"never became ready: model .*cannot load"):
        endpoints.deploy(record, versions["broken"], {old: 90, NEW_DEPLOYMENT: 10})

    assert vertex.endpoint_state() == before
    assert endpoints.get("staging") == record  # the etag read before still holds


def test_503s_mid_promotion_are_retried_without_doubling_anything(
        vertex: FakeVertexModels, endpoints: VertexEndpoints,
        versions: dict[str, ModelVersion]) -> None:
    record = endpoints.ensure("staging", "wine-staging")
    vertex.fail("deploy_model", 503)
    vertex.fail("get_operation", 503)
    record = endpoints.deploy(record, versions["1"], {NEW_DEPLOYMENT: 100})
    [old] = record.traffic
    vertex.stall("deploy_model", 3.0)  # accepted; the answer comes after the client gave up
    record = endpoints.deploy(record, versions["2"], {old: 90, NEW_DEPLOYMENT: 10})
    [new] = set(record.traffic) - {old}
    vertex.fail("update_endpoint", 503)
    vertex.fail("get_endpoint", 503)
    record = endpoints.set_traffic(record, {new: 100})
    vertex.stall("undeploy_model", 3.0)
    record = endpoints.undeploy(record, old)

    stored = vertex.endpoint_state()
    assert [d["modelVersionId"] for d in stored["deployedModels"]] == ["2"]
    assert stored["trafficSplit"] == {new: 100} == record.traffic
    assert record.etag == stored["etag"]


def test_a_traffic_change_answered_too_late_is_not_a_conflict(
        vertex: FakeVertexModels, endpoints: VertexEndpoints, canary: Any) -> None:
    record, old, new = canary
    vertex.stall("update_endpoint", 3.0)  # applied: the etag moved under the client

    record = endpoints.set_traffic(record, {new: 100})

    assert record.traffic == {old: 0, new: 100} and vertex.calls("update_endpoint") == 1


def test_a_deployment_that_outlives_its_deadline_says_so(
        vertex: FakeVertexModels, make_endpoints: Any, versions: dict[str, ModelVersion]) -> None:
    endpoints = make_endpoints(deploy_timeout=0.3)
    record = endpoints.ensure("staging", "wine-staging")
    vertex.deploy_seconds = 30.0
    with pytest.raises(UserError, match=r"could not deploy wine_quality version 1 to endpoint "
                                        r"wine-staging \(staging\): not done after 0.3 s"):
        endpoints.deploy(record, versions["1"], {NEW_DEPLOYMENT: 100})


def test_permission_denied_points_to_the_roles_bootstrap_prints(vertex: FakeVertexModels,
                                                   endpoints: VertexEndpoints) -> None:
    vertex.fail("list_endpoints", 403, times=None)
    with pytest.raises(UserError, match=r"grant the identity this job runs as the roles "
                                        r"`mlops-bot bootstrap` prints$"):
        endpoints.ensure("staging", "wine-staging")


# -- predictions -----------------------------------------------------------------------------

def test_predictions_from_the_endpoint_and_from_the_canary(
        vertex: FakeVertexModels, endpoints: VertexEndpoints, canary: Any) -> None:
    record, old, new = canary

    assert endpoints.predict(record, SAMPLE) == [0, 2]  # the seeded split picks version 1
    assert vertex.served == [old]
    from_canary = endpoints.predict(record, SAMPLE, new)
    assert len(from_canary) == 2 and set(from_canary) <= {0, 1, 2}
    assert vertex.served[-1] == new and len(vertex.served) > 2  # asked until the 10% answered

    named = dict(zip(wine_features(), SAMPLE[0], strict=True))
    assert len(endpoints.predict(record, [named])) == 1


def test_prediction_failures_name_the_endpoint(vertex: FakeVertexModels,
                                               endpoints: VertexEndpoints, canary: Any) -> None:
    record, old, new = canary
    with pytest.raises(UserError, match=r"endpoint wine-staging \(staging\) cannot predict the "
                                        r"sample instances.*expected 13 feature values, got 2"):
        endpoints.predict(record, [[1.0, 2.0]])
    record = endpoints.set_traffic(record, {old: 100})
    with pytest.raises(UserError, match=f"{new} gets no traffic on endpoint wine-staging"):
        endpoints.predict(record, SAMPLE, new)
    with pytest.raises(UserError, match=r"cannot predict"):
        endpoints.predict(endpoints.ensure("production", "wine-production"), SAMPLE)
