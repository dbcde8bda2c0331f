"""The endpoint's Vertex AI Model Monitoring job, kept by `VertexMonitoring` with the real
aiplatform_v1 JobServiceClient (REST) against `FakeVertexMonitoring`, which is held to the
aiplatform.v1 discovery document and checks what Vertex checks (one job per endpoint, deployed
models that exist, skew only with training data, intervals of whole hours...)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from google.auth.credentials import AnonymousCredentials

from mlops_bot.backends.gcp.clients import GcpClients
from mlops_bot.backends.gcp.identities import DEPLOY
from mlops_bot.backends.gcp.monitoring import VertexMonitoring
from mlops_bot.backends.model_types import EndpointRecord
from mlops_bot.backends.monitoring_types import MonitoredModel
from mlops_bot.config import ApiEndpoints, GcpConfig
from mlops_bot.errors import UserError
from mlops_bot.monitoring_config import Monitoring
from tests.support.fake_gcs import FakeGcs
from tests.support.fake_iam import Iam, credentials_for
from tests.support.fake_vertex_monitoring import FakeVertexMonitoring, anomaly

PROJECT, REGION = "acme-ml", "europe-west4"
TRAIN = "gs://acme-registry/runs/123/run-1/train/train_data"
MONITORING = Monitoring.model_validate({
    "features": ["alcohol", "ash"], "sampling_rate": 0.25, "interval": "6h", "window": "2d",
    "skew": {"numeric": {"statistic": "jensen_shannon", "threshold": 0.3},
             "per_feature": {"alcohol": {"statistic": "psi", "threshold": 0.05}}},
    "drift": {"numeric": {"statistic": "psi", "threshold": 0.15}},
    "alerts": {"emails": ["ml-oncall@acme.example"]}})


@pytest.fixture
def vertex() -> Iterator[FakeVertexMonitoring]:
    with FakeVertexMonitoring() as fake:
        yield fake


_STORAGE: dict[str, str] = {}


@pytest.fixture(scope="module", autouse=True)
def storage() -> Iterator[FakeGcs]:
    """Cloud Storage for the training data the sync reads (none: it notes that it could not
    tell the features' kinds), so no test reaches for the real service."""
    with FakeGcs() as fake:
        _STORAGE["endpoint"] = fake.endpoint
        yield fake


def service(vertex: FakeVertexMonitoring, credentials: Any = None) -> VertexMonitoring:
    config = GcpConfig(project=PROJECT, region=REGION, artifact_repository="images",
                       registry_bucket="acme-registry",
                       api_endpoints=ApiEndpoints(aiplatform=vertex.endpoint,
                                                  storage=_STORAGE["endpoint"]))
    clients = GcpClients(config, credentials or AnonymousCredentials())
    return VertexMonitoring(clients, request_timeout=2.0, poll_seconds=0.01)


def endpoint(vertex: FakeVertexMonitoring, *deployed: str) -> EndpointRecord:
    seeded = vertex.seed_endpoint("wine-staging", {"mlops-bot-environment": "staging"})
    vertex.seed_deployed(seeded["name"], *deployed)
    return EndpointRecord("staging", "wine-staging", "", resource_name=seeded["name"])


def model(deployed_model_id: str, training: str | None = TRAIN) -> MonitoredModel:
    return MonitoredModel(deployed_model_id, "wine_quality", "1", training,
                          ("alcohol", "ash", "hue"))


def redeploy(vertex: FakeVertexMonitoring, record: EndpointRecord, *deployed: str) -> None:
    vertex.seed_deployed(record.resource_name, *deployed)


def test_the_first_ensure_creates_the_job_with_the_configured_thresholds_and_sampling(
        vertex: FakeVertexMonitoring) -> None:
    record = endpoint(vertex, "1001")
    change = service(vertex).ensure(record, [model("1001")], MONITORING)

    [job] = vertex.monitoring_jobs()
    assert change.status == "created" and change.job == job["name"]
    assert job["endpoint"] == record.resource_name
    assert job["labels"] == {"mlops-bot": "managed", "mlops-bot-environment": "staging"}
    [objective] = job["modelDeploymentMonitoringObjectiveConfigs"]
    assert objective["deployedModelId"] == "1001"
    config = objective["objectiveConfig"]
    assert config["trainingDataset"]["gcsSource"]["uris"] == [TRAIN]
    skew = config["trainingPredictionSkewDetectionConfig"]
    assert skew["defaultSkewThreshold"]["value"] == 0.3
    assert {k: v["value"] for k, v in skew["skewThresholds"].items()} == {
        "alcohol": 0.05, "ash": 0.3}  # the watched features, each with its override
    drift = config["predictionDriftDetectionConfig"]
    assert {k: v["value"] for k, v in drift["driftThresholds"].items()} == {
        "alcohol": 0.15, "ash": 0.15}
    assert job["loggingSamplingStrategy"]["randomSampleConfig"]["sampleRate"] == 0.25
    assert job["modelDeploymentMonitoringScheduleConfig"] == {"monitorInterval": "21600s",
                                                              "monitorWindow": "172800s"}
    assert job["modelMonitoringAlertConfig"]["emailAlertConfig"]["userEmails"] == [
        "ml-oncall@acme.example"]


def test_an_unchanged_configuration_writes_nothing(vertex: FakeVertexMonitoring) -> None:
    record = endpoint(vertex, "1001")
    monitoring = service(vertex)
    monitoring.ensure(record, [model("1001")], MONITORING)
    writes = vertex.writes()

    change = monitoring.ensure(record, [model("1001")], MONITORING)
    assert (change.status, change.message) == ("unchanged", "")
    assert vertex.writes() == writes


def test_a_new_deployed_model_updates_only_the_objective_configs(
        vertex: FakeVertexMonitoring) -> None:
    record = endpoint(vertex, "1001")
    monitoring = service(vertex)
    monitoring.ensure(record, [model("1001")], MONITORING)
    redeploy(vertex, record, "1002")

    change = monitoring.ensure(record, [model("1002")], MONITORING)
    assert change.status == "updated"
    assert "(model_deployment_monitoring_objective_configs)" in change.message
    [patch] = [path for route, _, path in vertex.requests if route == "update_monitoring_job"]
    assert "updateMask=modelDeploymentMonitoringObjectiveConfigs&" in patch + "&"
    [job] = vertex.monitoring_jobs()
    assert [o["deployedModelId"] for o in job["modelDeploymentMonitoringObjectiveConfigs"]] == [
        "1002"]

    lower = MONITORING.model_copy(update={"sampling_rate": 0.5})
    assert monitoring.ensure(record, [model("1002")], lower).status == "updated"
    assert vertex.monitoring_jobs()[0]["loggingSamplingStrategy"]["randomSampleConfig"][
        "sampleRate"] == 0.5


def test_without_training_data_skew_is_off_and_drift_alone_is_watched(
        vertex: FakeVertexMonitoring) -> None:
    record = endpoint(vertex, "1001")
    change = service(vertex).ensure(record, [model("1001", training=None)], MONITORING)
    assert change.status == "created"
    assert ("wine_quality version 1: its run recorded no training Dataset (train_data), so skew "
            "is off and only drift is watched") in change.message
    config = vertex.monitoring_jobs()[0]["modelDeploymentMonitoringObjectiveConfigs"][0][
        "objectiveConfig"]
    assert set(config) == {"predictionDriftDetectionConfig"}


def test_a_ks_p_value_is_not_given_to_vertex_as_a_distance(vertex: FakeVertexMonitoring) -> None:
    record = endpoint(vertex, "1001")
    monitoring = MONITORING.model_copy(update={"skew": Monitoring.model_validate({"skew": {
        "per_feature": {"ash": {"statistic": "ks", "threshold": 0.01}}}}).skew})
    change = service(vertex).ensure(record, [model("1001")], monitoring)
    assert change.status == "created"
    assert ("ks thresholds are p-values, which Vertex AI does not measure: those features are "
            "judged at Vertex's distance threshold 0.3") in change.message
    skew = vertex.monitoring_jobs()[0]["modelDeploymentMonitoringObjectiveConfigs"][0][
        "objectiveConfig"]["trainingPredictionSkewDetectionConfig"]
    assert {k: v["value"] for k, v in skew["skewThresholds"].items()} == {
        "alcohol": 0.2, "ash": 0.3}  # ash's 0.01 would alert on every window as a distance


def test_a_job_without_our_label_is_left_alone_and_named(vertex: FakeVertexMonitoring) -> None:
    record = endpoint(vertex, "1001")
    foreign = vertex.seed_job(record.resource_name, {"team": "data"}, "1001")
    before = vertex.monitoring_jobs()
    writes = vertex.writes()

    change = service(vertex).ensure(record, [model("1001")], MONITORING)
    assert change.status == "foreign" and change.job == foreign
    assert change.message == (
        f"the Vertex AI monitoring job made-by-hand ({foreign}) on the staging endpoint is not "
        "mlops-bot's (no label mlops-bot: managed): it was left alone, so environments.staging."
        "monitoring is not applied; delete it or add the label to let mlops-bot manage it")
    assert vertex.monitoring_jobs() == before and vertex.writes() == writes
    # Nor is it removed when the environment's monitoring goes.
    assert service(vertex).ensure(record, [model("1001")], None).status == "off"
    assert vertex.monitoring_jobs() == before


def test_monitoring_removed_from_the_configuration_deletes_our_job(
        vertex: FakeVertexMonitoring) -> None:
    record = endpoint(vertex, "1001")
    monitoring = service(vertex)
    created = monitoring.ensure(record, [model("1001")], MONITORING)
    change = monitoring.ensure(record, [model("1001")], None)
    assert change.status == "deleted" and change.job == created.job
    assert vertex.monitoring_jobs() == []


def test_a_503_then_success_creates_and_updates_once(vertex: FakeVertexMonitoring) -> None:
    record = endpoint(vertex, "1001")
    monitoring = service(vertex)
    vertex.fail("create_monitoring_job", 503)
    vertex.fail("list_monitoring_jobs", 503)
    assert monitoring.ensure(record, [model("1001")], MONITORING).status == "created"
    assert len(vertex.monitoring_jobs()) == 1
    assert vertex.calls("create_monitoring_job") == 2

    redeploy(vertex, record, "1002")
    vertex.fail("update_monitoring_job", 503)
    assert monitoring.ensure(record, [model("1002")], MONITORING).status == "updated"
    [job] = vertex.monitoring_jobs()
    assert job["modelDeploymentMonitoringObjectiveConfigs"][0]["deployedModelId"] == "1002"


class _RolesBeforeMonitoring(Iam):
    """The deploy identity's custom role as set up before monitoring needed its permissions."""

    def allows(self, caller: str | None, permission: str, on: Any,
               object_name: str | None = None) -> bool:
        if permission.startswith("aiplatform.modelDeploymentMonitoringJobs."):
            return False
        return super().allows(caller, permission, on, object_name)


def test_the_deploy_identity_refused_is_one_sentence_naming_the_permission_and_the_fix(
        vertex: FakeVertexMonitoring) -> None:
    record = endpoint(vertex, "1001")
    vertex.enforce(_RolesBeforeMonitoring(PROJECT, "acme-registry"))
    deployer = credentials_for(DEPLOY.email(PROJECT))
    with pytest.raises(UserError) as refused:
        service(vertex, deployer).ensure(record, [model("1001")], MONITORING)
    said = str(refused.value)
    assert said.startswith("permission denied to list the Vertex AI monitoring jobs in Vertex "
                           "AI (Permission 'aiplatform.modelDeploymentMonitoringJobs.list' denied")
    assert (f"aiplatform.modelDeploymentMonitoringJobs.list is held by the deploy identity "
            f"({DEPLOY.email(PROJECT)}, custom role mlopsBotDeploy on project {PROJECT})") in said
    assert "`mlops-bot bootstrap` prints them" in said
    assert "\n" not in said and "Traceback" not in said


def test_status_reads_the_latest_anomalies_of_each_deployed_model(
        vertex: FakeVertexMonitoring) -> None:
    record = endpoint(vertex, "1001")
    monitoring = service(vertex)
    with pytest.raises(UserError, match="staging has no Vertex AI monitoring job of mlops-bot"):
        monitoring.status("staging")
    job = monitoring.ensure(record, [model("1001")], MONITORING).job
    fresh = monitoring.status("staging")
    assert fresh.state == "JOB_STATE_PENDING" and fresh.last_run == "" and fresh.features == []
    assert fresh.notes == ["monitoring has not run yet: it runs every 6h once requests arrive"]

    vertex.record_run(job, [anomaly("1001", "drift", "alcohol", 0.4, 0.15),
                            anomaly("1001", "skew", "ash", 0.1, 0.3)])
    status = monitoring.status("staging")
    assert (status.state, status.last_run, status.job) == ("JOB_STATE_RUNNING",
                                                           "2026-01-01T01:00:00Z", job)
    assert {(f.feature, f.objective, f.score, f.threshold, f.over) for f in status.features} == {
        ("alcohol", "drift", 0.4, 0.15, True), ("ash", "skew", 0.1, 0.3, False)}
    assert [f.feature for f in status.anomalies] == ["alcohol"]
    assert status.to_dict()["anomalies"] == 1
