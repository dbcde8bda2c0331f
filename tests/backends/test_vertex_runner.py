"""The Vertex AI runner, with the real aiplatform_v1 client against a local fake (REST).

The spec is compiled by the real kfp compiler; the fake derives the run's task details and
artifacts from it, as Vertex does.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from google.auth.credentials import AnonymousCredentials

from mlops_bot.backends.gcp.clients import GcpClients
from mlops_bot.backends.gcp.pipeline_job_spec import job_id_for
from mlops_bot.backends.gcp.runner import VertexRunner
from mlops_bot.backends.types import RunRequest
from mlops_bot.config import ApiEndpoints, GcpConfig
from tests.support.fake_vertex_pipelines import FakeVertexPipelines

PROJECT, REGION, BUCKET = "test-project", "europe-west4", "registry"
SHA = "0123456789abcdef0123456789abcdef01234567"
IMAGE = f"{REGION}-docker.pkg.dev/{PROJECT}/images/wine@sha256:{'e' * 64}"
CONSOLE = f"https://console.cloud.google.com/vertex-ai/locations/{REGION}/pipelines/runs"


DEFINITION = """from kfp import dsl


@dsl.component(base_image="wine")
def prepare(size: int, data: dsl.Output[dsl.Dataset]) -> None:
    print(size)


@dsl.component(base_image="wine")
def train(data: dsl.Input[dsl.Dataset], model: dsl.Output[dsl.Model],
          metrics: dsl.Output[dsl.Metrics]) -> None:
    metrics.log_metric("accuracy", 0.9)


@dsl.pipeline(name="wine")
def wine(size: int = 1, label: str = "quality") -> None:
    train(data=prepare(size=size).outputs["data"])
