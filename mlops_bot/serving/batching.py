"""Concurrent predictions of one model answered by one estimator call (a "group commit").

A scikit-learn random forest costs about the same to predict 3 rows or 300: it dispatches every
tree through joblib in Python (~4 ms for the example model's 100 trees). So requests that arrive
while a prediction runs wait for it, then are predicted together, their rows stacked, and each
gets its own slice back. A lone request is predicted at once: batching adds no wait, it fills
the time requests already spend queued behind the running prediction.

Rows are independent for the estimators served here, so a batch answers each request exactly as
predicting it alone would. If a batched call fails, each request is predicted alone, so only the
request whose rows make the model fail gets the error.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

__all__ = ["Batcher"]

# Bounds one batch's rows-per-call growth: the requests beyond it form the next batch.
MAX_JOBS = 64


class _Job:
    __slots__ = ("done", "error", "result", "rows")

    def __init__(self, rows: list[Any]) -> None:
        self.rows = rows
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
        if len(batch) == 1:
            self._alone(batch[0])
            return
        try:
            outputs = self._predict([row for job in batch for row in job.rows])
            if len(outputs) != sum(len(job.rows) for job in batch):
                raise ValueError("the model answered a different number of rows")
        except Exception:
            for job in batch:  # find which request fails; the others still get answers
                self._alone(job)
            return
        start = 0
        for job in batch:
            job.result = outputs[start:start + len(job.rows)]
            start += len(job.rows)
            job.done = True

    def _alone(self, job: _Job) -> None:
        try:
            job.result = self._predict(job.rows)
        except Exception as error:
            job.error = error
        job.done = True
