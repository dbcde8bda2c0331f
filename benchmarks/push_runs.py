"""A push of N affected pipelines whose Vertex AI runs take T seconds, concurrent and sequential.

The push flow runs in process with the gcp backends and the real google-cloud clients against the
fake Cloud Build, Cloud Storage and Vertex AI servers of tests/support (jobs that end T seconds
after they were created). Both builders poll every POLL seconds: the product's defaults (5 s for
Cloud Build, Vertex polls at 1, 2, 4, 8 then every 10 s) are right for real builds and trainings
of minutes, but would measure the poll cadence here, not the orchestration.

Target, for every N: wall <= 1.2 x (slowest build + T) + 2 s. Beside it, the same push with
run.max_parallel: 1 (the runs one after another, as before concurrent runs): about N x T.

    .venv/bin/python benchmarks/bench_push.py --runs-only [--seconds 5] [--sizes 1,5,20]
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mlops_bot.backends.gcp.builder import CloudBuildBuilder  # noqa: E402
from mlops_bot.backends.gcp.clients import GcpClients  # noqa: E402
from mlops_bot.backends.gcp.factory import gcp_backends  # noqa: E402
from mlops_bot.backends.gcp.runner import VertexRunner  # noqa: E402
from mlops_bot.backends.types import BuildRequest, BuildResult  # noqa: E402
from mlops_bot.config import load_config  # noqa: E402
from mlops_bot.flows.push import PushFlow  # noqa: E402
from mlops_bot.repo.git import GitRepo  # noqa: E402
from tests.support.fake_gcp import FakeGcp  # noqa: E402
from tests.support.fake_gcs import FakeGcs  # noqa: E402
from tests.support.fake_vertex_pipelines import FakeVertexPipelines  # noqa: E402
from tests.support.gitrepo import GitRepoBuilder, pipeline_files  # noqa: E402

POLL = 0.5
BUCKET = "bench-registry"


class TimedBuilder:
    """The Cloud Build builder, timing each call: one call per build phase (the pipelines'
    images, then their serving images), whose builds run concurrently."""

    def __init__(self, builder: CloudBuildBuilder) -> None:
        self._builder = builder
        self.phases: list[float] = []

    def build(self, requests: Sequence[BuildRequest]) -> list[BuildResult]:
        started = time.perf_counter()
        try:
            return self._builder.build(requests)
        finally:
            self.phases.append(time.perf_counter() - started)


def push_once(folder: Path, pipelines: int, seconds: float,
              max_parallel: int | None) -> dict[str, Any]:
    """One push of `pipelines` new pipelines on fresh fake servers; its timings."""
    with FakeGcs(buckets=[BUCKET]) as gcs, FakeGcp() as gcp, FakeVertexPipelines() as vertex:
        gcp.set_outcome("SUCCESS", after_polls=1)
        vertex.set_outcome("SUCCEEDED", seconds=seconds)
        repo = GitRepoBuilder(folder)
        base = repo.commit({"README.md": "bench\n"})
        config_yaml = yaml.safe_dump({
            "backend": "gcp", "run": {"max_parallel": max_parallel} if max_parallel else {},
            "gcp": {"project": "bench-ml", "region": "europe-west4",
                    "artifact_repository": "images", "registry_bucket": BUCKET, "api_endpoints": {
                        "storage": gcs.endpoint, "cloudbuild": gcp.endpoint,
                        "artifactregistry": gcp.endpoint, "aiplatform": vertex.endpoint}}})
        files = {k: v for i in range(pipelines) for k, v in pipeline_files(f"p{i:02d}").items()}
        head = repo.commit({"mlops.yaml": config_yaml, **files})
        config = load_config(folder)
        assert config.gcp is not None
        clients = GcpClients(config.gcp)
        builder = TimedBuilder(CloudBuildBuilder(clients, poll_seconds=POLL))
        backends = dataclasses.replace(gcp_backends(config.gcp), builder=builder,
                                       runner=VertexRunner(clients, poll_seconds=POLL))
        flow = PushFlow(GitRepo(folder), config, backends, "main")
        started = time.perf_counter()
        clock = time.monotonic()
        with contextlib.redirect_stderr(io.StringIO()):  # the progress lines
            result = flow.run(base, head, {})
        wall = time.perf_counter() - started
        created = sorted(job.created - clock for job in vertex.jobs.values())
    statuses = {r.status for r in result.runs}
    if len(result.runs) != pipelines or statuses != {"succeeded"}:
        raise SystemExit(f"the push of {pipelines} pipelines did not run them all: "
                         f"{[(r.pipeline, r.status, r.error) for r in result.runs]}")
    return {"wall_s": round(wall, 2),
            "slowest_build_s": round(max(b.seconds for b in result.builds), 2),
            # The builds a pipeline waits for: its images, then its serving image (on gcp).
            "build_phases_s": [round(p, 2) for p in builder.phases],
            "first_run_started_s": round(created[0], 2),
            "last_run_started_s": round(created[-1], 2)}


def bench_push_runs(sizes: list[int], seconds: float) -> list[dict[str, Any]]:
    rows = []
    with tempfile.TemporaryDirectory() as work:
        # Once first: imports (kfp, the google-cloud clients) and the first compile are paid once
        # per process, not per push.
        push_once(Path(work) / "warm-up", 1, 0.0, None)
        for n in sizes:
            concurrent = push_once(Path(work) / f"c{n}", n, seconds, None)
            sequential = push_once(Path(work) / f"s{n}", n, seconds, 1)
            limit = 1.2 * (sum(concurrent["build_phases_s"]) + seconds) + 2.0
            rows.append({"pipelines": n, "job_s": seconds, **concurrent,
                         "target_s": round(limit, 2), "ok": concurrent["wall_s"] <= limit,
                         "sequential_wall_s": sequential["wall_s"],
                         "sequential_last_run_started_s": sequential["last_run_started_s"],
                         "speedup": round(sequential["wall_s"] / concurrent["wall_s"], 1)})
    return rows


def render(rows: list[dict[str, Any]]) -> str:
    lines = [f"{'N':>3} {'T':>4} {'slowest build':>13} {'concurrent':>10} {'target':>8} "
             f"{'sequential':>10} {'speedup':>7}"]
    for r in rows:
        lines.append(f"{r['pipelines']:>3} {r['job_s']:>4g} {r['slowest_build_s']:>11.2f} s "
                     f"{r['wall_s']:>8.2f} s {r['target_s']:>6.2f} s "
                     f"{r['sequential_wall_s']:>8.2f} s {r['speedup']:>6}x "
                     f"{'ok' if r['ok'] else 'MISSED'}")
    return "\n".join(lines)
