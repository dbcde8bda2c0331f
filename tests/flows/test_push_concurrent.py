"""A push's runs overlap: each starts once its pipeline is published, all are waited for together
under one deadline, each reported as it ends. Real git repositories, the real kfp compiler, and
the real google-cloud clients against the fake Cloud Build, Cloud Storage and Vertex AI servers
(polled every 50 ms instead of every few seconds)."""

from __future__ import annotations

import dataclasses
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlops_bot.backends.factory import Backends
from mlops_bot.backends.gcp.builder import CloudBuildBuilder
from mlops_bot.backends.gcp.clients import GcpClients
from mlops_bot.backends.gcp.factory import gcp_backends
from mlops_bot.backends.gcp.runner import VertexRunner
from mlops_bot.config import Config, load_config
from mlops_bot.flows.push import PushFlow, PushResult
from mlops_bot.flows.results.push import RunOutcome
from mlops_bot.flows.retrain import RetrainFlow
from mlops_bot.flows.schedules import parse_now
from mlops_bot.github.console_forge import ConsoleForge
from mlops_bot.repo.git import GitRepo
from mlops_bot.report.push_report import render_push_text
from tests.support.fake_gcp import FakeGcp
from tests.support.fake_gcs import FakeGcs
from tests.support.fake_vertex_pipelines import FakeVertexPipelines
from tests.support.gitrepo import GitRepoBuilder, pipeline_files

PROJECT, REGION, BUCKET = "acme-ml", "europe-west4", "acme-registry"


@dataclass
class Cloud:
    gcs: FakeGcs
    gcp: FakeGcp
    vertex: FakeVertexPipelines

    def mlops_yaml(self, schedules: list[dict[str, Any]] | None = None, **run: Any) -> str:
        return yaml.safe_dump({"backend": "gcp", "run": run, "schedules": schedules or [], "gcp": {
            "project": PROJECT, "region": REGION, "artifact_repository": "images",
            "registry_bucket": BUCKET, "api_endpoints": {
                "storage": self.gcs.endpoint, "cloudbuild": self.gcp.endpoint,
                "artifactregistry": self.gcp.endpoint, "aiplatform": self.vertex.endpoint}}})


@pytest.fixture
def cloud() -> Iterator[Cloud]:
    with FakeGcs(buckets=[BUCKET]) as gcs, FakeGcp() as gcp, FakeVertexPipelines() as vertex:
        gcp.set_outcome("SUCCESS", after_polls=1)
        yield Cloud(gcs, gcp, vertex)


def backends_of(config: Config) -> Backends:
    """The gcp backends, polling every 50 ms."""
    assert config.gcp is not None
    clients = GcpClients(config.gcp)
    return dataclasses.replace(gcp_backends(config.gcp),
                               builder=CloudBuildBuilder(clients, poll_seconds=0.05),
                               runner=VertexRunner(clients, poll_seconds=0.05))


def push(builder: GitRepoBuilder, cloud: Cloud, names: list[str], wait: bool = True,
         schedules: list[dict[str, Any]] | None = None,
         **run: Any) -> tuple[PushResult, list[RunOutcome], float]:
    """Push a commit adding `names`; the result, the runs in the order they ended, the seconds."""
    base = builder.commit({"README.md": "models\n"})
    head = builder.commit({"mlops.yaml": cloud.mlops_yaml(schedules, **run),
                           **{k: v for n in names for k, v in pipeline_files(n).items()}})
    config = load_config(builder.path)
    backends = backends_of(config)
    ended: list[RunOutcome] = []
    flow = PushFlow(GitRepo(builder.path), config, backends, "main", wait=wait,
                    on_run=ended.append)
    started = time.monotonic()
    result = flow.run(base, head, {})
    return result, ended, time.monotonic() - started


@pytest.fixture
def builder(tmp_path: Path) -> GitRepoBuilder:
    return GitRepoBuilder(tmp_path / "repo")


