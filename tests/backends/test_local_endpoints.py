"""Local endpoints: the serving state file written under an etag, read by the serving code."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from mlops_bot.backends.local.endpoints import LocalEndpoints, url_file
from mlops_bot.backends.model_types import NEW_DEPLOYMENT, ConcurrentChange
from mlops_bot.errors import UserError
from mlops_bot.serving.state import endpoint_state_path, read_state
from tests.support.models import train_wine_model, version

SAMPLE = [[14.23, 1.71, 2.43, 15.6, 127.0, 2.8, 3.06, 0.28, 2.29, 5.64, 1.04, 3.92, 1065.0],
          [12.93, 2.81, 2.7, 21.0, 96.0, 1.54, 0.5, 0.53, 0.75, 4.6, 0.77, 2.31, 600.0]]


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("artifacts")
    return train_wine_model(root / "one"), train_wine_model(root / "two", n_estimators=1,
                                                            max_depth=1)


@pytest.fixture
def endpoints(tmp_path: Path) -> LocalEndpoints:
    return LocalEndpoints(tmp_path / "state")


def state_of(endpoints: LocalEndpoints):
    return read_state(endpoint_state_path(endpoints.state_dir, "staging"), "staging")


def test_ensure_creates_an_empty_endpoint_once(endpoints):
    assert endpoints.get("staging") is None
    created = endpoints.ensure("staging", "wine-staging")
    assert (created.name, created.etag, created.deployed, created.traffic) == (
        "wine-staging", "1", (), {})
    assert endpoints.ensure("staging", "wine-staging") == created
    assert state_of(endpoints).revision == 1


def test_deploy_canary_then_full_traffic_as_the_server_reads_it(endpoints, artifacts):
    one, two = artifacts
    record = endpoints.deploy(endpoints.ensure("staging", "wine-staging"), version(1, one),
                              {NEW_DEPLOYMENT: 100})
    record = endpoints.deploy(record, version(2, two, image="img@sha256:2"),
                              {"wine_quality-1": 90, NEW_DEPLOYMENT: 10})
    assert record.traffic == {"wine_quality-1": 90, "wine_quality-2": 10}
    assert record.etag == "3" and record.serving().deployed_model_id == "wine_quality-1"
    state = state_of(endpoints)
    assert state.revision == 3
    assert [(d.deployed_model_id, d.traffic, d.model_version) for d in state.deployed] == [
        ("wine_quality-1", 90, 1), ("wine_quality-2", 10, 2)]
    assert state.deployed[1].lineage["image"] == "img@sha256:2"
    assert state.deployed[1].artifact_uri == str(two)
    record = endpoints.set_traffic(record, {"wine_quality-2": 100})
    record = endpoints.undeploy(record, "wine_quality-1")
    assert record.traffic == {"wine_quality-2": 100} and record.etag == "5"
    assert [d.deployed_model_id for d in state_of(endpoints).deployed] == ["wine_quality-2"]


def test_a_stale_etag_writes_nothing(endpoints, artifacts):
    stale = endpoints.ensure("staging", "wine-staging")
    endpoints.deploy(stale, version(1, artifacts[0]), {NEW_DEPLOYMENT: 100})
    path = endpoint_state_path(endpoints.state_dir, "staging")
    before = path.read_bytes()
    with pytest.raises(ConcurrentChange, match="revision 1 was read, it is now 2"):
        endpoints.deploy(stale, version(2, artifacts[1]), {NEW_DEPLOYMENT: 100})
    with pytest.raises(ConcurrentChange):
        endpoints.set_traffic(stale, {"wine_quality-1": 100})
    with pytest.raises(ConcurrentChange):
        endpoints.undeploy(stale, "wine_quality-1")
    assert path.read_bytes() == before


def test_of_two_racing_writers_from_one_read_exactly_one_wins(endpoints, artifacts):
    read = endpoints.ensure("staging", "wine-staging")
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def deploy(number: int) -> None:
        barrier.wait()
        try:
            endpoints.deploy(read, version(number, artifacts[number - 1]), {NEW_DEPLOYMENT: 100})
            outcomes.append("deployed")
        except ConcurrentChange:
            outcomes.append("conflict")

    threads = [threading.Thread(target=deploy, args=(n,)) for n in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["conflict", "deployed"]
    assert state_of(endpoints).revision == 2 and len(state_of(endpoints).deployed) == 1


def test_invalid_traffic_and_undeploys_are_refused(endpoints, artifacts):
    record = endpoints.deploy(endpoints.ensure("staging", "wine-staging"),
                              version(1, artifacts[0]), {NEW_DEPLOYMENT: 100})
    with pytest.raises(UserError, match="must sum to 100, not 90"):
        endpoints.deploy(record, version(2, artifacts[1]), {"wine_quality-1": 80,
                                                            NEW_DEPLOYMENT: 10})
    with pytest.raises(UserError, match="names wine_quality-9, which is not deployed"):
        endpoints.set_traffic(record, {"wine_quality-9": 100})
    with pytest.raises(UserError, match="already deployed"):
        endpoints.deploy(record, version(1, artifacts[0]), {NEW_DEPLOYMENT: 100})
    record = endpoints.deploy(record, version(2, artifacts[1]),
                              {"wine_quality-1": 100, NEW_DEPLOYMENT: 0})
    with pytest.raises(UserError, match="still gets 100% of staging's traffic"):
        endpoints.undeploy(record, "wine_quality-1")
    record = endpoints.undeploy(record, "wine_quality-2")
    assert endpoints.undeploy(record, "wine_quality-1").deployed == ()  # the last may go
    assert state_of(endpoints).deployed == ()


def test_a_model_that_cannot_load_is_never_deployed(endpoints, tmp_path):
    garbage = tmp_path / "garbage"
    garbage.mkdir()
    (garbage / "model").write_bytes(b"not a pickle")
    record = endpoints.ensure("staging", "wine-staging")
    with pytest.raises(UserError, match="cannot deploy to staging: model wine_quality-1: "
                                        "cannot load"):
        endpoints.deploy(record, version(1, garbage), {NEW_DEPLOYMENT: 100})
    with pytest.raises(UserError, match="no model at"):
        endpoints.deploy(record, version(1, tmp_path / "missing"), {NEW_DEPLOYMENT: 100})
    assert state_of(endpoints).revision == 1 and state_of(endpoints).deployed == ()


def test_predict_uses_the_serving_code_for_the_named_model(endpoints, artifacts):
    record = endpoints.deploy(endpoints.ensure("staging", "wine-staging"),
                              version(1, artifacts[0]), {NEW_DEPLOYMENT: 100})
    record = endpoints.deploy(record, version(2, artifacts[1]),
                              {"wine_quality-1": 90, NEW_DEPLOYMENT: 10})
    assert endpoints.predict(record, SAMPLE) == [0, 2]  # the champion by default
    assert len(endpoints.predict(record, SAMPLE, "wine_quality-2")) == 2
    named = dict(zip(version(1, "x").feature_names, SAMPLE[0], strict=True))
    assert endpoints.predict(record, [named], "wine_quality-1") == [0]
    with pytest.raises(UserError, match=r"wine-staging \(staging\): wine_quality-2 cannot "
                                        "predict.*expected 13 feature values, got 2"):
        endpoints.predict(record, [[1.0, 2.0]], "wine_quality-2")
    with pytest.raises(UserError, match="has no deployed model wine_quality-7"):
        endpoints.predict(record, SAMPLE, "wine_quality-7")


def test_url_comes_from_a_running_server(endpoints):
    endpoints.ensure("staging", "wine-staging")
    assert endpoints.get("staging").url is None
    url_file(endpoints.state_dir, "staging").write_text("http://127.0.0.1:8123\n")
    assert endpoints.get("staging").url == "http://127.0.0.1:8123"


def test_unknown_keys_of_the_state_file_survive_a_change(endpoints, artifacts):
    record = endpoints.deploy(endpoints.ensure("staging", "wine-staging"),
                              version(1, artifacts[0]), {NEW_DEPLOYMENT: 100})
    path = endpoint_state_path(endpoints.state_dir, "staging")
    document = json.loads(path.read_text())
    document["owner"] = "team-a"
    document["deployed"][0]["note"] = "kept"
    path.write_text(json.dumps(document))
    endpoints.set_traffic(record, {"wine_quality-1": 100})
    document = json.loads(path.read_text())
    assert document["owner"] == "team-a" and document["deployed"][0]["note"] == "kept"
