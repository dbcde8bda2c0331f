"""The HTTP contract, request by request (Starlette's TestClient: the app in process)."""

from __future__ import annotations

import json
import random
import warnings
from pathlib import Path

import pytest

with warnings.catch_warnings():
    # Starlette 1.x would rather its TestClient ran on `httpx2`; the httpx we have works.
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from starlette.testclient import TestClient

from mlops_bot.serving.app import MAX_BODY_BYTES, Endpoint, Routes, create_app
from mlops_bot.serving.state import StateWatcher
from tests.serving.helpers import deployed, write_state


def _client(state_file: Path, routes: Routes | None = None) -> TestClient:
    endpoint = Endpoint(StateWatcher(state_file, "staging"), rng=random.Random(0))
    return TestClient(create_app(endpoint, poll_interval=0.05, routes=routes))


@pytest.fixture()
def client(models, state_file):
    write_state(state_file, 7, [deployed("forest-3", models.forest, 100)])
    with _client(state_file) as client:
        yield client


def _error(response, status: int) -> str:
    assert response.status_code == status, response.text
    return response.json()["error"]


def test_health_lists_the_deployment(client, models):
    response = client.get("/health")
    assert response.status_code == 200
    document = response.json()
    assert document["status"] == "ok" and document["revision"] == 7
    assert document["endpoint"] == "wine-staging" and document["last_error"] is None
    (model,) = document["deployed"]
    assert (model["deployed_model_id"], model["traffic"], model["classes"]) == ("forest-3", 100, [0, 1, 2])
    assert model["feature_names"] == models.features and model["lineage"]["pipeline"] == "wine_quality"


def test_list_instances(client, models):
    response = client.post("/predict", json={"instances": models.rows})
    assert response.status_code == 200
    assert response.json() == {"predictions": [0, 1, 2], "deployedModelId": "forest-3",
                               "model": "forest", "modelVersionId": "3"}


def test_object_instances_are_reordered_by_feature_name(client, models):
    reversed_object = dict(reversed(list(zip(models.features, models.rows[2], strict=True))))
    mixed = [models.rows[0], reversed_object, {**dict(zip(models.features, models.rows[1], strict=True))}]
    response = client.post("/predict", json={"instances": mixed})
    assert response.json()["predictions"] == [0, 2, 1]


def test_probabilities(client, models):
    response = client.post("/predict", json={"instances": models.rows[:2],
                                             "parameters": {"probabilities": True}})
    predictions = response.json()["predictions"]
    assert [p["class"] for p in predictions] == [0, 1]
    assert all(len(p["probabilities"]) == 3 for p in predictions)
    assert predictions[1]["probabilities"][1] == max(predictions[1]["probabilities"])


def test_integers_count_as_numbers(client, models):
    assert client.post("/predict", json={"instances": [[round(v) for v in models.rows[0]]]}).status_code == 200


@pytest.mark.parametrize(("body", "message"), [
    (b'{"instances": [[1, 2', "the body is not valid JSON: Expecting"),
    (b"", "the body is not valid JSON"),
    (b'{"instances": [[NaN]]}', "NaN is not a JSON number"),
    (b"\xff\xfe\x00garbage", "the body is not valid JSON"),
    (b"[1, 2]", "the body must be a JSON object"),
    (b'{"inputs": []}', 'the body has no "instances"'),
    (b'{"instances": {"alcohol": 1}}', '"instances" must be a non-empty list'),
    (b'{"instances": []}', '"instances" must be a non-empty list'),
    (b'{"instances": [[1]], "parameters": [1]}', '"parameters" must be an object'),
    (b'{"instances": [[1]], "parameters": {"probabilities": "yes"}}', '"parameters.probabilities" must be true or false'),
])
def test_malformed_requests_are_400(client, body, message):
    assert message in _error(client.post("/predict", content=body), 400)


def test_wrong_feature_count_names_the_instance(client, models):
    short = models.rows[1][:12]
    message = _error(client.post("/predict", json={"instances": [models.rows[0], short]}), 400)
    assert message == "instance 1: expected 13 feature values, got 12"


@pytest.mark.parametrize(("value", "problem"), [
    ('"abc"', '"abc", not a number'), ("null", "null, not a number"), ("true", "true, not a number"),
    ("[1]", "[1], not a number"), ("1e400", "too large for a 64-bit float"),
])
def test_non_numeric_values_name_the_feature(client, models, value, problem):
    row = [json.dumps(v) for v in models.rows[0]]
    row[4] = value
    body = f'{{"instances": [{json.dumps(models.rows[1])}, [{", ".join(row)}]]}}'
    message = _error(client.post("/predict", content=body), 400)
    assert message == f"instance 1: feature 4 ('magnesium') is {problem}"


