"""The promote flow on Vertex AI: `promote` and `rollback` with the Vertex model registry and
endpoints, run with the real aiplatform_v1 clients (REST) against `FakeVertexModels`, which
loads the registered models from its files root and serves their predictions.

The pipeline runs are records made here (a small in-test runner): the flow only reads them.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from google.auth.credentials import AnonymousCredentials

from mlops_bot.backends.factory import Backends
from mlops_bot.backends.gcp.clients import GcpClients
from mlops_bot.backends.gcp.endpoints import VertexEndpoints
from mlops_bot.backends.gcp.models import VertexModelRegistry
from mlops_bot.backends.local.builder import VenvBuilder
from mlops_bot.backends.local.locks import FileLockStore
from mlops_bot.backends.types import PublishResult, RunRecord, RunRequest, VersionRecord
from mlops_bot.config import ApiEndpoints, Config, GcpConfig, parse_config
from mlops_bot.errors import UserError
from mlops_bot.flows.promote import promote, rollback
from mlops_bot.flows.results.promote import PromotionResult
from tests.support.fake_vertex_models import FakeVertexModels
from tests.support.models import train_wine_model, wine_features

PROJECT, REGION = "test-project", "europe-west4"
IMAGE = f"{REGION}-docker.pkg.dev/{PROJECT}/images/wine_quality@sha256:{'b' * 64}"
SERVING_IMAGE = f"{REGION}-docker.pkg.dev/{PROJECT}/images/wine_quality-serving@sha256:{'c' * 64}"
SAMPLE = [[14.23, 1.71, 2.43, 15.6, 127.0, 2.8, 3.06, 0.28, 2.29, 5.64, 1.04, 3.92, 1065.0],
          [12.93, 2.81, 2.7, 21.0, 96.0, 1.54, 0.5, 0.53, 0.75, 4.6, 0.77, 2.31, 600.0]]
MLOPS_YAML = """\
backend: gcp
gcp: {project: test-project, region: europe-west4, artifact_repository: images,
      registry_bucket: registry}
environments:
  staging:
    endpoint: wine-staging
    canary_percent: 25
    smoke_instances: smoke.json
    thresholds:
      accuracy: {min: 0.8}
"""
# run id -> (git sha digit, accuracy): each run's model is trained at gs://models/runs/<run id>.
RUNS = {"run-1": ("1", 0.91), "run-2": ("2", 0.93), "run-3": ("3", 0.95)}


# -- the cloud and the backends -----------------------------------------------------------------

class Vertex(FakeVertexModels):
    """The fake, also noting the traffic split each prediction was routed by, and running a
    hook (another writer) before the next request of a route."""

    def __init__(self, files: Path) -> None:
        super().__init__(files=files)
        self.splits_at_predict: list[dict[str, int]] = []
        self.before: dict[str, Callable[[], None]] = {}

    def predict(self, m: dict[str, str], query: dict[str, str], body: Any) -> Any:
        self._hook("predict")
        with self._lock:
            split = self._endpoint(m["endpoint"]).get("trafficSplit") or {}
            self.splits_at_predict.append({k: int(v) for k, v in split.items()})
        return super().predict(m, query, body)

    def update_endpoint(self, m: dict[str, str], query: dict[str, str], body: Any) -> Any:
        self._hook("update_endpoint")
        return super().update_endpoint(m, query, body)

    def upload_model(self, m: dict[str, str], query: dict[str, str], body: Any) -> Any:
        self._hook("upload_model")
        return super().upload_model(m, query, body)

    def _hook(self, route: str) -> None:
        with self._lock:
            hook = self.before.pop(route, None)
        if hook is not None:
            hook()  # outside the lock: the hook may call the fake over HTTP

    def unused_faults(self) -> list[str]:
        with self._lock:
            return [f.route for f in self._faults]

    def deployments(self) -> list[str]:
        """The model version of each deployModel operation that succeeded, in order."""
        with self._lock:
            self._advance()
            return [op.result["deployedModel"]["modelVersionId"]
                    for op in self.operations.values()
                    if op.result and "deployedModel" in op.result]


class Runs:
    """The runs the flow promotes from (the PipelineRunner Protocol): succeeded records."""

    def __init__(self, records: list[RunRecord]) -> None:
        self.records = records

    def run(self, request: RunRequest) -> RunRecord:
        raise AssertionError("promote never starts a run")

    def get(self, run_id: str) -> RunRecord | None:
        return next((r for r in self.records if r.run_id == run_id), None)

    def runs(self, pipeline: str | None = None, git_sha: str | None = None) -> list[RunRecord]:
        return [r for r in reversed(self.records) if pipeline in (None, r.pipeline)
                and git_sha in (None, r.git_sha)]


class Registry:
    """The pipeline registry (PipelineRegistry Protocol): each version's manifest pins IMAGE, and
    SERVING_IMAGE, which its push built to serve its models."""

    def publish(self, pipeline: str, spec: bytes, manifest: dict[str, Any]) -> PublishResult:
        raise AssertionError("promote never publishes")

    def tag(self, pipeline: str, tag: str, version: str) -> None:
        raise AssertionError("promote never tags")

    def resolve(self, pipeline: str, ref: str | None = None) -> VersionRecord:
        return VersionRecord(pipeline, (ref or "latest").lstrip("@"),
                             {"images": {pipeline: IMAGE}, "serving_image": SERVING_IMAGE})

    def spec(self, pipeline: str, version: str) -> bytes:
        raise UserError("no specs here")

    def versions(self, pipeline: str | None = None) -> list[VersionRecord]:
        return []


def run_record(run_id: str) -> RunRecord:
    digit, accuracy = RUNS[run_id]
    return RunRecord(
        run_id=run_id, pipeline="wine_quality", version=f"v-{digit}", git_sha=digit * 40,
        status="succeeded", parameters={}, started_at="2026-01-01T00:00:00Z",
        finished_at="2026-01-01T00:05:00Z", metrics={"accuracy": accuracy},
        artifacts=[{"name": "metrics", "type": "system.Metrics",
                    "uri": f"gs://models/runs/{run_id}/metrics", "metadata": {
                        "accuracy": accuracy}},
                   {"name": "model", "type": "system.Model",
                    "uri": f"gs://models/runs/{run_id}/model", "metadata": {
                        "framework": "scikit-learn", "feature_names": wine_features(),
                        "classes": [0, 1, 2]}}])


@pytest.fixture(scope="module")
def gcs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What the fake's model containers read gs://models/runs/<run id>/model from."""
    root = tmp_path_factory.mktemp("gcs")
    for depth, run_id in enumerate(RUNS, start=1):
        train_wine_model(root / "models" / "runs" / run_id, n_estimators=3, max_depth=depth)
    return root