def test_runs_of_several_pipelines_overlap_and_are_reported_as_each_ends(
        cloud: Cloud, builder: GitRepoBuilder, capsys: pytest.CaptureFixture[str]) -> None:
    for name, seconds in (("alpha", 1.6), ("beta", 0.4), ("gamma", 1.0)):
        cloud.vertex.set_outcome("SUCCEEDED", seconds=seconds, pipeline=name)

    result, ended, _ = push(builder, cloud, ["alpha", "beta", "gamma"])

    assert [(r.pipeline, r.status) for r in result.runs] == [
        ("alpha", "succeeded"), ("beta", "succeeded"), ("gamma", "succeeded")]
    assert [r.pipeline for r in ended] == ["beta", "gamma", "alpha"]  # as each ended
    # Overlapping: the three jobs lived at the same time (run one after another, the first
    # would have ended before the last was created).
    jobs = list(cloud.vertex.jobs.values())
    assert max(j.created for j in jobs) < min(j.created + j.outcome.seconds  # type: ignore
                                              for j in jobs)
    said = re.findall(r"^  (\w+): run \S+ succeeded: https://", capsys.readouterr().err, re.M)
    assert said == ["beta", "gamma", "alpha"]  # progress lines in the order the runs ended


def test_n_runs_of_t_seconds_take_about_t_not_n_times_t(cloud: Cloud,
                                                        builder: GitRepoBuilder) -> None:
    cloud.vertex.set_outcome("SUCCEEDED", seconds=1.0)

    def runs_span(result: PushResult) -> float:
        """From the push's first job created to its end: without the first push's one-off
        imports (kfp, the clients), which would favour whichever push is timed second."""
        assert [r.status for r in result.runs] == ["succeeded"] * 4
        first = min(j.created for j in cloud.vertex.jobs.values()
                    if j.request["labels"]["pipeline"] in {r.pipeline for r in result.runs})
        return time.monotonic() - first

    concurrent = runs_span(push(builder, cloud, [f"p{i}" for i in range(4)])[0])
    sequential_builder = GitRepoBuilder(builder.path.parent / "sequential")
    sequential = runs_span(push(sequential_builder, cloud, [f"q{i}" for i in range(4)],
                                max_parallel=1)[0])
    # One after another costs 4 x 1 s of runs; together, about 1 s (plus compiling).
    assert sequential > 4.0
    assert concurrent < sequential - 2.0, (concurrent, sequential)


def test_a_failing_run_does_not_stop_the_others(cloud: Cloud, builder: GitRepoBuilder) -> None:
    cloud.vertex.set_outcome("SUCCEEDED", seconds=0.5)
    cloud.vertex.set_outcome("FAILED", after_polls=1, failing_task="train",
                             task_error="ValueError: no rows", pipeline="beta")

    result, ended, _ = push(builder, cloud, ["alpha", "beta", "gamma"])

    assert not result.ok
    assert [(r.pipeline, r.status) for r in result.runs] == [
        ("alpha", "succeeded"), ("beta", "failed"), ("gamma", "succeeded")]
    assert "ValueError: no rows" in (result.runs[1].error or "")
    assert ended[0].pipeline == "beta"  # it ended first, and was reported then


def test_one_deadline_for_all_the_runs_of_a_push(cloud: Cloud, builder: GitRepoBuilder) -> None:
    cloud.vertex.set_outcome("RUNNING")  # never ends

    # The deadline counts from the push's start: builds and compiles (a few seconds on a busy
    # machine) come out of it too.
    result, _, seconds = push(builder, cloud, ["alpha", "beta", "gamma"], max_parallel=2,
                              timeout_seconds=6)

    assert seconds < 16  # not 6 s per run waited for in turn, and no endless wait
    statuses = {r.pipeline: (r.status, r.error or "") for r in result.runs}
    assert all(status == "failed" for status, _ in statuses.values())
    waited = [e for _, e in statuses.values() if "did not finish within the deadline of all "
              "the runs (run.timeout_seconds in mlops.yaml)" in e]
    queued = [e for _, e in statuses.values() if "was not started: the deadline" in e]
    # Two ran at once and were waited for until the deadline; the third never got a slot.
    assert (len(waited), len(queued)) == (2, 1), statuses
    assert len(cloud.vertex.jobs) == 2
    # The push fails (exit 1), and the report names where each still-running job goes on.
    assert not result.ok
    report = render_push_text(result)
    assert all(run.url and f"see {run.url}" in (run.error or "") and run.url in report
               for run in result.runs if "did not finish" in (run.error or "")), report


