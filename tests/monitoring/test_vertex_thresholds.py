"""The thresholds Vertex AI Model Monitoring is given for categorical features are those
`mlops-bot monitor` judges them by: Vertex has one threshold per feature, else one default for
all (no default per kind), so each categorical feature (values not all numbers in the training
data, the local check's rule) is named with mlops.yaml's categorical threshold. The real
aiplatform_v1 and storage clients (REST) against `FakeVertexMonitoring`, which judges a run's
distances against the thresholds the job holds, as Vertex does, and `FakeGcs` holding the
training CSV."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from google.auth.credentials import AnonymousCredentials

from mlops_bot.backends.gcp.clients import GcpClients
from mlops_bot.backends.gcp.endpoints import VertexEndpoints
from mlops_bot.backends.gcp.monitoring import VertexMonitoring
from mlops_bot.backends.model_types import EndpointRecord
from mlops_bot.backends.monitoring_types import MonitoredModel
from mlops_bot.config import ApiEndpoints, GcpConfig
from mlops_bot.flows.monitor import measure
from mlops_bot.monitoring.samples import categorical_columns
from mlops_bot.monitoring_config import Monitoring
from tests.monitoring.synthetic import rows
from tests.support.fake_gcs import FakeGcs
from tests.support.fake_vertex_monitoring import FakeVertexMonitoring

TRAINING = "gs://models/run-1/train_data"
CSV = "alcohol,ph,colour,quality\n" + "".join(
    f"{r['alcohol']},{r['ph']},{r['colour']},{n % 3}\n" for n, r in enumerate(rows(400, 1)))
SETTINGS = {  # skew: l_infinity, Vertex's own distance for categories; drift: the defaults
    "skew": {"numeric": {"statistic": "psi", "threshold": 0.25},
             "categorical": {"statistic": "l_infinity", "threshold": 0.15}},
    "drift": {}}


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[tuple[FakeVertexMonitoring, FakeGcs]]:
    with FakeVertexMonitoring(files=tmp_path / "files") as vertex, FakeGcs() as gcs:
        gcs.put("models", "run-1/train_data", CSV.encode(), "text/csv")
        yield vertex, gcs


def sync(cloud: tuple[FakeVertexMonitoring, FakeGcs], settings: dict[str, Any],
         training: str | None = TRAINING) -> tuple[Any, EndpointRecord]:
    vertex, gcs = cloud
    config = GcpConfig(project="test-project", region="europe-west4",
                       artifact_repository="images", registry_bucket="registry",
                       api_endpoints=ApiEndpoints(aiplatform=vertex.endpoint,
                                                  storage=gcs.endpoint))
    clients = GcpClients(config, AnonymousCredentials())
    fast: dict[str, Any] = {"request_timeout": 5.0, "poll_seconds": 0.02}
    record = VertexEndpoints(clients, settle_seconds=0.5, **fast).ensure("staging",
                                                                         "wine-staging")
    vertex.seed_deployed(record.resource_name, "1001")
    model = MonitoredModel("1001", "wine_quality", "1", training,
                           ("alcohol", "ph", "colour", "quality"))
    service = VertexMonitoring(clients, **fast)
    return service.ensure(record, [model], Monitoring.model_validate(settings)), service


def thresholds(vertex: FakeVertexMonitoring) -> dict[str, Any]:
    [job] = vertex.monitoring_jobs()
    objective = job["modelDeploymentMonitoringObjectiveConfigs"][0]["objectiveConfig"]
    skew = objective["trainingPredictionSkewDetectionConfig"]
    drift = objective["predictionDriftDetectionConfig"]
    return {"skew": {k: v["value"] for k, v in skew["skewThresholds"].items()},
            "skew_default": skew["defaultSkewThreshold"]["value"],
            "drift": {k: v["value"] for k, v in drift["driftThresholds"].items()},
            "drift_default": drift["defaultDriftThreshold"]["value"]}


def test_a_categorical_feature_gets_the_categorical_threshold_and_drifts_by_it(cloud):
    vertex, _ = cloud
    change, service = sync(cloud, SETTINGS)
    assert change.status == "created", change.message
    sent = thresholds(vertex)
    assert sent["skew"] == {"alcohol": 0.25, "ph": 0.25, "colour": 0.15, "quality": 0.25}
    assert sent["skew_default"] == 0.25  # the numeric one: every categorical feature is named
    assert sent["drift"] == {"alcohol": 0.2, "ph": 0.2, "colour": 0.1, "quality": 0.2}
    # Skew's l_infinity is Vertex's own distance: nothing to say; drift's default is not.
    assert "the l_infinity threshold" not in change.message
    assert "the jensen_shannon threshold 0.1 of colour is applied" in change.message
    # Vertex measures colour's L-infinity at 0.2 and alcohol's Jensen-Shannon at 0.2: colour is
    # over its 0.15, alcohol under its 0.25. With the numeric 0.25, colour passed unnoticed.
    vertex.measure(change.job, "1001", "skew", {"alcohol": 0.2, "colour": 0.2})
    status = service.status("staging")
    assert [(a.feature, a.threshold) for a in status.anomalies] == [("colour", 0.15)]


def test_the_kinds_are_those_the_local_check_judges(cloud, tmp_path):
    """`mlops-bot monitor` on the same training data calls the same features categorical, and
    judges them by the threshold sent."""
    vertex, _ = cloud
    sync(cloud, SETTINGS)
    assert categorical_columns(CSV, whole=True) == ("colour",)
    local = _local_kinds(tmp_path)
    monitoring = Monitoring.model_validate(SETTINGS)
    assert monitoring.skew is not None
    assert {name: monitoring.skew.check(name, kind == "categorical").threshold
            for name, kind in local.items()} == {
        name: value for name, value in thresholds(vertex)["skew"].items() if name in local}


def _local_kinds(tmp_path: Path) -> dict[str, str]:
    """The kind `measure` gives each feature of CSV (with requests like its rows)."""
    from datetime import UTC, datetime

    from mlops_bot.backends.factory import backends_for, state_dir
    from mlops_bot.config import parse_config
    from tests.monitoring.synthetic import NOW, log_requests, make_state

    repo = tmp_path / "repo"
    state = make_state(repo)
    data = next((state / "runs").rglob("train_data"))
    data.write_text(CSV)
    log_requests(state, [{k: v for k, v in r.items()} for r in rows(50, 2)], NOW)
    config = parse_config((repo / "mlops.yaml").read_text(), "mlops.yaml")
    result, _ = measure(config, backends_for(config, repo), state_dir(config, repo), "staging",
                        None, datetime.fromtimestamp(NOW, UTC))
    return {f.feature: f.kind for f in result.features if f.objective == "skew"}


def test_the_default_jensen_shannon_threshold_is_sent_and_the_deploy_told_it_is_l_infinity(
        cloud):
    vertex, _ = cloud
    change, _ = sync(cloud, {"drift": None})  # skew with the default thresholds
    assert thresholds_of_skew(vertex) == {"alcohol": 0.2, "ph": 0.2, "colour": 0.1,
                                          "quality": 0.2}
    assert ("Vertex AI measures categorical features by L-infinity: the jensen_shannon "
            "threshold 0.1 of colour is applied to that distance there (statistic l_infinity "
            "judges them alike locally and on Vertex)") in change.message


def thresholds_of_skew(vertex: FakeVertexMonitoring) -> dict[str, float]:
    [job] = vertex.monitoring_jobs()
    skew = job["modelDeploymentMonitoringObjectiveConfigs"][0]["objectiveConfig"][
        "trainingPredictionSkewDetectionConfig"]
    return {k: v["value"] for k, v in skew["skewThresholds"].items()}


def test_a_per_feature_override_of_a_categorical_feature_wins(cloud):
    vertex, _ = cloud
    settings = {**SETTINGS, "skew": {**SETTINGS["skew"], "per_feature": {
        "colour": {"statistic": "l_infinity", "threshold": 0.3}}}}
    sync(cloud, settings)
    assert thresholds_of_skew(vertex)["colour"] == 0.3


def test_unreadable_training_data_keeps_the_deploy_and_says_why_colour_is_numeric(cloud):
    vertex, gcs = cloud
    gcs.deny("models")
    change, _ = sync(cloud, SETTINGS)
    assert change.status == "created", change.message  # monitoring is set up all the same
    assert thresholds_of_skew(vertex)["colour"] == 0.25  # not known to be categorical
    assert ("wine_quality version 1: which features are categorical could not be told from "
            "its training data (reading gs://models/run-1/train_data failed: ") in change.message
    assert ("so those without a per_feature override are given the numeric threshold on "
            "Vertex AI") in change.message


def test_a_cut_off_last_line_does_not_make_a_numeric_column_categorical():
    head = "alcohol,colour\n12.1,red\n11.8,white\n1"  # the first MiB ends inside a number
    assert categorical_columns(head, whole=False) == ("colour",)
    assert categorical_columns("alcohol,colour\n12.1,red\nn/a,white\n", whole=True) == (
        "alcohol", "colour")
