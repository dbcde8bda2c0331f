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
import queue
import threading
from collections.abc import Callable
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


_Ended = queue.SimpleQueue[tuple["RunPool", Callable[[Any], None], Any, BaseException | None]]


class RunPool:
    """Jobs submitted in order, done by at most `parallel` threads, results as they end.

    The threads are daemons: when the push is interrupted (Ctrl-C, a cancelled workflow) it exits
    at once rather than waiting for runs that may take hours; a Vertex job goes on and the next
    push attaches to it, a local run's worker is taken over by the next push (its owner is gone).
    """

    def __init__(self, parallel: int, deadline: float, reports: RunPool | None = None) -> None:
        """`reports`: another pool whose results this one's join, so that draining either hands
        on the results of both as they end (a push's runs end while its other pipelines are
        still being built and published)."""
        self.deadline = deadline
        self._slots = threading.BoundedSemaphore(parallel)
        self._ended: _Ended = reports._ended if reports is not None else queue.SimpleQueue()
        self._pending = 0
        self._feeder: list[tuple[Callable[[], Any], Callable[[Any], None]]] = []
        self._wakeup = threading.Condition()
        self._closed = False
        self._dispatcher = threading.Thread(target=self._dispatch, name="mlops-runs", daemon=True)
        self._dispatcher.start()

    def submit(self, job: Callable[[], T], on_end: Callable[[T], None]) -> None:
        """Start `job` when a slot is free; `on_end` gets its result in the caller's thread
        (from `drain`), so reports are written by one thread, in order of completion."""
        with self._wakeup:
            self._feeder.append((job, on_end))
            self._pending += 1
            self._wakeup.notify()

    def drain(self) -> None:
        """Wait for every submitted job, handing each result to its `on_end` as it ends (and
        those of the pool sharing its results); a job that raised raises here (a bug: expected
        failures are results)."""
        while self._pending:
            pool, on_end, value, error = self._ended.get()
            with pool._wakeup:  # submit() counts up from other threads
                pool._pending -= 1
            if error is not None:
                raise error
            on_end(value)

    def _dispatch(self) -> None:
        """Starts the submitted jobs in order, each in its own thread once a slot is free."""
        while True:
            with self._wakeup:
                while not self._feeder and not self._closed:
                    self._wakeup.wait()
                if not self._feeder:
                    return
                job, on_end = self._feeder.pop(0)
            self._slots.acquire()
            threading.Thread(target=self._run, args=(job, on_end), name="mlops-run",
                             daemon=True).start()

    def _run(self, job: Callable[[], Any], on_end: Callable[[Any], None]) -> None:
        try:
            self._ended.put((self, on_end, job(), None))
        except BaseException as error:  # handed to drain, in the caller's thread
            self._ended.put((self, on_end, None, error))
        finally:
            self._slots.release()

    def __enter__(self) -> RunPool:
        return self

    def __exit__(self, *exc: object) -> None:
        with self._wakeup:
            self._closed = True
            self._wakeup.notify()


def not_started(what: str) -> UserError:
    progress(f"  {what}: not started: the deadline of all the runs passed")
    return UserError(f"{what} was not started: the deadline of all the runs passed "
                     "(run.timeout_seconds in mlops.yaml) before a run slot was free; raise "
                     "run.max_parallel or run.timeout_seconds, or push again")
