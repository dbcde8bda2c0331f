"""A push of N affected pipelines whose Vertex AI runs take T seconds, concurrent and sequential.

The push flow runs in process with the gcp backends and the real google-cloud clients against the
fake Cloud Build, Cloud Storage and Vertex AI servers of tests/support (jobs that end T seconds
after they were created). Both builders poll every POLL seconds: the product's defaults (5 s for
Cloud Build, Vertex polls at 1, 2, 4, 8 then every 10 s) are right for real builds and trainings
of minutes, but would measure the poll cadence here, not the orchestration.

Target, for every N (issue 15): wall <= 1.2 x (slowest build + T) + 2 s, where "slowest build"
is the slowest single build of the push (a pipeline image or a serving image, as the builder
timed it, BuildResult.seconds). Each pipeline goes on as soon as its own builds end (its image,
then its serving image, then publish and run: flows/push_pipeline.py), so no pipeline waits for
the others' builds. Shown beside it, for comparison with the figures before that: the target
with "build" taken as two build phases (the slowest pipeline image + the slowest serving image,
what a pipeline waited for when every image was built before any serving image), and the same
push with run.max_parallel: 1 (the runs one after another): about N x T.

The fakes' servers listen with a backlog of 128 (tests/support/loopback.py): with http.server's
5, 20 builds uploading at once lost connections and the clients' TCP tried again a second later,
a ~1 s stall of the fakes' (slowest build ~1.7 s at N = 20 instead of ~0.75 s).

    .venv/bin/python benchmarks/bench_push.py --runs-only [--seconds 5] [--sizes 1,5,20]
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
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
    """The Cloud Build builder, keeping every build's result (and so its seconds), the pipeline
    images' and the serving images', as each ends."""

    def __init__(self, builder: CloudBuildBuilder) -> None:
        self._builder = builder
        self.results: list[BuildResult] = []

    def build(self, requests: Sequence[BuildRequest]) -> list[BuildResult]:
        return self.build_each(requests, lambda _: None)

    def build_each(self, requests: Sequence[BuildRequest],
                   on_built: Callable[[BuildResult], None]) -> list[BuildResult]:
        def told(result: BuildResult) -> None:
            self.results.append(result)
            on_built(result)

        return self._builder.build_each(requests, told)


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
    images = [b.seconds for b in builder.results if not b.image.endswith("-serving")]
    serving = {b.image.removesuffix("-serving"): b.seconds for b in builder.results
               if b.image.endswith("-serving")}
    chains = [b.seconds + serving.get(b.image, 0.0) for b in builder.results
              if not b.image.endswith("-serving")]
    return {"wall_s": round(wall, 2),
            "slowest_build_s": round(max(b.seconds for b in builder.results), 2),
            # Two build phases: the slowest pipeline image, then the slowest serving image.
            "build_phases_s": [round(max(images), 2), round(max(serving.values(), default=0), 2)],
            # The builds one pipeline waits for: its image, then its serving image.
            "slowest_pipeline_builds_s": round(max(chains), 2),
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
            limit = 1.2 * (concurrent["slowest_build_s"] + seconds) + 2.0
            phases = 1.2 * (sum(concurrent["build_phases_s"]) + seconds) + 2.0
            rows.append({"pipelines": n, "job_s": seconds, **concurrent,
                         "target_s": round(limit, 2), "ok": concurrent["wall_s"] <= limit,
                         "two_phase_target_s": round(phases, 2),
                         "sequential_wall_s": sequential["wall_s"],
                         "sequential_last_run_started_s": sequential["last_run_started_s"],
                         "speedup": round(sequential["wall_s"] / concurrent["wall_s"], 1)})
    return rows


def render(rows: list[dict[str, Any]]) -> str:
    lines = [f"{'N':>3} {'T':>4} {'slowest build':>13} {'last run started':>16} "
             f"{'concurrent':>10} {'target':>8} {'two-phase target':>16} {'sequential':>10} "
             f"{'speedup':>7}"]
    for r in rows:
        lines.append(f"{r['pipelines']:>3} {r['job_s']:>4g} {r['slowest_build_s']:>11.2f} s "
                     f"{r['last_run_started_s']:>14.2f} s "
                     f"{r['wall_s']:>8.2f} s {r['target_s']:>6.2f} s "
                     f"{r['two_phase_target_s']:>14.2f} s "
                     f"{r['sequential_wall_s']:>8.2f} s {r['speedup']:>6}x "
                     f"{'ok' if r['ok'] else 'MISSED'}")
    return "\n".join(lines)