@pytest.fixture
def vertex(gcs: Path) -> Iterator[Vertex]:
    with Vertex(files=gcs) as fake:
        yield fake


@pytest.fixture
def clients(vertex: Vertex) -> GcpClients:
    config = GcpConfig(project=PROJECT, region=REGION, artifact_repository="images",
                       registry_bucket="registry",
                       api_endpoints=ApiEndpoints(aiplatform=vertex.endpoint))
    return GcpClients(config, AnonymousCredentials())


@pytest.fixture
def backends(clients: GcpClients, tmp_path: Path) -> Backends:
    return Backends(
        builder=VenvBuilder(tmp_path / "envs"), registry=Registry(),
        runner=Runs([run_record(r) for r in RUNS]), locks=FileLockStore(tmp_path / "locks"),
        models=VertexModelRegistry(clients, request_timeout=1.0, poll_seconds=0.02,
                                   settle_seconds=0.5),
        endpoints=VertexEndpoints(clients, request_timeout=1.0, poll_seconds=0.02,
                                  settle_seconds=0.5))


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    folder = tmp_path / "repo"
    folder.mkdir()
    (folder / "mlops.yaml").write_text(MLOPS_YAML)
    (folder / "smoke.json").write_text(json.dumps({"instances": SAMPLE}))
    return folder


@pytest.fixture
def config(repo: Path) -> Config:
    return parse_config(MLOPS_YAML, "mlops.yaml")


@pytest.fixture
def deploy(backends: Backends, config: Config, repo: Path) -> Callable[..., PromotionResult]:
    def run(run_id: str, **options: Any) -> PromotionResult:
        return promote(backends, config, "staging", "wine_quality", repo_root=repo,
                       run_id=run_id, **options)
    return run


def deployed(vertex: Vertex) -> dict[str, str]:
    """deployed model id -> model version, as the endpoint holds them."""
    return {d["id"]: d["modelVersionId"] for d in vertex.endpoint_state()["deployedModels"]}


def aliases(vertex: Vertex) -> dict[str, list[str]]:
    return {v["versionId"]: sorted(v["versionAliases"]) for v in vertex.versions("wine_quality")}


