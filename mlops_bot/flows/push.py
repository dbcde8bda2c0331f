"""`mlops-bot push`: plan -> build -> compile -> publish -> run -> report, each pipeline on its
own: it is published and run as soon as its images are built and its spec compiled, while the
other pipelines' images still build (push_pipeline.py).

Idempotent by construction: images are keyed by content hash, versions by the compiled spec and
runs by (version, parameters, trigger), so pushing the same range again builds, publishes and
starts nothing, and says so.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import math
import os
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_bot import __version__
from mlops_bot.backends.factory import Backends
from mlops_bot.backends.types import BuildResult, RunRequest
from mlops_bot.backends.versions import tags_for_push
from mlops_bot.console import progress
from mlops_bot.errors import UserError
from mlops_bot.flows.image_refs import RepositoryImages
from mlops_bot.flows.push_pipeline import Builds, Published, in_thread, pinned
from mlops_bot.flows.results.push import PushResult, RunOutcome, VersionOutcome
from mlops_bot.flows.run_pool import RunPool, deadline_of, not_started, parallel_runs, run_or_wait
from mlops_bot.repo.checkout import checkout
from mlops_bot.repo.checks import configured_function
from mlops_bot.repo.entries import require_pipelines
from mlops_bot.repo.git import GitRepo
from mlops_bot.repo.layout import Problem
from mlops_bot.repo.parameter_needs import parameter_notes
from mlops_bot.repo.parameters import merge_parameters, run_py_parameters
from mlops_bot.repo.plan import PipelinePlan, Plan
from mlops_bot.repo.planner import ChangePlanner
from mlops_bot.serving_image import MANIFEST_KEY, serving_image

if TYPE_CHECKING:
    from concurrent.futures import Future

    from mlops_bot.compile import CompiledPipeline
    from mlops_bot.compile_pool import CompiledSpec, CompileJob
    from mlops_bot.config import Config

__all__ = ["PushFlow", "PushResult", "run_id_for"]

_PIPELINES_AT_ONCE = 30  # pipelines between their images and their run's start (serving builds)


def run_id_for(pipeline: str, version: str, parameters: dict[str, Any], trigger: str) -> str:
    """The same version, parameters and trigger always give the same run id."""
    key = json.dumps([pipeline, version, parameters, trigger], sort_keys=True, default=str)
    slug = re.sub(r"[^a-z0-9-]+", "-", pipeline.lower()).strip("-")[:40] or "pipeline"
    return f"{slug}-{hashlib.sha256(key.encode()).hexdigest()[:16]}"


class PushFlow:
    """`wait=False` starts the runs and reports them `running` without waiting for them (a later
    `mlops-bot status` records how they ended); `on_run` hears of each run as it ends."""

    def __init__(self, git: GitRepo, config: Config, backends: Backends,
                 branch: str | None, trigger: str = "push",
                 default_branch: str | None = None, *, wait: bool = True,
                 on_run: Callable[[RunOutcome], None] | None = None,
                 everything: bool = False) -> None:
        self._git = git
        self._config = config
        self._backends = backends
        self._branch = branch
        self._default_branch = default_branch or config.default_branch
        self._everything = everything
        self._trigger = trigger
        self._wait = wait
        self._on_run = on_run
        self._pinning = threading.Lock()  # pipelines' specs are pinned one at a time

    def _plan(self, base: str, head: str, cli_parameters: dict[str, Any],
              cache: bool = True) -> Plan:
        """The range's plan; every pipeline with `everything` (`--all`) or on the default
        branch's first push (an all-zero base there has nothing to compare with). Parameters
        a run lacks are noted, a mistyped `--param` refused (UsageError) before any build."""
        first = self._branch if self._branch == self._default_branch else None
        planner = ChangePlanner(self._git, cache=cache, pushed_default_branch=first)
        plan = planner.plan_all(head) if self._everything else planner.plan(base, head)
        if not plan.pipelines and not plan.broken:  # no pipeline at all is an error, not `ok`
            require_pipelines(self._git, plan.head, self._config)
        plan.notes += parameter_notes(self._git, plan, self._config, cli_parameters, cache=cache)
        return plan

    def plan_only(self, base: str, head: str) -> PushResult:
        """What `run` would do, without building, publishing or running anything (nor writing
        the planning cache: a dry run leaves the state folder as it was)."""
        result = PushResult(self._plan(base, head, {}, cache=False), self._branch)
        result.notes.append("dry run: nothing was built, published or run")
        return result

    def run(self, base: str, head: str, cli_parameters: dict[str, Any]) -> PushResult:
        started = time.monotonic()
        with _step("plan"):
            plan = self._plan(base, head, cli_parameters)
        result = PushResult(plan, self._branch)
        if not plan.pipelines:
            result.notes.append("no pipeline to build: nothing changed that affects one")
            return result
        # The whole commit: a definition may read any file of the repository (relative paths
        # resolve in the checkout, compile_worker.py), and none may come from local edits.
        with checkout(self._git, plan.head, []) as tree, \
                RunPool(parallel_runs(self._config), deadline_of(self._config, started)) as runs, \
                RunPool(_PIPELINES_AT_ONCE, math.inf, reports=runs) as pipelines:
            published: dict[str, Published] = {}

            def ready(entry: PipelinePlan) -> None:  # its images ended: on to serving, publish, run
                pipelines.submit(lambda: self._pipeline(entry, plan.head, tree, builds, compiled,
                                                        images, cli_parameters, runs, result),
                                 lambda outcome: published.__setitem__(entry.name, outcome))

            builds = Builds(plan, tree, ready)
            images = RepositoryImages(self._git, plan.head, self._config, self._backends.builder,
                                      tree, builds.refs)
            if self._backends.builder_note:
                progress(f"  {self._backends.builder_note}")
                result.notes.append(self._backends.builder_note)
            runs_noted_from = len(result.notes)  # runs that end during the drain note here on
            # The builds are a job of the pool too: it is drained once they ended and every
            # pipeline they made ready is published, its run started. Runs that end meanwhile
            # are reported as they end. Compiling needs no image: it goes on while they build.
            compiled = in_thread("mlops-compile", lambda: self._compile(plan, tree))
            pipelines.submit(lambda: self._build(builds), result.builds.extend)
            pipelines.drain()
            compiled.result()
            result.builds += images.builds
            outcomes = [published[entry.name] for entry in plan.pipelines]
            result.versions += [outcome.version for outcome in outcomes]
            # The pipelines' own notes, in the plan's order, before those of their runs.
            result.notes[runs_noted_from:runs_noted_from] = [
                note for outcome in outcomes for note in outcome.notes]
            result.runs += [outcome.run for outcome in outcomes if outcome.run]
            runs.drain()
        order = [p.name for p in plan.pipelines]
        result.runs.sort(key=lambda r: order.index(r.pipeline))
        return result

    def _build(self, builds: Builds) -> list[BuildResult]:
        with _step(f"build {len(builds.requests)} image(s)"):
            return builds.run(self._backends.builder)

    def _compile_jobs(self, plan: Plan) -> list[CompileJob]:
        from mlops_bot.compile_pool import CompileJob

        return [CompileJob(e.name, e.pipeline.path, configured_function(self._config, e.name),
                           e.pipeline.definition)
                for e in plan.pipelines
                if not e.pipeline.spec]  # a compiled spec is read as it is (precompiled.py)

    def _compile(self, plan: Plan, tree: Path) -> dict[str, CompiledSpec | Problem]:
        """Every pipeline, each in its own environment (compile_pool.py), its images pinned
        later, once they are built."""
        from mlops_bot.backends.factory import state_dir
        from mlops_bot.compile_pool import compile_specs

        jobs = self._compile_jobs(plan)
        with _step(f"compile {len(jobs)} pipeline(s)"):
            return compile_specs(tree, jobs, state_dir(self._config, self._git.root) / "envs")

    def _pipeline(self, entry: PipelinePlan, head: str, tree: Path, builds: Builds,
                  compiled: Future[dict[str, CompiledSpec | Problem]], images: RepositoryImages,
                  cli_parameters: dict[str, Any], runs: RunPool, result: PushResult) -> Published:
        """In a worker thread, once the pipeline's images ended: its serving image, its spec
        pinned, published, its run started."""
        missing = builds.missing(entry)
        if missing:
            return Published(VersionOutcome(
                entry.name, None, "failed", error=f"not compiled: image {', '.join(missing)} "
                "failed to build"))
        # On gcp, the image the pipeline's models will be served by (serving_image.py).
        serving, note = serving_image(self._config, self._backends.builder, entry.name,
                                      builds.base(entry), head)
        spec = pinned(entry, compiled.result().get(entry.name), builds, images, self._pinning)
        outcome = self._publish_and_run(entry, head, tree, spec, serving, cli_parameters,
                                        runs, result)
        outcome.notes[:0] = [note] if note else []
        return outcome

    def _publish_and_run(self, entry: PipelinePlan, head: str, tree: Path,
                         compiled: CompiledPipeline | Problem | None, serving: str | None,
                         cli_parameters: dict[str, Any], runs: RunPool,
                         result: PushResult) -> Published:
        """Publish the pipeline and start its run (`result` hears of the run as it ends)."""
        if compiled is None:  # not compiled, and no compiled spec to read
            return Published(VersionOutcome(entry.name, None, "failed",
                                            error="not compiled: no spec was compiled"))
        if isinstance(compiled, Problem):
            return Published(VersionOutcome(entry.name, None, "failed", error=str(compiled)))
        outcome = Published(self._publish(entry, compiled, head, serving))
        version = outcome.version.version
        if version is None:
            return outcome
        if not self._should_run(entry.name):
            outcome.notes.append(f"{entry.name}: not run (run_branches or pipelines."
                                 f"{entry.name}.run in mlops.yaml)")
            return outcome
        try:
            parameters = self._parameters(entry, compiled, tree, cli_parameters)
        except UserError as error:
            outcome.run = RunOutcome(entry.name, version, "", "failed", error=str(error))
            return outcome
        request = RunRequest(
            run_id=run_id_for(entry.name, version, parameters, self._trigger),
            pipeline=entry.name, version=version, spec=compiled.spec,
            parameters=parameters, git_sha=head, trigger=self._trigger, images=compiled.images,
            labels=run_labels(self._config, entry.name, version, head))
        runs.submit(lambda: self._run(request, runs.deadline),
                    lambda run: self._ended(run, result))
        return outcome

    def _publish(self, entry: PipelinePlan, compiled: CompiledPipeline, head: str,
                 serving: str | None) -> VersionOutcome:
        import kfp

        registry = self._backends.registry
        manifest = {
            "git_sha": head, "ref": self._branch, "source": entry.pipeline.path,
            "content_hashes": {i.image.name: i.image.content_hash for i in entry.images},
            "images": compiled.images, "unpinned_images": list(compiled.unpinned),
            "parameters": compiled.parameters,
            "kfp_version": compiled.kfp_version or kfp.__version__,
            "mlops_bot_version": __version__,
            "compiled_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        if serving is not None:
            manifest[MANIFEST_KEY] = serving
        try:
            published = registry.publish(entry.name, compiled.spec, manifest)
            tags = tags_for_push(self._branch, self._default_branch)
            for tag in tags:
                registry.tag(entry.name, tag, published.version)
        except UserError as error:
            return VersionOutcome(entry.name, None, "failed", error=str(error))
        progress(f"  {entry.name}@{published.version}: {published.status}, "
                 f"tagged {', '.join(tags) or 'nothing (not a branch push)'}")
        return VersionOutcome(entry.name, published.version, published.status, tags)

    def _should_run(self, pipeline: str) -> bool:
        settings = self._config.pipelines.get(pipeline)
        if settings is not None and not settings.run:
            return False
        branch = self._branch or ""
        return any(fnmatch.fnmatchcase(branch, pattern) for pattern in self._config.run_branches)

    def _parameters(self, entry: PipelinePlan, compiled: CompiledPipeline, tree: Path,
                    cli_parameters: dict[str, Any]) -> dict[str, Any]:
        path = entry.pipeline.path
        settings = self._config.pipelines.get(entry.name)
        return merge_parameters(
            entry.name, compiled.parameters,
            (f"{path}/run.py", run_py_parameters(_read(tree / path / "run.py"), f"{path}/run.py")),
            (f"mlops.yaml pipelines.{entry.name}.parameters",
             settings.parameters if settings else {}),
            ("--param", cli_parameters), types=compiled.parameter_types,
            required=compiled.required,
        )

    def _run(self, request: RunRequest, deadline: float) -> RunOutcome:
        """In a worker thread: the run started (unless it already succeeded) and waited for."""
        runner, pipeline, version = self._backends.runner, request.pipeline, request.version
        try:  # one pipeline's run that cannot start (a denied permission) fails that pipeline only
            if time.monotonic() >= deadline:
                raise not_started(f"the run of {pipeline}@{version}")
            existing = runner.get(request.run_id)
            if existing is not None and existing.status == "succeeded":
                progress(f"  {pipeline}: run {request.run_id} already succeeded; not starting "
                         "it again")
                return RunOutcome(pipeline, version, request.run_id, "existing",
                                  existing.metrics, url=existing.url,
                                  parameters=request.parameters, produced_by=existing.git_sha)
            progress(f"==> run {pipeline}@{version}")
            record = run_or_wait(runner, request, deadline, self._wait)
        except UserError as error:
            return RunOutcome(pipeline, version, request.run_id, "failed", {}, str(error),
                              parameters=request.parameters)
        return RunOutcome(pipeline, version, request.run_id, record.status, record.metrics,
                          record.error, record.url, request.parameters, record.git_sha)

    def _ended(self, run: RunOutcome, result: PushResult) -> None:
        """As each run ends (or, without waiting, starts): say so and pass it on."""
        result.runs.append(run)
        link = f": {run.url}" if run.url else ""
        if run.status == "running":  # started without waiting: where to follow it
            result.notes.append(f"{run.pipeline}: run {run.run_id} started, not waited for "
                                f"(`mlops-bot status` records how it ends){link}")
        progress(f"  {run.pipeline}: run {run.run_id or '-'} {run.status}{link}")
        if self._on_run is not None:
            self._on_run(run)


def run_labels(config: Config, pipeline: str, version: str, git_sha: str) -> dict[str, str]:
    """The labels a run carries; `enable-caching: false` turns task caching off for it."""
    labels = {"git-sha": git_sha[:12], "pipeline": pipeline, "version": version}
    settings = config.pipelines.get(pipeline)
    if settings is not None and not settings.enable_caching:
        labels["enable-caching"] = "false"
    return labels


def _read(path: Path) -> bytes | None:
    return path.read_bytes() if path.is_file() else None


@contextmanager
def _step(what: str) -> Iterator[None]:
    started = time.monotonic()
    progress(f"==> {what}")
    yield
    progress(f"    {what}: {time.monotonic() - started:.1f}s")


def push(repo: Path, base: str | None, head: str | None, cli_parameters: dict[str, Any],
         environ: Mapping[str, str] = os.environ, plan_only: bool = False,
         wait: bool = True, everything: bool = False) -> PushResult:
    """Push a range: from the arguments, else the GitHub push event, else HEAD~1..HEAD.
    `wait=False`: start the runs and return; `mlops-bot status` records how they end.
    `everything`: every pipeline at the head, whatever the range changed (`--all`)."""
    from mlops_bot.backends.factory import backends_for
    from mlops_bot.github.context import push_event_from_env, step_summary_path
    from mlops_bot.repo.config_diff import config_at
    from mlops_bot.report.push_report import render_push_markdown

    git = GitRepo(repo)
    event = push_event_from_env(environ)
    branch = event.branch if event else git.current_branch()
    if head is None:
        head = event.after if event else "HEAD"
    head_sha = git.resolve(head)
    if head_sha is None:
        raise UserError(f"--head {head} is not a commit in {git.root}: fetch it first")
    if base is None:
        base = event.before if event else git.parent(head_sha)
    config = config_at(git, head_sha)
    summary = step_summary_path(environ)
    flow = PushFlow(git, config, backends_for(config, git.root), branch,
                    default_branch=event.default_branch if event else None, wait=wait,
                    on_run=summary_writer(summary) if summary is not None else None,
                    everything=everything)
    result = flow.plan_only(base, head_sha) if plan_only else flow.run(
        base, head_sha, cli_parameters)
    if not plan_only:  # the local state folder only grows: say when `gc` is due
        from mlops_bot.flows.gc import state_size_warnings

        result.notes += state_size_warnings(config, git.root)
    if summary is not None:
        with summary.open("a") as handle:
            handle.write(render_push_markdown(result) + "\n")
    return result


def summary_writer(summary: Path) -> Callable[[RunOutcome], None]:
    """Appends each run to the job summary as it ends: a job stopped before the end (its
    timeout, a cancel) still shows the runs that had ended."""
    from mlops_bot.report.run_progress import RUNS_HEADING, render_run_line

    written = False

    def write(run: RunOutcome) -> None:
        nonlocal written
        with summary.open("a") as handle:
            handle.write(("" if written else RUNS_HEADING + "\n\n") + render_run_line(run) + "\n")
        written = True

    return write