def test_a_failed_build_fails_its_pipeline_only_and_the_others_run(
        cloud: Cloud, builder: GitRepoBuilder) -> None:
    cloud.vertex.set_outcome("SUCCEEDED", seconds=0.5)
    cloud.gcp.set_outcome("FAILURE", after_polls=1, image="beta")

    result, ended, _ = push(builder, cloud, ["alpha", "beta", "gamma"])

    assert not result.ok
    assert {b.image: b.status for b in result.builds}["beta"] == "failed"
    assert [(v.pipeline, v.status == "failed") for v in result.versions] == [
        ("alpha", False), ("beta", True), ("gamma", False)]
    assert "image beta failed to build" in (result.versions[1].error or "")
    assert sorted((r.pipeline, r.status) for r in ended) == [
        ("alpha", "succeeded"), ("gamma", "succeeded")]
    assert {j.request["labels"]["pipeline"] for j in cloud.vertex.jobs.values()} == {
        "alpha", "gamma"}


def test_retrain_runs_its_schedules_concurrently(cloud: Cloud, builder: GitRepoBuilder) -> None:
    names = ["alpha", "beta", "gamma"]
    schedules = [{"name": f"nightly-{n}", "pipeline": n, "cron": "0 3 * * *"} for n in names]
    cloud.vertex.set_outcome("SUCCEEDED", after_polls=1)
    push(builder, cloud, names, schedules=schedules)
    cloud.vertex.set_outcome("SUCCEEDED", seconds=1.5)
    # One schedule's run fails: the others still run to their end, at the same time.
    cloud.vertex.set_outcome("FAILED", seconds=1.5, failing_task="train",
                             task_error="ValueError: no rows", pipeline="beta")
    config = load_config(builder.path)

    started = time.monotonic()
    result = RetrainFlow(builder.path, config, backends_of(config), ConsoleForge(user="ci"),
                         parse_now("2026-03-04T12:00:00Z")).run()
    seconds = time.monotonic() - started

    assert [(r.schedule, r.status, r.started) for r in result.runs] == [
        (f"nightly-{n}", "failed" if n == "beta" else "succeeded", True) for n in names]
    assert "ValueError: no rows" in (result.runs[1].error or "")
    assert seconds < 3.5, seconds  # three runs of 1.5 s each, together
    retrained = [j for j in cloud.vertex.jobs.values() if j.outcome.seconds]
    assert len(retrained) == 3
    assert max(j.created for j in retrained) < min(j.created for j in retrained) + 1.5


def test_an_interrupted_push_exits_at_once_and_leaves_its_runs_on_vertex(
        cloud: Cloud, builder: GitRepoBuilder) -> None:
    cloud.vertex.set_outcome("RUNNING")  # runs that would hold the push for ever
    builder.commit({"mlops.yaml": cloud.mlops_yaml(),
                    **{k: v for n in ("alpha", "beta") for k, v in pipeline_files(n).items()}})
    env = {k: v for k, v in os.environ.items() if not k.startswith("GITHUB_")}
    push_process = subprocess.Popen([sys.executable, "-m", "mlops_bot", "push"], cwd=builder.path,
                                    env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    text=True)
    deadline = time.monotonic() + 60
    while len(cloud.vertex.jobs) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(cloud.vertex.jobs) == 2, push_process.communicate(timeout=5)
    push_process.send_signal(signal.SIGINT)
    interrupted = time.monotonic()
    _, stderr = push_process.communicate(timeout=20)
    assert time.monotonic() - interrupted < 5  # not waiting for the runs to end
    assert push_process.returncode == 130, stderr
    assert "was interrupted" in stderr
    # Left going on Vertex (not cancelled): pending or running, as far as the fake has got.
    states = {j.resource["state"] for j in cloud.vertex.jobs.values()}
    assert states <= {"PIPELINE_STATE_PENDING", "PIPELINE_STATE_RUNNING"}, states