def after_the_canary(vertex: Vertex, hook: Callable[[], None]) -> None:
    """Run `hook` (another writer) once the canary was smoke-tested, before the next change."""
    vertex.before["predict"] = lambda: vertex.before.__setitem__("update_endpoint", hook)


def only(ids: dict[str, str], version: str) -> str:
    [found] = [i for i, v in ids.items() if v == version]
    return found


# -- promotions ------------------------------------------------------------------------------

def test_a_first_promotion_creates_the_endpoint_and_serves_all_traffic(
        vertex: Vertex, deploy: Callable[..., PromotionResult]) -> None:
    result = deploy("run-1")

    stored = vertex.endpoint_state()
    [first] = deployed(vertex)
    url = f"{vertex.endpoint}/v1/{stored['name']}:predict"
    assert (result.status, result.message) == (
        "promoted", f"wine_quality version 1 (run run-1, commit 1111111) now serves 100% of "
                    f"staging at {url}")
    assert (stored["displayName"], stored["labels"]) == (
        "wine-staging", {"mlops-bot-environment": "staging", "mlops_bot": "true"})
    assert stored["trafficSplit"] == {first: 100} == result.traffic_after
    assert deployed(vertex) == {first: "1"} and result.deployed_model_id == first
    assert aliases(vertex) == {"1": ["default", "sha-1111111", "staging"]}
    [version] = vertex.versions("wine_quality")
    assert version["artifactUri"] == "gs://models/runs/run-1"
    # Served by the image its push built FROM the pipeline image, with the server in it.
    assert (version["containerSpec"]["imageUri"], result.image) == (SERVING_IMAGE, IMAGE)
    assert [s.action for s in result.steps] == ["create", "deploy"]
    assert result.smoke is not None and result.smoke["predictions"] == len(SAMPLE)
    assert (result.previous, result.traffic_before, result.url) == (None, {}, url)


def test_a_second_promotion_goes_through_a_canary_then_replaces_the_champion(
        vertex: Vertex, deploy: Callable[..., PromotionResult]) -> None:
    deploy("run-1")
    [champion] = deployed(vertex)
    vertex.splits_at_predict.clear()
    vertex.requests.clear()

    result = deploy("run-2")

    assert result.status == "promoted", result.message
    assert result.message.startswith("wine_quality version 2 (run run-2, commit 2222222) now "
                                     "serves 100% of staging")
    candidate = result.deployed_model_id
    assert candidate is not None and candidate != champion
    # The smoke test ran against the canary: the champion kept 75%, the candidate had 25%.
    assert vertex.splits_at_predict and all(s == {champion: 75, candidate: 25}
                                            for s in vertex.splits_at_predict)
    assert candidate in vertex.served
    writes = [r for r, method, _ in vertex.requests
              if method in ("POST", "PATCH") and r != "merge_version_aliases"]
    # The split to put back is recorded on the endpoint (labels) before the first change, and
    # taken off after the last.
    assert writes == ["upload_model", "update_endpoint", "deploy_model",
                      *["predict"] * vertex.calls("predict"), "update_endpoint", "undeploy_model",
                      "update_endpoint"]
    assert not any(k.startswith("mlops-bot-intent") for k in vertex.endpoint_state()["labels"])
    assert [(s.action, s.traffic) for s in result.steps] == [
        ("deploy", {champion: 75, candidate: 25}),
        ("traffic", {champion: 0, candidate: 100}),
        ("undeploy", {candidate: 100})]
    assert vertex.endpoint_state()["trafficSplit"] == {candidate: 100} == result.traffic_after
    assert deployed(vertex) == {candidate: "2"}
    assert result.traffic_before == {champion: 100}
    assert result.previous is not None and result.previous["deployed_model_id"] == champion
    assert aliases(vertex) == {"1": ["default", "sha-1111111", "staging-previous"],
                               "2": ["sha-2222222", "staging"]}


# -- failures ----------------------------------------------------------------------------------

def test_a_deployment_that_fails_leaves_the_champion_serving_as_before(
        vertex: Vertex, deploy: Callable[..., PromotionResult]) -> None:
    deploy("run-1")
    [champion] = deployed(vertex)
    before = vertex.endpoint_state()

    vertex.fail_next_deploy("Model server never became ready.")
    result = deploy("run-2")

    assert result.status == "deploy_failed"
    assert result.message == (
        "could not deploy wine_quality version 2 to endpoint wine-staging (staging): Vertex AI "
        "reports Model server never became ready. (code 13); the endpoint was left as it was: "
        "see the model's container logs in Cloud Logging; the traffic split was restored "
        f"({champion} 100%)")
    moved = ("etag", "updateTime")  # the record of the promotion came and went, nothing else
    assert {k: v for k, v in vertex.endpoint_state().items() if k not in moved} == {
        k: v for k, v in before.items() if k not in moved}
    assert deployed(vertex) == {champion: "1"} and result.traffic_after == {champion: 100}
    assert aliases(vertex)["1"] == ["default", "sha-1111111", "staging"]
    assert "staging" not in aliases(vertex)["2"]


