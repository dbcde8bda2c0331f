"""Concurrent predictions of one model answered by one estimator call (a "group commit").

A scikit-learn random forest costs about the same to predict 3 rows or 300: it dispatches every
tree through joblib in Python (~4 ms for the example model's 100 trees). So requests that arrive
while a prediction runs wait for it, then are predicted together, their rows stacked, and each
gets its own slice back. A lone request is predicted at once.

Rows are independent for the estimators served here, so a batch answers each request exactly as
predicting it alone would. If a batched call fails, each request is predicted alone, so only the
request whose rows make the model fail gets the error.

Two front doors, one rule: `Batcher` for callers in threads (they take turns doing the work), and
`AsyncBatcher` for the server's event loop, which never predicts itself: one worker thread does.
Its batches adapt to the load: after a batch of n requests it waits, briefly, for n to be queued
again, because clients that each wait for their answer send their next request together, a
little after the answers go out; without that wait a batch of 8 tends to become one of 1 then
one of 7. After a batch of one request (one client) nothing waits.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

__all__ = ["AsyncBatcher", "Batcher"]

# Bounds one batch's rows-per-call growth: the requests beyond it form the next batch.
MAX_JOBS = 64
# The longest a batch waits for the requests of the last one to come back: a share of the last
# prediction's time (waiting costs latency, a call more costs a whole prediction), capped.
WAIT_SHARE = 0.5
MAX_WAIT_S = 0.005


class _Job:
    __slots__ = ("done", "error", "future", "result", "rows")

    def __init__(self, rows: list[Any], future: asyncio.Future[list[Any]] | None = None) -> None:
        self.rows = rows
        self.future = future
        self.done = False
        self.result: list[Any] = []
        self.error: BaseException | None = None


class Batcher:
    """Calls `predict(rows) -> one output per row` for concurrent callers, batched.

    Thread-safe; the calling threads take turns doing the work (no thread of its own), so it
    needs no start or stop.
    """

    def __init__(self, predict: Callable[[list[Any]], list[Any]],
                 max_jobs: int = MAX_JOBS) -> None:
        self._predict = predict
        self._max_jobs = max_jobs
        self._condition = threading.Condition()
        self._queue: list[_Job] = []
        self._busy = False

    def __call__(self, rows: list[Any]) -> list[Any]:
        job = _Job(rows)
        with self._condition:
            self._queue.append(job)
        while True:
            with self._condition:
                while self._busy and not job.done:
                    self._condition.wait()
                if job.done:
                    break
                self._busy = True  # this caller predicts the queue, its own job included
                batch = self._queue[:self._max_jobs]
                del self._queue[:self._max_jobs]
            try:
                self._run(batch)
            finally:
                for other in batch:  # a BaseException mid-batch must not strand the waiters
                    if not other.done:
                        other.error = other.error or RuntimeError("the batch was interrupted")
                        other.done = True
                with self._condition:
                    self._busy = False
                    self._condition.notify_all()
        if job.error is not None:
            raise job.error
        return job.result

    def _run(self, batch: list[_Job]) -> None:
        _run(self._predict, batch)


def _run(predict: Callable[[list[Any]], list[Any]], batch: list[_Job]) -> None:
    """Predict `batch` in one call, and each job alone when that call fails."""
    if len(batch) == 1:
        _alone(predict, batch[0])
        return
    try:
        outputs = predict([row for job in batch for row in job.rows])
        if len(outputs) != sum(len(job.rows) for job in batch):
            raise ValueError("the model answered a different number of rows")
    except Exception:
        for job in batch:  # find which request fails; the others still get answers
            _alone(predict, job)
        return
    start = 0
    for job in batch:
        job.result = outputs[start:start + len(job.rows)]
        start += len(job.rows)
        job.done = True


def _alone(predict: Callable[[list[Any]], list[Any]], job: _Job) -> None:
    try:
        job.result = predict(job.rows)
    except Exception as error:
        job.error = error
    job.done = True


_worker: ThreadPoolExecutor | None = None
_worker_lock = threading.Lock()


def _predict_thread() -> ThreadPoolExecutor:
    """The one thread every AsyncBatcher predicts in (one per process, made on first use).

    One is enough: predictions hold the GIL most of the time, and a second thread would only
    take it from the event loop. Each batcher hands it one batch at a time, so models take turns.
    """
    global _worker
    with _worker_lock:
        if _worker is None:
            _worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mlops-bot-predict")
        return _worker


class AsyncBatcher:
    """`await batcher(rows)`: `predict(rows)` batched across concurrent callers, on the predict
    thread. Callers may be on any event loop; each answer is delivered on its caller's loop."""

    def __init__(self, predict: Callable[[list[Any]], list[Any]], max_jobs: int = MAX_JOBS,
                 executor: ThreadPoolExecutor | None = None) -> None:
        self._predict = predict
        self._max_jobs = max_jobs
        self._executor = executor
        self._condition = threading.Condition()
        self._queue: list[_Job] = []
        self._busy = False  # a step is submitted to or running on the predict thread
        self._last_jobs = 1  # requests in the last batch: how many to wait for next
        self._last_seconds = 0.0  # how long its prediction took

    async def __call__(self, rows: list[Any]) -> list[Any]:
        future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        with self._condition:
            self._queue.append(_Job(rows, future))
            start, self._busy = not self._busy, True
            self._condition.notify()
        if start:
            (self._executor or _predict_thread()).submit(self._step)
        return await future

    def patience(self) -> float:
        """How long a request arriving now, and no other, would wait for company (0: none)."""
        with self._condition:
            return self._wanted(len(self._queue) + 1)[1]

    def _wanted(self, queued: int) -> tuple[int, float]:
        """How many requests the next batch waits for, and for how long at most."""
        wanted = min(self._last_jobs, self._max_jobs)
        if queued >= wanted:
            return wanted, 0.0
        return wanted, min(self._last_seconds * WAIT_SHARE, MAX_WAIT_S)

    def _step(self) -> None:
        """On the predict thread: predict one batch, answer it, and come back if more wait."""
        with self._condition:
            wanted, patience = self._wanted(len(self._queue))
            if patience:
                self._condition.wait_for(lambda: len(self._queue) >= wanted, patience)
            batch = self._queue[:self._max_jobs]
            del self._queue[:self._max_jobs]
        started = time.perf_counter()
        try:
            _run(self._predict, batch)
        finally:
            self._last_jobs, self._last_seconds = len(batch), time.perf_counter() - started
            _answer(batch)
            with self._condition:
                self._busy = bool(self._queue)
            if self._busy:  # resubmitted, not looped: other batchers' batches take turns
                (self._executor or _predict_thread()).submit(self._step)


def _answer(batch: list[_Job]) -> None:
    """Deliver each job's outcome on its caller's loop, one wake-up per loop."""
    by_loop: dict[asyncio.AbstractEventLoop, list[_Job]] = {}
    for job in batch:
        if job.future is not None:
            by_loop.setdefault(job.future.get_loop(), []).append(job)
    for loop, jobs in by_loop.items():
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits for these
            loop.call_soon_threadsafe(_settle, jobs)


def _settle(jobs: list[_Job]) -> None:
    for job in jobs:
        assert job.future is not None
        if job.future.done():  # cancelled: the client went away
            continue
        if not job.done:
            job.future.set_exception(RuntimeError("the batch was interrupted"))
        elif job.error is not None:
            job.future.set_exception(job.error)
        else:
            job.future.set_result(job.result)
