"""The Vertex AI model registry, run with the real aiplatform_v1 ModelServiceClient (REST)
against `tests.support.fake_vertex_models`."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from google.auth.credentials import AnonymousCredentials

from mlops_bot.backends.gcp.clients import GcpClients
from mlops_bot.backends.gcp.models import VertexModelRegistry, model_id_for
from mlops_bot.backends.model_types import ModelVersion
from mlops_bot.config import ApiEndpoints, GcpConfig
from mlops_bot.errors import UserError
from tests.support.fake_vertex_models import FakeVertexModels
from tests.support.models import candidate

PROJECT, REGION = "test-project", "europe-west4"
IMAGE = f"{REGION}-docker.pkg.dev/{PROJECT}/images/wine_quality@sha256:{'b' * 64}"


@pytest.fixture
def vertex(tmp_path: Path) -> Iterator[FakeVertexModels]:
    with FakeVertexModels(files=tmp_path / "gcs") as fake:
        yield fake


@pytest.fixture
def make_registry(vertex: FakeVertexModels) -> Any:
    def make(**options: Any) -> VertexModelRegistry:
        config = GcpConfig(project=PROJECT, region=REGION, artifact_repository="images",
                           registry_bucket="registry",
                           api_endpoints=ApiEndpoints(aiplatform=vertex.endpoint))
        settings = {"request_timeout": 1.0, "poll_seconds": 0.02, "settle_seconds": 2.0,
                    **options}
        return VertexModelRegistry(GcpClients(config, AnonymousCredentials()), **settings)
    return make


@pytest.fixture
def registry(make_registry: Any) -> VertexModelRegistry:
    return make_registry()


def run(number: int, **extra: Any) -> Any:
    fields = {"serving_image": IMAGE, "git_sha": f"{number}" * 40,
              "registry_version": f"v-{number}", "feature_names": ("alcohol", "malic_acid"),
              "classes": (0, 1, 2), "metrics": {"accuracy": 0.9 + number / 100},
              **extra}
    run_id = fields.pop("run_id", f"run-{number}")
    return candidate(run_id, f"gs://runs/wine/{number}/model", **fields)


# -- registering ----------------------------------------------------------------------------

def test_a_first_run_creates_the_parent_model_with_lineage_and_the_serving_container(
        vertex: FakeVertexModels, registry: VertexModelRegistry) -> None:
    version = registry.register(run(1, image="pipeline-image@sha256:1"))

    [stored] = vertex.versions("wine_quality")
    assert stored["displayName"] == "wine_quality" and stored["versionId"] == "1"
    assert stored["labels"] == {"mlops_bot": "true", "pipeline": "wine_quality",
                                "git_sha": "1" * 40, "registry_version": "v-1",
                                "run_id": "run-1"}
    assert stored["artifactUri"] == "gs://runs/wine/1/model"
    assert stored["containerSpec"] == {
        "imageUri": IMAGE, "command": ["python3", "-m", "mlops_bot.serving"],
        "args": ["--host", "0.0.0.0"], "ports": [{"containerPort": 8080}],
        "predictRoute": "/predict", "healthRoute": "/health"}
    assert version == ModelVersion(
        model="wine_quality", version="1", artifact_uri="gs://runs/wine/1/model",
        run_id="run-1", git_sha="1" * 40, registry_version="v-1", metrics={"accuracy": 0.91},
        aliases=("default",), feature_names=("alcohol", "malic_acid"), classes=(0, 1, 2),
        serving_image=IMAGE, image="pipeline-image@sha256:1", created_at=version.created_at,
        resource_name=f"projects/123456789012/locations/{REGION}/models/wine_quality@1")
    assert version.created_at.startswith("20")


def test_a_later_run_is_a_new_version_of_the_same_parent(
        vertex: FakeVertexModels, registry: VertexModelRegistry) -> None:
    first, second = registry.register(run(1)), registry.register(run(2))

    assert (first.version, second.version) == ("1", "2")
    assert list(vertex.models) == ["wine_quality"]  # one parent model, two versions
    assert [v["labels"]["run_id"] for v in vertex.versions("wine_quality")] == ["run-1", "run-2"]
    assert registry.get("wine_quality", "2") == second
    assert [v.version for v in registry.versions("wine_quality")] == ["2", "1"]


def test_the_pipeline_image_alone_never_serves_a_model(
        vertex: FakeVertexModels, registry: VertexModelRegistry) -> None:
    # It has no model server: uploaded with it, the model's container would exit at deploy.
    with pytest.raises(UserError, match=r"no serving image for run run-1 of wine_quality: the "
                                        r"pipeline image has no model server"):
        registry.register(run(1, serving_image=None, image=f"{IMAGE[:-70]}@sha256:{'9' * 64}"))
    assert vertex.requests == []


@pytest.mark.parametrize("framework", ["tensorflow", "xgboost", "pytorch"])
def test_a_model_of_a_framework_no_image_serves_is_refused_before_any_call(
        vertex: FakeVertexModels, registry: VertexModelRegistry, framework: str) -> None:
    with pytest.raises(UserError, match=rf"run run-1 of wine_quality is a '{framework}' model, "
                                        r"which mlops-bot has no serving image for"):
        registry.register(run(1, framework=framework))
    assert vertex.requests == []


@pytest.mark.parametrize(("spec", "message"), [
    ({"imageUri": "mlops-local/wine_quality-serving:ch-1"}, "Artifact Registry"),
    ({"imageUri": "docker.io/library/python:3.11"}, "Artifact Registry"),
    ({"ports": [{"containerPort": 70000}]}, "containerPort"),
    ({"predictRoute": "predict"}, "predict_route"),
    ({"env": [{"name": "1BAD", "value": "x"}]}, "env"),
])
def test_the_fake_rejects_container_specs_vertex_rejects(
        vertex: FakeVertexModels, spec: dict[str, Any], message: str) -> None:
    from tests.support.fake_gcp_http import Reply

    good = {"imageUri": IMAGE, "command": ["python3"], "ports": [{"containerPort": 8080}],
            "predictRoute": "/predict", "healthRoute": "/health"}
    with pytest.raises(Reply, match=message):
        vertex.upload_model({"region": REGION}, {}, {"modelId": "wine", "model": {
            "displayName": "wine", "containerSpec": {**good, **spec}}})


def test_a_model_outside_cloud_storage_is_refused_before_any_call(
        vertex: FakeVertexModels, registry: VertexModelRegistry) -> None:
    with pytest.raises(UserError, match=r"serves models from Cloud Storage.*/tmp/model"):
        registry.register(candidate("run-1", "/tmp/model", serving_image=IMAGE))
    assert vertex.requests == []


def test_labels_are_sanitised_and_the_exact_values_kept(
        vertex: FakeVertexModels, registry: VertexModelRegistry) -> None:
    long_version = "Release/" + "x" * 80
    version = registry.register(run(1, run_id="Run/ABC_1", registry_version=long_version,
                                    git_sha="ABCDEF" + "0" * 34))

    [stored] = vertex.versions("wine_quality")  # the fake answers 400 to an invalid label
    assert stored["labels"]["run_id"] == "run-abc_1"
    assert stored["labels"]["registry_version"] == ("release-" + "x" * 80)[:63]
    assert stored["labels"]["git_sha"] == "abcdef" + "0" * 34
    assert (version.run_id, version.registry_version, version.git_sha) == (
        "Run/ABC_1", long_version, "ABCDEF" + "0" * 34)


def test_pipeline_names_vertex_cannot_take_get_a_stable_distinct_model_id() -> None:
    assert model_id_for("wine_quality") == "wine_quality"
    assert model_id_for("Wine") != model_id_for("wine") == "wine"
    assert model_id_for("Wine") == model_id_for("Wine")
    assert model_id_for("2fast").startswith("m-2fast-")
    assert len(model_id_for("a" * 100)) == 63


# -- aliases -----------------------------------------------------------------------------------

def test_an_alias_names_one_version_at_a_time(registry: VertexModelRegistry) -> None:
    registry.register(run(1))
    registry.register(run(2))

    registry.set_aliases("wine_quality", "1", ["staging", "sha-1111111"])
    moved = registry.set_aliases("wine_quality", "2", ["staging", "sha-2222222"])

    assert moved.aliases == ("staging", "sha-2222222")
    old = registry.get("wine_quality", "1")
    assert old is not None and old.aliases == ("default", "sha-1111111")


def test_aliases_vertex_rejects_and_unknown_versions_are_clear_errors(
        vertex: FakeVertexModels, registry: VertexModelRegistry) -> None:
    registry.register(run(1))
    with pytest.raises(UserError, match=r"my_env cannot be a Vertex AI model version alias"):
        registry.set_aliases("wine_quality", "1", ["my_env"])
    assert vertex.calls("merge_version_aliases") == 0
    with pytest.raises(UserError, match=r"wine_quality has no version 7"):
        registry.set_aliases("wine_quality", "7", ["staging"])


# -- re-runs and faults ------------------------------------------------------------------------

def test_registering_a_run_again_returns_its_version(
        vertex: FakeVertexModels, registry: VertexModelRegistry) -> None:
    first = registry.register(run(1))
    again = registry.register(run(1))

    assert again == first and vertex.calls("upload_model") == 1
    assert len(vertex.versions("wine_quality")) == 1


def test_a_503_on_upload_is_retried_and_registers_once(
        vertex: FakeVertexModels, registry: VertexModelRegistry) -> None:
    vertex.fail("upload_model", 503)

    version = registry.register(run(1))

    assert version.version == "1" and vertex.calls("upload_model") == 2
    assert len(vertex.versions("wine_quality")) == 1


def test_an_upload_accepted_but_answered_too_late_registers_one_version(
        vertex: FakeVertexModels, registry: VertexModelRegistry) -> None:
    registry.register(run(1))
    # Accepted, then answered after the client gave up (1 s); the new version shows up only
    # when the upload ends, later still.
    vertex.stall("upload_model", 3.0)
    vertex.upload_seconds = 1.5

    version = registry.register(run(2))

    assert version.version == "2" and version.run_id == "run-2"
    assert vertex.calls("upload_model") == 2  # the first run's, then this one once
    assert [v["versionId"] for v in vertex.versions("wine_quality")] == ["1", "2"]


def test_a_failing_service_stops_after_a_few_tries_with_a_clear_error(
        vertex: FakeVertexModels, make_registry: Any) -> None:
    registry = make_registry(settle_seconds=0.1)
    vertex.fail("upload_model", 503, times=None)

    with pytest.raises(UserError, match=r"could not register run run-1 of wine_quality in "
                                        r"Vertex AI after 3 tries.*run the command again"):
        registry.register(run(1))
    assert vertex.models == {}


def test_two_first_registrations_racing_share_one_parent(
        vertex: FakeVertexModels, make_registry: Any) -> None:
    vertex.upload_seconds = 0.3  # the first upload is still creating the parent
    results: dict[str, ModelVersion] = {}

    def register(number: int) -> None:
        results[f"run-{number}"] = make_registry().register(run(number))

    threads = [threading.Thread(target=register, args=(n,)) for n in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(v.version for v in results.values()) == ["1", "2"]
    assert list(vertex.models) == ["wine_quality"]
    assert {v["labels"]["run_id"] for v in vertex.versions("wine_quality")} == {"run-1", "run-2"}


def test_permission_denied_points_to_the_roles_bootstrap_prints(
        vertex: FakeVertexModels, registry: VertexModelRegistry) -> None:
    vertex.fail("list_model_versions", 403, times=None)
    with pytest.raises(UserError, match=r"permission denied to list the versions of .*grant the "
                                        r"identity this job runs as the roles `mlops-bot "
                                        r"bootstrap` prints$"):
        registry.register(run(1))


# -- reading -------------------------------------------------------------------------------

def test_versions_of_every_model_newest_first_across_pages(
        vertex: FakeVertexModels, registry: VertexModelRegistry) -> None:
    for number in (1, 2, 3):  # the fake answers two per page
        registry.register(run(number))
    registry.register(candidate("run-9", "gs://runs/other/9", model="other", serving_image=IMAGE))

    listed = registry.versions()

    assert [(v.model, v.version) for v in listed] == [
        ("other", "1"), ("wine_quality", "3"), ("wine_quality", "2"), ("wine_quality", "1")]
    assert registry.get("wine_quality", "9") is None
    assert registry.get("nothing", "1") is None
    assert registry.get("wine_quality", "default") is None  # version ids only, as locally
    assert registry.versions("nothing") == []