def test_non_numeric_values_in_objects_name_the_feature(client, models):
    instance = {**dict(zip(models.features, models.rows[0], strict=True)), "proline": "high"}
    message = _error(client.post("/predict", json={"instances": [instance]}), 400)
    assert message == "instance 0: feature 12 ('proline') is \"high\", not a number"


def test_unknown_feature_names_are_named(client, models):
    instance = dict(zip(models.features, models.rows[0], strict=True))
    instance["alcohool"] = instance.pop("alcohol")
    message = _error(client.post("/predict", json={"instances": [instance]}), 400)
    assert message == "instance 0: unknown feature 'alcohool' (did you mean 'alcohol'?)"


def test_missing_features_are_named(client, models):
    instance = dict(zip(models.features, models.rows[0], strict=True))
    del instance["hue"], instance["proline"]
    message = _error(client.post("/predict", json={"instances": [models.rows[0], instance]}), 400)
    assert message == "instance 1: missing features 'hue', 'proline'"


@pytest.mark.parametrize("instance", ["a string", 7, None])
def test_instances_must_be_lists_or_objects(client, instance):
    message = _error(client.post("/predict", json={"instances": [instance]}), 400)
    assert message.startswith("instance 0 is ") and "send a list of feature values" in message


def test_an_unknown_pinned_model_is_400(client, models):
    message = _error(client.post("/predict", json={"instances": models.rows[:1]},
                                 headers={"X-Deployed-Model-Id": "forest-9"}), 400)
    assert message == "X-Deployed-Model-Id 'forest-9' is not deployed here; deployed: forest-3"


def test_a_body_over_10_mib_is_413(client):
    body = b'{"instances": [' + b"0," * (MAX_BODY_BYTES // 2) + b"0]}"
    message = _error(client.post("/predict", content=body), 413)
    assert "over 10 MiB" in message


def test_a_chunked_body_over_10_mib_is_413(client):
    def chunks():
        for _ in range(11):
            yield b" " * (1024 * 1024)

    assert "over 10 MiB" in _error(client.post("/predict", content=chunks()), 413)


def test_a_model_exception_is_500_and_the_server_stays_up(models, state_file):
    write_state(state_file, 1, [deployed("boom-1", models.exploding, 50),
                                deployed("forest-1", models.forest, 50)])
    with _client(state_file) as client:
        response = client.post("/predict", json={"instances": models.rows[:1]},
                               headers={"X-Deployed-Model-Id": "boom-1"})
        assert _error(response, 500) == "model boom-1 failed: RuntimeError: boom"
        response = client.post("/predict", json={"instances": models.rows[:1]},
                               headers={"X-Deployed-Model-Id": "forest-1"})
        assert response.status_code == 200 and client.get("/health").status_code == 200


def test_probabilities_from_a_model_without_them_is_400(models, state_file):
    write_state(state_file, 1, [deployed("boom-1", models.exploding, 100)])
    with _client(state_file) as client:
        response = client.post("/predict", json={"instances": [[1.0]], "parameters": {"probabilities": True}})
        assert "does not give probabilities" in _error(response, 400)


def test_nothing_deployed_is_503(models, state_file):
    with _client(state_file) as client:  # no state file yet
        assert _error(client.post("/predict", json={"instances": models.rows}), 503) == "nothing is deployed to staging"
        response = client.get("/health")
        assert response.status_code == 503
        assert response.json()["reason"] == "nothing is deployed to staging"
        assert response.json()["revision"] == 0
    write_state(state_file, 5, [])
    with _client(state_file) as client:
        assert _error(client.post("/predict", json={"instances": models.rows}), 503) == "nothing is deployed to staging"
        assert client.get("/health").json()["revision"] == 5


def test_a_broken_state_file_at_start_serves_nothing_and_says_why(state_file):
    state_file.parent.mkdir(parents=True)
    state_file.write_text("{oops")
    with _client(state_file) as client:
        document = client.get("/health").json()
        assert document["status"] == "unavailable"
        assert "is not valid JSON" in document["last_error"] and "serving nothing" in document["last_error"]


def test_aip_routes_are_honoured(models, state_file):
    write_state(state_file, 1, [deployed("forest-1", models.forest, 100)])
    routes = Routes.from_env({"AIP_HEALTH_ROUTE": "/v1/health", "AIP_PREDICT_ROUTE": "/v1/models/wine:predict"})
    with _client(state_file, routes) as client:
        assert client.get("/v1/health").status_code == 200
        assert client.post("/v1/models/wine:predict", json={"instances": models.rows[:1]}).status_code == 200
        assert client.post("/predict", json={"instances": models.rows[:1]}).status_code == 404
        assert client.get("/v1/models/wine:predict").status_code == 405
