"""Compiling pipelines in their own environments: one worker process per environment.

Each pipeline compiles in the environment compile_envs.py gives it, by compile_worker.py run with
that environment's interpreter (`python -I -B -c <worker source>`): mlops-bot's own pins never
decide what a definition may import, and nothing a definition does at module level (exit, crash,
print, change the working directory) reaches mlops-bot. Pipelines sharing an environment compile
in one worker, so kfp is imported once per environment, not once per pipeline. WarmWorkers
starts the first workers (interpreter and kfp import) before their jobs are known; a worker reads
its jobs only once kfp is imported. Compiling needs no image: `compile_specs` gives kfp's output,
which a push pins to each pipeline's images once they are built (`CompiledSpec.pinned`), so it
compiles while its images build.

A worker that dies or hangs while loading a pipeline fails that pipeline (named, with what it
printed); the pipelines after it in the batch are compiled by a new worker.
"""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlops_bot.compile import (
    CompiledPipeline,
    CompileError,
    compiled_from,
    function_to_compile,
)
from mlops_bot.compile_envs import CompileEnvironment, compile_environment, declared_in
from mlops_bot.repo.layout import Problem

__all__ = ["CompileJob", "CompiledSpec", "WarmWorkers", "compile_in_environments",
           "compile_specs"]

_PARALLEL = 2  # workers at once: each is a CPU-bound Python process
_SECONDS_PER_PIPELINE = 120.0  # a definition's module level that runs longer is stuck
_WORKER = Path(__file__).with_name("compile_worker.py")
_TAIL = 1500
_JOB_MARK = "\0mlops-bot-compile-job "  # the worker's line before each job's output


@dataclass(frozen=True)
class CompileJob:
    pipeline: str  # its name
    path: str  # its folder, relative to the checkout
    function: str | None = None  # the pipeline function mlops.yaml names, if any
    definition: str = ""  # the file defining it (default <path>/definition.py)

    @property
    def file(self) -> str:
        return self.definition or f"{self.path}/definition.py"


Outcome = CompiledPipeline | Problem


@dataclass(frozen=True)
class CompiledSpec:
    """kfp's output for one pipeline, before its images are pinned."""

    pipeline: str
    raw: str
    kfp_version: str

    def pinned(self, pins: Mapping[str, str]) -> CompiledPipeline:
        """The published form, with the images `pins` names (image name -> ref) pinned."""
        return compiled_from(self.pipeline, self.raw, pins, self.kfp_version)


class WarmWorkers:
    """Workers started ahead of their jobs, one for each of the first environments `jobs` need
    (as many as compile at once), while the caller does something else: the environments are
    made (or found) and the workers import kfp in the background. A worker not taken by
    compile_in_environments is stopped on leaving the `with` block. Only a head start: whatever
    goes wrong here goes wrong again, and is reported, when the jobs compile."""

    def __init__(self, tree: Path, jobs: Sequence[CompileJob], envs: Path) -> None:
        self._tree = tree
        self._workers: dict[str, subprocess.Popen[str]] = {}
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._start, args=(list(jobs), envs),
                                        name="compile-warm-up", daemon=True)

    def __enter__(self) -> WarmWorkers:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._thread.join()
        with self._lock:
            left, self._workers = list(self._workers.values()), {}
        for process in left:
            process.kill()
            process.communicate()

    def take(self, python: str) -> subprocess.Popen[str] | None:
        """The started worker of the interpreter `python`, if any (each is taken once)."""
        self._thread.join()
        with self._lock:
            return self._workers.pop(python, None)

    def _start(self, jobs: list[CompileJob], envs: Path) -> None:
        pythons: list[str] = []
        for job in jobs:
            if len(pythons) >= _PARALLEL:
                break
            try:
                python = compile_environment(self._tree, job.path, envs).python
                if python and python not in pythons:
                    pythons.append(python)
                    process = _start_worker(self._tree, python)
                    with self._lock:
                        self._workers[python] = process
            except Exception:  # the compile step meets it again, and reports it
                continue


def compile_in_environments(tree: Path, jobs: Sequence[CompileJob], pins: Mapping[str, str],
                            envs: Path, warm: WarmWorkers | None = None) -> dict[str, Outcome]:
    """Compile each job from the checkout `tree`, in its environment (made under `envs`):
    pipeline name -> the compiled pipeline with `pins` pinned, or the problem with file and
    line. A worker of `warm` already started in an environment compiles that environment's
    first batch."""
    return {name: outcome.pinned(pins) if isinstance(outcome, CompiledSpec) else outcome
            for name, outcome in compile_specs(tree, jobs, envs, warm).items()}


