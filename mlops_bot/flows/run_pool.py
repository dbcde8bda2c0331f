"""The runs of one push or retrain: each started as soon as it is asked for, at most
`run.max_parallel` at once, all waited for together under one deadline, each reported as it ends.

A run is started and waited for in a worker thread: the Vertex runner polls its job there, the
local runner runs kfp.local in a worker process of its own, so runs of different pipelines
overlap each other and whatever the caller does meanwhile (compiling and publishing the next
pipeline). A run that fails, or cannot start, fails that run only.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import TYPE_CHECKING, Any, TypeVar

from mlops_bot.console import progress
from mlops_bot.errors import UserError

if TYPE_CHECKING:
    from mlops_bot.backends.types import PipelineRunner, RunRecord, RunRequest
    from mlops_bot.config import Config

__all__ = ["RunPool", "deadline_of", "not_started", "parallel_runs", "run_or_wait"]

T = TypeVar("T")
GCP_PARALLEL = 50  # Vertex runs of a push at once without run.max_parallel: each is a poll loop


def parallel_runs(config: Config) -> int:
    """How many runs are started and waited for at once: run.max_parallel, else the cores
    locally (each local run is a kfp.local process) and GCP_PARALLEL on Vertex AI."""
    if config.run.max_parallel is not None:
        return config.run.max_parallel
    return GCP_PARALLEL if config.backend == "gcp" else max(1, os.cpu_count() or 1)


def deadline_of(config: Config, started: float) -> float:
    """The one deadline (a time.monotonic() value) of all the runs of a push or retrain."""
    seconds = config.run.timeout_seconds
    if seconds is None and config.backend == "gcp" and config.gcp is not None:
        seconds = config.gcp.run_timeout_seconds
    return math.inf if seconds is None else started + seconds


def run_or_wait(runner: PipelineRunner, request: RunRequest, deadline: float,
                wait_for_it: bool = True) -> RunRecord:
    """Start the run, then (when asked) wait for it until `deadline`."""
    record = runner.start(request)
    if not wait_for_it or record.status != "running":
        return record
    return runner.wait(request, deadline)


class RunPool:
    """Jobs submitted in order, done by at most `parallel` threads, results as they end."""

    def __init__(self, parallel: int, deadline: float) -> None:
        self.deadline = deadline
        self._executor = ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="mlops-run")
        self._pending: dict[Future[Any], Callable[[Any], None]] = {}
        self._lock = threading.Lock()

    def submit(self, job: Callable[[], T], on_end: Callable[[T], None]) -> None:
        """Start `job` when a thread is free; `on_end` gets its result in the caller's thread
        (from `drain`), so reports are written by one thread, in order of completion."""
        future = self._executor.submit(job)
        with self._lock:
            self._pending[future] = on_end

    def drain(self) -> None:
        """Wait for every submitted job, handing each result to its `on_end` as it ends."""
        for future, on_end in self._ended():
            on_end(future.result())

    def _ended(self) -> Iterator[tuple[Future[Any], Callable[[Any], None]]]:
        while True:
            with self._lock:
                pending = set(self._pending)
            if not pending:
                return
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in sorted(done, key=id):
                with self._lock:
                    on_end = self._pending.pop(future)
                yield future, on_end

    def overdue(self) -> bool:
        return time.monotonic() >= self.deadline

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=False)

    def __enter__(self) -> RunPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def not_started(what: str) -> UserError:
    progress(f"  {what}: not started: the deadline of all the runs passed")
    return UserError(f"{what} was not started: the deadline of all the runs passed "
                     "(run.timeout_seconds in mlops.yaml) before a run slot was free; raise "
                     "run.max_parallel or run.timeout_seconds, or push again")
