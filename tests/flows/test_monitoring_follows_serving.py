"""Monitoring follows what serves: promotions and rollbacks on Vertex AI (the real aiplatform_v1
clients, REST, against `FakeVertexMonitoring`) point the endpoint's monitoring job at the
deployed model that serves; `mlops-bot monitoring status` reads it back on gcp and locally, as
text and as one JSON document."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from google.auth.credentials import AnonymousCredentials

from mlops_bot.backends.factory import Backends
from mlops_bot.backends.gcp.clients import GcpClients
from mlops_bot.backends.gcp.endpoints import VertexEndpoints
from mlops_bot.backends.gcp.identities import DEPLOY
from mlops_bot.backends.gcp.models import VertexModelRegistry
from mlops_bot.backends.gcp.monitoring import VertexMonitoring
from mlops_bot.backends.local.builder import VenvBuilder
from mlops_bot.backends.local.locks import FileLockStore
from mlops_bot.backends.types import PublishResult, RunRecord, RunRequest, VersionRecord
from mlops_bot.config import ApiEndpoints, GcpConfig, parse_config
from mlops_bot.errors import UserError
from mlops_bot.flows.monitor import monitor
from mlops_bot.flows.monitoring_sync import monitoring_status
from mlops_bot.flows.promote import promote, rollback
from mlops_bot.flows.schedules import parse_now
from mlops_bot.github.console_forge import ConsoleForge
from tests.monitoring.synthetic import NOW, NOW_ISO, log_requests, make_state, rows
from tests.support.cli import cli, cli_json
from tests.support.fake_gcs import FakeGcs
from tests.support.fake_iam import Iam, credentials_for
from tests.support.fake_vertex_monitoring import FakeVertexMonitoring, anomaly
from tests.support.models import train_wine_model, wine_features

PROJECT, REGION = "test-project", "europe-west4"
SERVING_IMAGE = f"{REGION}-docker.pkg.dev/{PROJECT}/images/wine-serving@sha256:{'c' * 64}"
SAMPLE = [[14.23, 1.71, 2.43, 15.6, 127.0, 2.8, 3.06, 0.28, 2.29, 5.64, 1.04, 3.92, 1065.0]]
MLOPS_YAML = """\
backend: gcp
gcp: {project: test-project, region: europe-west4, artifact_repository: images,
      registry_bucket: registry, api_endpoints: {aiplatform: "ENDPOINT", storage: "STORAGE"}}
environments:
  staging:
    endpoint: wine-staging
    canary_percent: 25
    smoke_instances: smoke.json
    monitoring:
      features: [alcohol]
      interval: 2h
      sampling_rate: 0.5
      drift: {numeric: {statistic: psi, threshold: 0.25}}
      alerts: {emails: [oncall@acme.example]}
