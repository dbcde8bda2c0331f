"""Float outputs of a Vertex AI run's final tasks become its metrics, with their source.

Vertex keeps a task's output parameters in its execution's metadata as `output:<name>`; the fake
answers so, and the real aiplatform_v1 client reads the job from it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from google.auth.credentials import AnonymousCredentials

from mlops_bot.backends.gcp.clients import GcpClients
from mlops_bot.backends.gcp.runner import VertexRunner
from mlops_bot.backends.run_metrics import metric_sources
from mlops_bot.backends.types import RunRequest
from mlops_bot.config import ApiEndpoints, GcpConfig
from tests.support.fake_vertex_pipelines import FakeVertexPipelines

PROJECT, REGION = "test-project", "europe-west4"
IMAGE = f"{REGION}-docker.pkg.dev/{PROJECT}/images/demo@sha256:{'e' * 64}"
DEFINITION = """from typing import NamedTuple

from kfp import dsl


@dsl.component(base_image="demo")
def train(model: dsl.Output[dsl.Model]) -> float:
    return 0.5


@dsl.component(base_image="demo")
def evaluate(model: dsl.Input[dsl.Model]) -> NamedTuple("Outputs", accuracy=float, rows=int):
    return (0.93, 10)


@dsl.pipeline(name="demo")
def demo() -> None:
    evaluate(model=train().outputs["model"])
"""


@pytest.fixture
def pipelines() -> Iterator[FakeVertexPipelines]:
    with FakeVertexPipelines() as fake:
        yield fake


def test_the_final_tasks_float_outputs_are_metrics(pipelines: FakeVertexPipelines,
                                                    tmp_path) -> None:
    from mlops_bot.compile import compile_pipeline

    (tmp_path / "pipelines" / "demo").mkdir(parents=True)
    (tmp_path / "pipelines" / "demo" / "definition.py").write_text(DEFINITION)
    spec = compile_pipeline(tmp_path, "pipelines/demo", {"demo": IMAGE}).spec
    # train's float (not a final task's) and evaluate's int are not metrics
    pipelines.outcome.outputs = {"Output": 0.5, "accuracy": 0.93, "rows": 10}
    config = GcpConfig(project=PROJECT, region=REGION, artifact_repository="images",
                       registry_bucket="registry",
                       api_endpoints=ApiEndpoints(aiplatform=pipelines.endpoint))
    runner = VertexRunner(GcpClients(config, credentials=AnonymousCredentials()),
                          poll_seconds=0.02, progress=lambda _: None, request_timeout=2.0)

    record = runner.run(RunRequest(run_id="demo-0123456789abcdef", pipeline="demo",
                                   version="v-1", spec=spec, parameters={}, git_sha="a" * 40,
                                   trigger="push", images={"demo": IMAGE}))

    assert record.status == "succeeded"
    assert record.metrics == {"accuracy": 0.93}
    assert metric_sources(record.artifacts) == {
        "accuracy": (0.93, ("output", "accuracy", "evaluate"))}