def _bad_smoke_instances(vertex: Vertex, repo: Path) -> str:
    (repo / "smoke.json").write_text(json.dumps({"instances": [[1.0, 2.0]]}))
    return "smoke_failed"


def _full_traffic_unavailable(vertex: Vertex, repo: Path) -> str:
    def refuse() -> None:  # from the canary's smoke test on, each try of the 100% answers 503
        vertex.fail("update_endpoint", 503, times=3)
    vertex.before["predict"] = refuse
    return "deploy_failed"


@pytest.mark.parametrize("fault", [_bad_smoke_instances, _full_traffic_unavailable],
                         ids=["smoke-test-fails", "full-traffic-503"])
def test_a_failure_after_the_canary_restores_the_split_and_undeploys_the_candidate(
        vertex: Vertex, deploy: Callable[..., PromotionResult], repo: Path,
        fault: Callable[[Vertex, Path], str]) -> None:
    deploy("run-1")
    [champion] = deployed(vertex)
    status = fault(vertex, repo)

    result = deploy("run-2")

    assert result.status == status, result.message
    assert result.message.endswith(f"; the traffic split was restored ({champion} 100%)")
    candidate = result.deployed_model_id
    assert candidate is not None and candidate != champion
    assert [s.action for s in result.steps] == ["deploy", "restore", "restore-undeploy"]
    assert result.steps[0].traffic == {champion: 75, candidate: 25}
    assert vertex.endpoint_state()["trafficSplit"] == {champion: 100} == result.traffic_after
    assert deployed(vertex) == {champion: "1"}
    assert vertex.deployments() == ["1", "2"]
    assert aliases(vertex)["1"] == ["default", "sha-1111111", "staging"]
    if status == "smoke_failed":
        assert result.message.startswith(
            "smoke test failed: endpoint wine-staging (staging) cannot predict the sample "
            f"instances with {candidate}: ")
        assert "expected 13 feature values, got 2" in result.message
    else:
        assert result.message.startswith(
            f"could not set the traffic of endpoint wine-staging (staging) to {{'{candidate}': "
            "100} after 3 tries; run the command again")
        # The first promotion's record and its removal, this one's record, three tries, the
        # restore and the record's removal.
        assert vertex.calls("update_endpoint") == 8


def test_another_writer_mid_rollout_is_not_overwritten(
        vertex: Vertex, clients: GcpClients, deploy: Callable[..., PromotionResult]) -> None:
    deploy("run-1")
    [champion] = deployed(vertex)
    other = VertexEndpoints(clients, request_timeout=1.0, poll_seconds=0.02)
    theirs: dict[str, int] = {}

    def hold_the_rollout() -> None:  # someone splits 50/50 after our canary, before our 100%
        record = other.get("staging")
        assert record is not None
        [candidate] = set(record.traffic) - {champion}
        theirs.update({champion: 50, candidate: 50})
        other.set_traffic(record, theirs)
    after_the_canary(vertex, hold_the_rollout)

    result = deploy("run-2")

    assert result.status == "concurrent_change"
    assert "changed while this ran" in result.message
    assert "nothing was overwritten" in result.message
    assert vertex.endpoint_state()["trafficSplit"] == theirs
    assert set(deployed(vertex)) == set(theirs)
    assert [s.action for s in result.steps] == ["deploy"]
    assert aliases(vertex)["1"] == ["default", "sha-1111111", "staging"]


def test_running_it_again_after_a_concurrent_change_finishes_the_rollout(
        vertex: Vertex, clients: GcpClients, deploy: Callable[..., PromotionResult]) -> None:
    deploy("run-1")
    other = VertexEndpoints(clients, request_timeout=1.0, poll_seconds=0.02)

    def hold_the_rollout() -> None:
        record = other.get("staging")
        assert record is not None
        other.set_traffic(record, dict.fromkeys(record.traffic, 50))
    after_the_canary(vertex, hold_the_rollout)
    assert deploy("run-2").status == "concurrent_change"

    result = deploy("run-2")

    assert result.status == "promoted", result.message
    assert [s.action for s in result.steps] == ["canary", "traffic", "undeploy"]
    assert len(vertex.versions("wine_quality")) == 2
    assert vertex.deployments() == ["1", "2"]  # the candidate deployed before is reused
    assert deployed(vertex) == {result.deployed_model_id: "2"}
    assert vertex.endpoint_state()["trafficSplit"] == {result.deployed_model_id: 100}