"""
RUNS = ("run-1", "run-2")


class Runs:
    """Succeeded runs (PipelineRunner), each with its model and its training Dataset."""

    def __init__(self) -> None:
        self.records = [RunRecord(
            run_id=run_id, pipeline="wine_quality", version=f"v-{n}", git_sha=str(n) * 40,
            status="succeeded", parameters={}, started_at="2026-01-01T00:00:00Z",
            metrics={"accuracy": 0.9 + n / 100}, artifacts=[
                {"name": "metrics", "type": "system.Metrics", "uri": f"gs://models/{run_id}/m",
                 "metadata": {"accuracy": 0.9 + n / 100}},
                {"name": "train_data", "type": "system.Dataset",
                 "uri": f"gs://models/{run_id}/train_data", "metadata": {}},
                {"name": "model", "type": "system.Model", "uri": f"gs://models/{run_id}/model",
                 "metadata": {"framework": "scikit-learn", "feature_names": wine_features(),
                              "classes": [0, 1, 2]}}])
            for n, run_id in enumerate(RUNS, start=1)]

    def run(self, request: RunRequest) -> RunRecord:
        raise AssertionError("promote never starts a run")

    def get(self, run_id: str) -> RunRecord | None:
        return next((r for r in self.records if r.run_id == run_id), None)

    def runs(self, pipeline: str | None = None, git_sha: str | None = None) -> list[RunRecord]:
        return [r for r in reversed(self.records) if git_sha in (None, r.git_sha)]


class Registry:
    def publish(self, pipeline: str, spec: bytes, manifest: dict[str, Any]) -> PublishResult:
        raise AssertionError("promote never publishes")

    def tag(self, pipeline: str, tag: str, version: str) -> None:
        raise AssertionError("promote never tags")

    def resolve(self, pipeline: str, ref: str | None = None) -> VersionRecord:
        return VersionRecord(pipeline, (ref or "latest").lstrip("@"),
                             {"serving_image": SERVING_IMAGE})

    def spec(self, pipeline: str, version: str) -> bytes:
        raise AssertionError("no specs here")

    def versions(self, pipeline: str | None = None) -> list[VersionRecord]:
        return []


@pytest.fixture(scope="module")
def gcs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("gcs")
    for depth, run_id in enumerate(RUNS, start=1):
        train_wine_model(root / "models" / run_id, n_estimators=2, max_depth=depth)
    return root


@pytest.fixture
def vertex(gcs: Path) -> Iterator[FakeVertexMonitoring]:
    with FakeVertexMonitoring(files=gcs) as fake:
        yield fake


@pytest.fixture(scope="module")
def storage() -> Iterator[FakeGcs]:
    """Cloud Storage for the training data the monitoring sync reads (none here: it notes that
    it could not tell the features' kinds), so no test reaches for the real service."""
    with FakeGcs() as fake:
        yield fake


@pytest.fixture
def repo(tmp_path: Path, vertex: FakeVertexMonitoring, storage: FakeGcs) -> Path:
    folder = tmp_path / "repo"
    folder.mkdir()
    (folder / "mlops.yaml").write_text(MLOPS_YAML.replace("ENDPOINT", vertex.endpoint)
                                       .replace("STORAGE", storage.endpoint))
    (folder / "smoke.json").write_text(json.dumps({"instances": SAMPLE}))
    return folder


@pytest.fixture
def backends(vertex: FakeVertexMonitoring, tmp_path: Path, storage: FakeGcs) -> Backends:
    return backends_as(vertex, tmp_path, AnonymousCredentials(), storage)


def backends_as(vertex: FakeVertexMonitoring, tmp_path: Path, credentials: Any,
                storage: FakeGcs) -> Backends:
    config = GcpConfig(project=PROJECT, region=REGION, artifact_repository="images",
                       registry_bucket="registry",
                       api_endpoints=ApiEndpoints(aiplatform=vertex.endpoint,
                                                  storage=storage.endpoint))
    clients = GcpClients(config, credentials)
    fast: dict[str, Any] = {"request_timeout": 2.0, "poll_seconds": 0.02}
    return Backends(
        builder=VenvBuilder(tmp_path / "envs"), registry=Registry(), runner=Runs(),
        locks=FileLockStore(tmp_path / "locks"),
        models=VertexModelRegistry(clients, settle_seconds=0.5, **fast),
        endpoints=VertexEndpoints(clients, settle_seconds=0.5, **fast),
        monitoring=VertexMonitoring(clients, **fast))


def serving_id(vertex: FakeVertexMonitoring) -> str:
    split = vertex.endpoint_state()["trafficSplit"]
    [serving] = [k for k, v in split.items() if int(v) == 100]
    return serving


def watched(vertex: FakeVertexMonitoring) -> list[str]:
    [job] = vertex.monitoring_jobs()
    return [o["deployedModelId"] for o in job["modelDeploymentMonitoringObjectiveConfigs"]]


def test_promotions_and_a_rollback_keep_the_job_on_what_serves(
        vertex: FakeVertexMonitoring, backends: Backends, repo: Path) -> None:
    config = parse_config((repo / "mlops.yaml").read_text(), "mlops.yaml")

    def deploy(run_id: str) -> Any:
        return promote(backends, config, "staging", "wine_quality", repo_root=repo,
                       run_id=run_id)

    first = deploy("run-1")
    assert first.status == "promoted", first.message
    [job] = vertex.monitoring_jobs()
    assert watched(vertex) == [serving_id(vertex)]
    assert any(n.startswith(f"Vertex AI monitoring job {job['name']} created") for n in
               first.notes), first.notes
    config_of = job["modelDeploymentMonitoringObjectiveConfigs"][0]["objectiveConfig"]
    assert config_of["trainingDataset"]["gcsSource"]["uris"] == ["gs://models/run-1/train_data"]
    assert config_of["predictionDriftDetectionConfig"]["driftThresholds"] == {
        "alcohol": {"value": 0.25}}
    assert job["modelDeploymentMonitoringScheduleConfig"]["monitorInterval"] == "7200s"

    second = deploy("run-2")
    assert second.status == "promoted", second.message
    assert watched(vertex) == [serving_id(vertex)] != [first.deployed_model_id]
    [updated] = vertex.monitoring_jobs()
    assert updated["name"] == job["name"]  # the same job, updated
    assert updated["modelDeploymentMonitoringObjectiveConfigs"][0]["objectiveConfig"][
        "trainingDataset"]["gcsSource"]["uris"] == ["gs://models/run-2/train_data"]

    back = rollback(backends, config, "staging", "wine_quality", repo_root=repo)
    assert back.status == "rolled_back", back.message
    assert watched(vertex) == [serving_id(vertex)] != [second.deployed_model_id]
    assert vertex.monitoring_jobs()[0]["modelDeploymentMonitoringObjectiveConfigs"][0][
        "objectiveConfig"]["trainingDataset"]["gcsSource"]["uris"] == [
        "gs://models/run-1/train_data"]
    assert vertex.calls("create_monitoring_job") == 1


class _RolesBeforeMonitoring(Iam):
    """The deploy identity's custom role as set up before monitoring needed its permissions."""

    def allows(self, caller: str | None, permission: str, on: Any,
               object_name: str | None = None) -> bool:
        if permission.startswith("aiplatform.modelDeploymentMonitoringJobs."):
            return False
        return super().allows(caller, permission, on, object_name)


def test_a_deploy_identity_without_monitoring_rights_deploys_and_is_told_in_one_note(
        vertex: FakeVertexMonitoring, repo: Path, tmp_path: Path, storage: FakeGcs) -> None:
    config = parse_config((repo / "mlops.yaml").read_text(), "mlops.yaml")
    vertex.enforce(_RolesBeforeMonitoring(PROJECT, "registry"))
    backends = backends_as(vertex, tmp_path, credentials_for(DEPLOY.email(PROJECT)), storage)

    result = promote(backends, config, "staging", "wine_quality", repo_root=repo,
                     run_id="run-1")
    assert result.status == "promoted", result.message
    assert serving_id(vertex) == result.deployed_model_id  # the deploy stands
    [note] = [n for n in result.notes if n.startswith("monitoring was not updated")]
    assert ("Permission 'aiplatform.modelDeploymentMonitoringJobs.list' denied" in note
            and "held by the deploy identity" in note and "`mlops-bot bootstrap`" in note)
    assert note.endswith("the deploy stands, and the next deploy or rollback tries again")
    assert vertex.monitoring_jobs() == []


def test_monitoring_status_on_gcp_as_text_and_json(
        vertex: FakeVertexMonitoring, backends: Backends, repo: Path) -> None:
    config = parse_config((repo / "mlops.yaml").read_text(), "mlops.yaml")
    record = backends.endpoints.ensure("staging", "wine-staging")
    vertex.seed_deployed(record.resource_name, "1001")
    change = backends.monitoring.ensure(record, [], config.environments["staging"].monitoring)
    assert change.status == "off"  # nothing serves yet: no job

    with pytest.raises(UserError, match="staging has no Vertex AI monitoring job of mlops-bot"):
        monitoring_status(repo, "staging")

    from mlops_bot.backends.monitoring_types import MonitoredModel

    job = backends.monitoring.ensure(record, [MonitoredModel("1001", "wine_quality", "1")],
                                     config.environments["staging"].monitoring).job
    vertex.record_run(job, [anomaly("1001", "drift", "alcohol", 0.4, 0.25)])
    text = cli("monitoring", "status", "staging", cwd=repo)
    assert text.returncode == 1, text.stderr
    lines = text.stdout.splitlines()
    assert lines[0] == "staging: 1 feature(s) over threshold (alcohol (drift))"
    assert lines[1] == f"Vertex AI job: {job}"
    assert "state: JOB_STATE_RUNNING" in lines and "last run: 2026-01-01T01:00:00Z" in lines
    assert lines[-1].split() == ["alcohol", "drift", "vertex", "0.4", "0.25", "OVER", "1001"]

    document = cli_json("monitoring", "status", "staging", cwd=repo, expect=1)
    assert document["backend"] == "gcp" and document["anomalies"] == 1
    assert document["features"] == [{
        "feature": "alcohol", "objective": "drift", "score": 0.4, "threshold": 0.25,
        "deployed_model_id": "1001", "at": "2026-01-01T01:00:00Z", "statistic": "",
        "over": True}]


def test_monitoring_status_locally_reads_the_last_monitor(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    state = make_state(repo)
    never = cli_json("monitoring", "status", "staging", cwd=repo, expect=1)
    assert never["error"]["message"].startswith(
        "staging was never monitored on this machine (.mlops/monitoring/staging/last.json "
        "does not exist): run `mlops-bot monitor staging`")

    log_requests(state, rows(300, 2, shift=1.0), NOW)
    monitor(repo, "staging", None, parse_now(NOW_ISO), ConsoleForge(), environ={})
    text = cli("monitoring", "status", "staging", cwd=repo)
    assert text.returncode == 1, text.stderr
    assert text.stdout.splitlines()[0] == "staging: 1 feature(s) over threshold (alcohol (skew))"
    document = cli_json("monitoring", "status", "staging", cwd=repo, expect=1)
    assert document["backend"] == "local" and document["state"] == "measured"
    over = {(f["feature"], f["objective"]) for f in document["features"] if f["over"]}
    assert over == {("alcohol", "skew")}
    ph = next(f for f in document["features"] if f["feature"] == "ph")
    assert ph["statistic"] == "ks" and ph["over"] is False  # a p-value: over when under


def test_monitoring_status_of_an_environment_without_monitoring_is_one_sentence(
        tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    make_state(repo, config="local: {builder: venv}\nenvironments:\n  staging:\n"
                            "    endpoint: wine-staging\n")
    document = cli_json("monitoring", "status", "staging", cwd=repo, expect=1)
    assert document["error"]["message"] == (
        "environments.staging.monitoring is not set in mlops.yaml: add `monitoring: {}` under "
        "staging to watch its model")