def compile_specs(tree: Path, jobs: Sequence[CompileJob], envs: Path,
                  warm: WarmWorkers | None = None) -> dict[str, CompiledSpec | Problem]:
    """`compile_in_environments` without pinning: each job's kfp output, or its problem."""
    outcomes: dict[str, CompiledSpec | Problem] = {}
    batches: dict[str, list[tuple[CompileJob, str]]] = {}
    labels: dict[str, str] = {}
    for job in jobs:
        try:
            function = function_to_compile(tree, job.file, job.function)
        except CompileError as error:
            outcomes[job.pipeline] = error.problem
            continue
        environment = compile_environment(tree, job.path, envs)
        if environment.error:
            outcomes[job.pipeline] = Problem(declared_in(tree, job.path), environment.error)
            continue
        batches.setdefault(environment.python, []).append((job, function))
        labels[environment.python] = environment.label
    with ThreadPoolExecutor(max_workers=_PARALLEL) as pool:
        done = pool.map(lambda item: _batch(tree, CompileEnvironment(item[0], labels[item[0]]),
                                            item[1], warm), batches.items())
        for results in done:
            outcomes.update(results)
    return {job.pipeline: outcomes[job.pipeline] for job in jobs}


def _batch(tree: Path, environment: CompileEnvironment, jobs: list[tuple[CompileJob, str]],
           warm: WarmWorkers | None) -> dict[str, CompiledSpec | Problem]:
    """One environment's pipelines, by as many workers as crashes make necessary."""
    outcomes: dict[str, CompiledSpec | Problem] = {}
    remaining = list(jobs)
    process = warm.take(environment.python) if warm is not None else None
    while remaining:
        events, ended = _worker(tree, environment, remaining,
                                process or _start_worker(tree, environment.python))
        process = None  # a worker crashed: the rest go to a new one
        kfp_version = next((e["kfp"] for e in events if "kfp" in e), "")
        started = [e["started"] for e in events if "started" in e]
        finished = {e["id"]: e for e in events if "id" in e}
        for job, _ in remaining:
            event = finished.get(job.pipeline)
            if event is not None:
                outcomes[job.pipeline] = _outcome(tree, environment, job, event, kfp_version)
        unfinished = [j for j in remaining if j[0].pipeline not in finished]
        if not unfinished:
            break
        if not started or started[-1] in finished:  # the worker never got to a pipeline
            for job, _ in unfinished:
                outcomes[job.pipeline] = Problem(
                    job.file,
                    f"the compile worker could not start in {environment.label}: {ended}")
            break
        culprit = next(j for j in unfinished if j[0].pipeline == started[-1])
        outcomes[culprit[0].pipeline] = Problem(
            culprit[0].file,
            f"loading or compiling it ended the compile worker ({ended}): module-level code "
            "must not end the interpreter (os._exit, a crash) or run without end")
        remaining = [j for j in unfinished if j is not culprit]
    return outcomes


def _start_worker(tree: Path, python: str) -> subprocess.Popen[str]:
    """A worker process: it imports kfp, then waits for its request on stdin."""
    command = [python, "-I", "-B", "-c", _WORKER.read_text()]
    return subprocess.Popen(command, cwd=tree, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _worker(tree: Path, environment: CompileEnvironment, jobs: list[tuple[CompileJob, str]],
            process: subprocess.Popen[str]) -> tuple[list[dict[str, Any]], str]:
    """Run the started worker `process` over `jobs`: its events, and how it ended (for when it
    ended early)."""
    request = {"root": str(tree.resolve()), "jobs": [
        {"id": job.pipeline, "definition": job.file, "function": function}
        for job, function in jobs]}
    timeout = _SECONDS_PER_PIPELINE * len(jobs)
    try:
        out, err = process.communicate(json.dumps(request), timeout=timeout)
        ended = f"exit code {process.returncode}"
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate()
        ended = f"stopped after {timeout:g} s"
    events = []
    for line in out.splitlines():
        try:
            events.append(json.loads(line))
        except json.JSONDecodeError:
            break  # cut off by the end of the process
    # What the last job printed (a job that ended the worker could not report it itself).
    printed = err.rsplit(_JOB_MARK, 1)[-1].partition("\n")[2] if _JOB_MARK in err else err
    if printed.strip():
        ended += "; it printed:\n    " + printed.strip()[-_TAIL:].replace("\n", "\n    ")
    return events, ended


def _outcome(tree: Path, environment: CompileEnvironment, job: CompileJob,
             event: dict[str, Any], kfp_version: str) -> CompiledSpec | Problem:
    error = event.get("error")
    if error is None:
        return CompiledSpec(job.pipeline, event["spec"], kfp_version)
    message = str(error["message"])
    if error.get("module"):
        message += (f": `{error['module']}` is not installed in {job.pipeline}'s compile "
                    f"environment ({environment.label}); declare it in "
                    f"{declared_in(tree, job.path)}, which mlops-bot installs there")
    return Problem(str(error["file"]), message, error.get("line"))