def test_an_endpoint_changed_before_the_deployment_stops_everything(
        vertex: Vertex, clients: GcpClients, deploy: Callable[..., PromotionResult]) -> None:
    deploy("run-1")
    [champion] = deployed(vertex)

    def relabel() -> None:  # someone edits the endpoint while the candidate is registered
        from google.cloud.aiplatform_v1 import Endpoint
        from google.protobuf import field_mask_pb2

        name = vertex.endpoint_state()["name"]
        clients.endpoints.update_endpoint(
            endpoint=Endpoint(name=name, description="frozen for the audit"),
            update_mask=field_mask_pb2.FieldMask(paths=["description"]))
    vertex.before["upload_model"] = relabel
    etag = vertex.endpoint_state()["etag"]

    result = deploy("run-2")

    after = vertex.endpoint_state()
    assert result.status == "concurrent_change"
    assert result.message == (
        f"the staging endpoint changed while this ran (revision {etag} was read, it is now "
        f"{after['etag']}): nothing was changed; run the command again")
    assert after["description"] == "frozen for the audit"
    assert after["trafficSplit"] == {champion: 100} and deployed(vertex) == {champion: "1"}
    # The first promotion's record of what it changed and its removal, then their edit.
    assert vertex.calls("deploy_model") == 1 and vertex.calls("update_endpoint") == 3


def test_transient_503s_mid_promotion_still_promote_once(
        vertex: Vertex, deploy: Callable[..., PromotionResult]) -> None:
    deploy("run-1")
    [champion] = deployed(vertex)
    for route in ("upload_model", "deploy_model", "get_operation", "update_endpoint",
                  "get_endpoint", "undeploy_model", "merge_version_aliases", "predict"):
        vertex.fail(route, 503)

    result = deploy("run-2")

    assert result.status == "promoted", result.message
    assert vertex.unused_faults() == []  # each route did answer 503 once
    assert [v["labels"]["run_id"] for v in vertex.versions("wine_quality")] == ["run-1", "run-2"]
    assert vertex.deployments() == ["1", "2"]
    candidate = result.deployed_model_id
    assert candidate is not None and deployed(vertex) == {candidate: "2"}
    assert vertex.endpoint_state()["trafficSplit"] == {candidate: 100}
    assert aliases(vertex) == {"1": ["default", "sha-1111111", "staging-previous"],
                               "2": ["sha-2222222", "staging"]}
    assert champion not in deployed(vertex)


def test_a_deployment_answered_too_late_is_not_made_twice(
        vertex: Vertex, deploy: Callable[..., PromotionResult]) -> None:
    deploy("run-1")
    vertex.stall("deploy_model", 1.2)  # accepted; answered after the client gave up

    result = deploy("run-2")

    assert result.status == "promoted", result.message
    assert vertex.deployments() == ["1", "2"] and vertex.calls("deploy_model") == 2
    assert deployed(vertex) == {result.deployed_model_id: "2"}


# -- idempotence and rollback ------------------------------------------------------------------

def test_promoting_the_same_run_again_changes_nothing(
        vertex: Vertex, deploy: Callable[..., PromotionResult]) -> None:
    first = deploy("run-1")
    before = vertex.endpoint_state()

    again = deploy("run-1")

    assert again.status == "unchanged"
    assert again.message == ("wine_quality version 1 from run run-1 already serves 100% of "
                             "staging: nothing to do")
    assert (again.model_version, again.deployed_model_id) == ("1", first.deployed_model_id)
    assert vertex.endpoint_state() == before
    assert len(vertex.versions("wine_quality")) == 1
    assert vertex.calls("upload_model") == vertex.calls("deploy_model") == 1