"""


@pytest.fixture(scope="module")
def spec(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    from mlops_bot.compile import compile_pipeline

    root = tmp_path_factory.mktemp("repo")
    (root / "pipelines" / "wine").mkdir(parents=True)
    (root / "pipelines" / "wine" / "definition.py").write_text(DEFINITION)
    compiled = compile_pipeline(root, "pipelines/wine", {"wine": IMAGE})
    assert compiled.images == {"wine": IMAGE}
    return compiled.spec


@pytest.fixture
def vertex() -> Iterator[FakeVertexPipelines]:
    with FakeVertexPipelines() as fake:
        yield fake


@pytest.fixture
def said() -> list[str]:
    return []


@pytest.fixture
def make_runner(vertex: FakeVertexPipelines, said: list[str]) -> Any:
    def make(**options: Any) -> VertexRunner:
        settings = {k: options.pop(k) for k in ("pipeline_root", "service_account", "network",
                                                "encryption_key") if k in options}
        config = GcpConfig(project=PROJECT, region=REGION, artifact_repository="images",
                           registry_bucket=BUCKET, **settings,
                           api_endpoints=ApiEndpoints(aiplatform=vertex.endpoint))
        clients = GcpClients(config, credentials=AnonymousCredentials())
        return VertexRunner(clients, **{"poll_seconds": 0.02, "progress": said.append,
                                        "request_timeout": 2.0, **options})
    return make


def request(spec: bytes, run_id: str = "wine-0123456789abcdef", sha: str = SHA,
            pipeline: str = "wine", **extra: Any) -> RunRequest:
    return RunRequest(run_id=run_id, pipeline=pipeline, version="v-00112233aabbccdd", spec=spec,
                      parameters={"size": 3, "label": "quality"}, git_sha=sha, trigger="push",
                      images={"wine": IMAGE}, **extra)


# -- running ---------------------------------------------------------------------------------

def test_a_run_is_one_pipeline_job_whose_metrics_and_model_come_back(
        vertex: FakeVertexPipelines, make_runner: Any, spec: bytes, said: list[str]) -> None:
    record = make_runner().run(request(spec))

    [job_id] = vertex.jobs
    assert job_id == "wine-0123456789abcdef"  # the run id, as the job id
    assert (record.status, record.error) == ("succeeded", None)
    assert record.url == f"{CONSOLE}/{job_id}?project={PROJECT}"
    assert record.metrics == {"accuracy": 0.91, "f1": 0.88}
    [model] = [a for a in record.artifacts if a["type"] == "system.Model"]
    assert (model["task"], model["name"]) == ("train", "model")
    assert model["uri"].startswith(f"gs://{BUCKET}/runs/") and model["uri"].endswith("/model")
    assert {(a["task"], a["type"]) for a in record.artifacts} == {
        ("prepare", "system.Dataset"), ("train", "system.Model"), ("train", "system.Metrics")}
    assert (record.pipeline, record.git_sha, record.finished_at is not None) == ("wine", SHA, True)
    assert any(record.url in line for line in said)  # the link, while it runs
    assert any("RUNNING" in line for line in said) and any("SUCCEEDED" in line for line in said)


def test_the_job_carries_labels_runtime_config_and_identity_from_config(
        vertex: FakeVertexPipelines, make_runner: Any, spec: bytes) -> None:
    runner = make_runner(
        pipeline_root="gs://runs-bucket/root", service_account="runner@p.iam.gserviceaccount.com",
        network="projects/123/global/networks/vpc",
        encryption_key="projects/p/locations/europe-west4/keyRings/r/cryptoKeys/k")
    runner.run(request(spec, labels={"git-sha": SHA[:12], "Cost-Center": "Data Science"}))

    sent = vertex.sent("wine-0123456789abcdef")
    assert sent["labels"] == {"mlops_bot": "true", "pipeline": "wine",
                              "version": "v-00112233aabbccdd", "git_sha": SHA, "trigger": "push",
                              "run_id": "wine-0123456789abcdef", "cost_center": "data-science"}
    assert sent["runtimeConfig"] == {"gcsOutputDirectory": "gs://runs-bucket/root",
                                     "parameterValues": {"size": 3.0, "label": "quality"}}
    assert sent["serviceAccount"] == "runner@p.iam.gserviceaccount.com"
    assert sent["network"] == "projects/123/global/networks/vpc"
    assert sent["encryptionSpec"] == {
        "kmsKeyName": "projects/p/locations/europe-west4/keyRings/r/cryptoKeys/k"}
    assert sent["displayName"] == "wine"
    # The spec as compiled: images pinned by the compiler, caching untouched.
    assert sent["pipelineSpec"] == yaml.safe_load(spec)


def test_caching_off_is_set_in_every_task(vertex: FakeVertexPipelines, make_runner: Any,
                                          spec: bytes) -> None:
    make_runner().run(request(spec, labels={"enable-caching": "false"}))

    tasks = vertex.sent("wine-0123456789abcdef")["pipelineSpec"]["root"]["dag"]["tasks"]
    assert {t["cachingOptions"].get("enableCache", False) for t in tasks.values()} == {False}
    assert yaml.safe_load(spec)["root"]["dag"]["tasks"]["train"]["cachingOptions"] == {
        "enableCache": True}  # compiled with caching on


def test_without_pipeline_root_runs_go_under_the_registry_bucket(
        vertex: FakeVertexPipelines, make_runner: Any, spec: bytes) -> None:
    make_runner().run(request(spec))
    assert vertex.sent("wine-0123456789abcdef")["runtimeConfig"]["gcsOutputDirectory"] == (
        f"gs://{BUCKET}/runs")


def test_a_run_id_vertex_would_refuse_becomes_a_valid_job_id(
        vertex: FakeVertexPipelines, make_runner: Any, spec: bytes) -> None:
    record = make_runner().run(request(spec, run_id="2024_Wine.Quality"))

    [job_id] = vertex.jobs
    assert job_id == job_id_for("2024_Wine.Quality") and record.status == "succeeded"
    assert job_id.startswith("run-2024-wine-quality-") and job_id != job_id_for("2024-wine-quality")
    assert len(job_id_for("x" * 300)) == 128 and len(job_id_for("x" * 300, 3)) == 128
    assert job_id_for("x" * 300, 3).endswith("-a3")


# -- exactly one job -------------------------------------------------------------------------

def test_a_second_run_of_the_same_id_attaches_to_the_job(
        vertex: FakeVertexPipelines, make_runner: Any, spec: bytes, said: list[str]) -> None:
    runner = make_runner()
    first = runner.run(request(spec))
    second = runner.run(request(spec))

    assert len(vertex.jobs) == 1 and vertex.calls("create_pipeline_job") == 2  # the 2nd: 409
    assert (second.status, second.url, second.metrics) == ("succeeded", first.url, first.metrics)
    assert any("attaching to pipeline job wine-0123456789abcdef" in line for line in said)


def test_a_503_on_create_is_retried_and_starts_one_job(
        vertex: FakeVertexPipelines, make_runner: Any, spec: bytes) -> None:
    vertex.fail("create_pipeline_job", 503)

    record = make_runner().run(request(spec))

    assert record.status == "succeeded"
    assert len(vertex.jobs) == 1 and vertex.calls("create_pipeline_job") == 2


def test_a_create_that_timed_out_after_vertex_accepted_it_starts_no_second_job(
        vertex: FakeVertexPipelines, make_runner: Any, spec: bytes, said: list[str]) -> None:
    vertex.stall("create_pipeline_job", 1.5)

    record = make_runner(request_timeout=0.5).run(request(spec))

    assert record.status == "succeeded"
    assert len(vertex.jobs) == 1 and vertex.calls("create_pipeline_job") == 1
    assert any("created by the request that failed" in line for line in said)


def test_create_failing_every_time_is_a_failed_run_naming_the_job(
        vertex: FakeVertexPipelines, make_runner: Any, spec: bytes) -> None:
    vertex.fail("create_pipeline_job", 503, times=None)

    record = make_runner().run(request(spec))

    assert record.status == "failed" and not vertex.jobs
    assert "could not start pipeline job wine-0123456789abcdef" in (record.error or "")
    assert vertex.calls("create_pipeline_job") == 3


def test_permission_denied_names_the_permission_and_the_build_identity(
        vertex: FakeVertexPipelines, make_runner: Any, spec: bytes) -> None:
    vertex.fail("create_pipeline_job", 403)

    record = make_runner(service_account="runner@p.iam.gserviceaccount.com").run(request(spec))

    assert record.status == "failed"
    assert ("aiplatform.pipelineJobs.create is held by the build identity (mlops-bot-build@"
            "test-project.iam.gserviceaccount.com, custom role mlopsBotBuild on project "
            "test-project)") in (record.error or "")
    assert "`mlops-bot bootstrap` prints them" in (record.error or "")
    assert "roles/aiplatform.user" not in (record.error or "")


# -- failures and deadlines ------------------------------------------------------------------

def test_a_failed_run_names_the_failed_task_and_its_error(
        vertex: FakeVertexPipelines, make_runner: Any, spec: bytes) -> None:
    vertex.set_outcome("FAILED", failing_task="train")

    record = make_runner().run(request(spec))

    assert record.status == "failed" and record.metrics == {}
    assert record.error == ("task train failed: The replica workerpool0-0 exited with a non-zero "
                            "status of 1. Termination reason: Error.")
    assert record.url and record.url.endswith("/wine-0123456789abcdef?project=test-project")


def test_a_failed_run_is_run_again_as_the_next_attempt(
        vertex: FakeVertexPipelines, make_runner: Any, spec: bytes) -> None:
    runner = make_runner()
    vertex.set_outcome("FAILED", failing_task="prepare")
    assert runner.run(request(spec)).status == "failed"
    vertex.set_outcome("SUCCEEDED")

    record = runner.run(request(spec))

    assert list(vertex.jobs) == ["wine-0123456789abcdef", "wine-0123456789abcdef-a2"]
    assert record.status == "succeeded" and record.url and "-a2?" in record.url
    got = runner.get("wine-0123456789abcdef")
    assert got is not None and (got.status, got.url) == ("succeeded", record.url)


def test_a_run_past_the_deadline_says_so_and_where_it_still_runs(
        vertex: FakeVertexPipelines, make_runner: Any, spec: bytes) -> None:
    vertex.set_outcome("RUNNING")

    record = make_runner(deadline_seconds=0.3).run(request(spec))

    assert record.status == "failed"
    assert "did not finish within 0.3 s (gcp.run_timeout_seconds in mlops.yaml)" in (
        record.error or "")
    assert "still running on Vertex AI" in (record.error or "")
    assert f"{CONSOLE}/wine-0123456789abcdef?project={PROJECT}" in (record.error or "")
    assert len(vertex.jobs) == 1


# -- finding runs ----------------------------------------------------------------------------

def test_get_returns_the_record_or_none(vertex: FakeVertexPipelines, make_runner: Any,
                                        spec: bytes) -> None:
    runner = make_runner()
    assert runner.get("wine-0123456789abcdef") is None
    runner.run(request(spec))

    record = runner.get("wine-0123456789abcdef")

    assert record is not None and record.status == "succeeded"
    assert record.parameters == {"size": 3, "label": "quality"}  # an int again, per the spec
    assert (record.pipeline, record.version, record.git_sha, record.trigger) == (
        "wine", "v-00112233aabbccdd", SHA, "push")
    assert record.metrics == {"accuracy": 0.91, "f1": 0.88}


def test_runs_are_found_by_pipeline_and_sha_newest_first(
        vertex: FakeVertexPipelines, make_runner: Any, spec: bytes) -> None:
    runner = make_runner()
    other = "f" * 40
    runner.run(request(spec, run_id="wine-a"))
    runner.run(request(spec, run_id="wine-b", sha=other))
    runner.run(request(spec, run_id="wine-c"))
    runner.run(request(spec, run_id="beer-a", pipeline="beer"))

    assert [r.run_id for r in runner.runs("wine", SHA)] == ["wine-c", "wine-a"]
    assert [r.run_id for r in runner.runs("wine", SHA[:7])] == ["wine-c", "wine-a"]
    assert [r.run_id for r in runner.runs(git_sha=other)] == ["wine-b"]
    assert [r.run_id for r in runner.runs()] == ["beer-a", "wine-c", "wine-b", "wine-a"]
    assert runner.runs("lager") == []
    filters = [path for route, _, path in vertex.requests if route == "list_pipeline_jobs"]
    assert "labels.git_sha" in filters[0]  # a full SHA is filtered by Vertex, not here


def test_runs_ignore_jobs_mlops_bot_did_not_start(vertex: FakeVertexPipelines, make_runner: Any,
                                                  spec: bytes) -> None:
    runner = make_runner()
    runner.run(request(spec, run_id="wine-a"))
    vertex.jobs["wine-a"].resource["labels"].pop("mlops_bot")

    assert runner.runs() == []
