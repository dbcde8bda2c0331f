"""Compile workers started before their jobs are known (a push starts them while it builds)."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from mlops_bot.compile import CompiledPipeline
from mlops_bot.compile_pool import CompileJob, WarmWorkers, compile_in_environments
from mlops_bot.repo.layout import Problem
from tests.support.gitrepo import GitRepoBuilder, pipeline_files


def _workers() -> list[int]:
    """This process's live compile workers (`python -I -B -c <worker source>`)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            command = (stat.parent / "cmdline").read_bytes().split(b"\0")
        except (OSError, IndexError):
            continue  # ended meanwhile
        if int(fields[1]) == os.getpid() and fields[0] != "Z" and b"-I" in command:
            found.append(int(stat.parent.name))
    return found


def _started(count: int) -> bool:
    """Whether `count` workers run within a few seconds (they start in the background)."""
    deadline = time.monotonic() + 20
    while len(_workers()) != count and time.monotonic() < deadline:
        time.sleep(0.05)
    return len(_workers()) == count


def test_a_warm_worker_compiles_its_batch_and_a_crash_in_it_fails_only_that_pipeline(tmp_path):
    repo = GitRepoBuilder(tmp_path / "repo")
    files = {**pipeline_files("a_exit"), **pipeline_files("b_ok")}
    files["pipelines/a_exit/definition.py"] = (
        "import os\nprint('leaving')\nos._exit(3)\n" + files["pipelines/a_exit/definition.py"])
    repo.commit(files)
    jobs = [CompileJob(n, f"pipelines/{n}") for n in ("a_exit", "b_ok")]
    with WarmWorkers(repo.path, jobs, tmp_path / "envs") as warm:
        assert _started(1)  # one environment (mlops-bot's own): its worker, before any job
        outcomes = compile_in_environments(repo.path, jobs, {}, tmp_path / "envs", warm)
        assert warm.take(sys.executable) is None  # the compile took it
    crashed = outcomes["a_exit"]
    assert isinstance(crashed, Problem) and crashed.file == "pipelines/a_exit/definition.py"
    assert "ended the compile worker (exit code 3" in crashed.message
    assert "leaving" in crashed.message
    compiled = outcomes["b_ok"]  # compiled by the worker started after the crash
    assert isinstance(compiled, CompiledPipeline) and compiled.parameters == {"size": 1}
    assert _workers() == []


def test_workers_not_taken_are_stopped_and_a_broken_environment_is_still_reported(tmp_path):
    repo = GitRepoBuilder(tmp_path / "repo")
    files = {**pipeline_files("alpha"), **pipeline_files("broken")}
    files["pipelines/broken/requirements.txt"] = "./no-such-folder\n"
    repo.commit(files)
    jobs = [CompileJob(n, f"pipelines/{n}") for n in ("broken", "alpha")]
    with WarmWorkers(repo.path, jobs, tmp_path / "envs") as warm:  # e.g. every build failed
        assert _started(1)  # alpha's: broken's environment could not be made
        outcomes = compile_in_environments(repo.path, jobs[:1], {}, tmp_path / "envs", warm)
    problem = outcomes["broken"]
    assert isinstance(problem, Problem) and problem.file == "pipelines/broken/requirements.txt"
    assert "could not be made" in problem.message
    assert _workers() == []  # alpha's worker, never given a job, was stopped