def test_rollback_after_two_promotions_serves_the_previous_version(
        vertex: Vertex, backends: Backends, config: Config, repo: Path,
        deploy: Callable[..., PromotionResult]) -> None:
    deploy("run-1")
    deploy("run-2")

    result = rollback(backends, config, "staging", None, repo_root=repo)

    assert result.status == "rolled_back", result.message
    assert result.message == ("staging rolled back from wine_quality version 2 to wine_quality "
                              "version 1 (run run-1, commit 1111111)")
    assert (result.from_version, result.to_version) == ("2", "1")
    [back] = deployed(vertex)
    assert deployed(vertex) == {back: "1"}
    assert vertex.endpoint_state()["trafficSplit"] == {back: 100} == result.traffic_after
    assert aliases(vertex) == {"1": ["default", "sha-1111111", "staging"],
                               "2": ["sha-2222222", "staging-previous"]}
    record = backends.endpoints.get("staging")
    assert record is not None
    assert backends.endpoints.predict(record, SAMPLE) and vertex.served[-1] == back


def test_a_concurrent_change_reports_the_split_the_endpoint_has(
        vertex: Vertex, clients: GcpClients, deploy: Callable[..., PromotionResult]) -> None:
    deploy("run-1")
    other = VertexEndpoints(clients, request_timeout=1.0, poll_seconds=0.02)

    def hold_the_rollout() -> None:
        record = other.get("staging")
        assert record is not None
        other.set_traffic(record, dict.fromkeys(record.traffic, 50))
    after_the_canary(vertex, hold_the_rollout)

    result = deploy("run-2")

    assert result.status == "concurrent_change"
    assert result.traffic_after == vertex.endpoint_state()["trafficSplit"]


def test_a_deployment_that_outlives_its_deadline_does_not_take_traffic_later(
        vertex: Vertex, clients: GcpClients, backends: Backends, config: Config,
        repo: Path) -> None:
    promote(backends, config, "staging", "wine_quality", repo_root=repo, run_id="run-1")
    [champion] = deployed(vertex)
    impatient = dataclasses.replace(backends, endpoints=VertexEndpoints(
        clients, request_timeout=1.0, poll_seconds=0.02, settle_seconds=0.5,
        deploy_timeout=0.2))
    vertex.deploy_seconds = 0.6

    result = promote(impatient, config, "staging", "wine_quality", repo_root=repo,
                     run_id="run-2")
    assert result.status == "deploy_failed"
    assert "not done after 0.2 s" in result.message
    # Its take-back was still under way: the record of the promotion stays for the next one.
    assert f"the traffic split was restored ({champion} 100%); the record of this change stays " \
        "on the endpoint (the endpoint changed meanwhile)" in result.message
    time.sleep(0.6)  # Vertex AI finishes the operation it was given

    assert vertex.endpoint_state()["trafficSplit"] == {champion: 100}


def test_a_promotion_killed_after_its_canary_is_put_back_by_the_next_rollback(
        vertex: Vertex, backends: Backends, config: Config, repo: Path,
        deploy: Callable[..., PromotionResult]) -> None:
    from mlops_bot.backends.model_types import NEW_DEPLOYMENT
    from mlops_bot.flows.promote_inputs import model_candidate
    from mlops_bot.flows.traffic import EndpointChanges

    deploy("run-1")
    [champion] = deployed(vertex)
    record = backends.endpoints.get("staging")
    run = backends.runner.get("run-2")
    assert record is not None and run is not None
    second = backends.models.register(dataclasses.replace(
        model_candidate(backends, run), serving_image=SERVING_IMAGE))
    # What a promotion does up to its canary, in a process that is then killed (SIGKILL).
    changes = EndpointChanges(backends.endpoints, record, [])
    changes.begin("deploy", "wine_quality version 2")
    canary = changes.deploy(second, {champion: 75, NEW_DEPLOYMENT: 25})
    labels = vertex.endpoint_state()["labels"]
    assert labels["mlops-bot-intent"] == "deploy"
    assert labels[f"mlops-bot-restore-{champion}"] == "100"
    assert labels["mlops-bot-intent-of"] == "wine_quality-version-2"

    result = rollback(backends, config, "staging", None, repo_root=repo)

    assert result.status == "rolled_back", result.message
    assert result.message.startswith("staging rolled back: a deploy of wine_quality-version-2 "
                                     "to staging (started 20")
    assert result.message.endswith(f"stopped half-way: the traffic split it recorded was put "
                                   f"back ({champion} 100%)")
    assert result.traffic_before == {champion: 75, canary: 25}
    assert vertex.endpoint_state()["trafficSplit"] == {champion: 100} == result.traffic_after
    assert deployed(vertex) == {champion: "1"}
    assert vertex.endpoint_state()["labels"] == {"mlops-bot-environment": "staging",
                                                 "mlops_bot": "true"}
    assert aliases(vertex)["1"] == ["default", "sha-1111111", "staging"]
