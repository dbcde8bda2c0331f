"""The request log of `mlops-bot serve`: sampled predictions, for `mlops-bot monitor`.

Each request with sampled instances becomes one JSON line: `{"time": <unix seconds>, "model":
<deployed model id>, "model_name", "model_version", "run_id", "names": [feature names], "rows":
[[values of one instance]...], "predictions": [...]}` (`read_requests` gives one record per
instance, `features` a mapping), appended to
`<state_dir>/monitoring/<env>/requests/<start>-<n>.jsonl`. A segment is closed at
`segment_bytes`; the oldest segments are removed while the folder holds more than `max_bytes`,
so the log never grows past its cap whatever the traffic.

The server's event loop only draws the sample and puts a tuple on a queue (1-7 us a request);
a daemon thread turns what piled up into JSON and appends it in one write. Should the writer
fall behind by `max_pending` requests, further ones are dropped and counted, never waited for:
monitoring is a sample anyway.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import random
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

__all__ = ["RequestLog", "read_requests", "requests_folder"]

logger = logging.getLogger("mlops_bot.serving")
_STOP = object()


def requests_folder(state_dir: Path, environment: str) -> Path:
    return state_dir / "monitoring" / environment / "requests"


class RequestLog:
    """Appends a sample of the predictions of one environment, bounded in size."""

    def __init__(self, folder: Path, sampling_rate: float, *, segment_bytes: int = 1 << 20,
                 max_bytes: int = 64 << 20, max_pending: int = 10_000,
                 rng: random.Random | None = None) -> None:
        self.folder, self.rate = folder, sampling_rate
        self.segment_bytes, self.max_bytes = segment_bytes, max(max_bytes, segment_bytes)
        self.dropped = 0
        self._rng = rng or random.Random()
        self._queue: queue.Queue[Any] = queue.Queue(max_pending)
        self._thread = threading.Thread(target=self._write_all, name="mlops-request-log",
                                        daemon=True)
        self._segment: Path | None = None
        self._count = 0
        self._thread.start()

    def offer(self, model: Any, rows: Sequence[Sequence[Any]], predictions: Sequence[Any]) -> None:
        """From the server, per request: sample its instances and queue them; never blocks."""
        chosen = [i for i in range(len(rows)) if self.rate >= 1 or self._rng.random() < self.rate]
        if not chosen:
            return
        try:
            self._queue.put_nowait((time.time(), model, [rows[i] for i in chosen],
                                    [predictions[i] for i in chosen]))
        except queue.Full:
            self.dropped += 1

    def close(self, timeout: float = 5.0) -> None:
        """Write what is queued, then stop the writer."""
        try:
            self._queue.put(_STOP, timeout=timeout)
        except queue.Full:
            return
        self._thread.join(timeout)

    def _write_all(self) -> None:
        while True:
            batch = [self._queue.get()]
            while batch[-1] is not _STOP and len(batch) < 1000:  # what piled up: one append
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            chunk = ""
            try:
                for item in batch:
                    chunk += "" if item is _STOP else self._lines(*item)
                    if len(chunk) >= self.segment_bytes // 4 or item is batch[-1]:
                        self._write(chunk)  # segments overshoot their size by a quarter at most
                        chunk = ""
            except (OSError, TypeError, ValueError) as error:  # a full disk must not stop serving
                logger.warning("request log: %s", error)
            if batch[-1] is _STOP:
                return

    @staticmethod
    def _lines(when: float, model: Any, rows: list[Sequence[Any]],
               predictions: list[Any]) -> str:
        deployed = model.deployed
        names = list(model.feature_names) or [f"f{i}" for i in range(len(rows[0]))]
        # One line per request, rows as arrays: one C-encoded dumps, not one per instance.
        return json.dumps({"time": round(when, 3), "model": model.id,
                           "model_name": deployed.model, "model_version": deployed.model_version,
                           "run_id": deployed.lineage.get("run_id", ""), "names": names,
                           "rows": rows, "predictions": predictions}, default=str) + "\n"

    def _write(self, lines: str) -> None:
        if not lines:
            return
        path = self._current()
        with path.open("a", encoding="utf-8") as handle:
            handle.write(lines)
        if path.stat().st_size >= self.segment_bytes:
            self._segment = None
            self._trim()

    def _current(self) -> Path:
        if self._segment is None:
            self.folder.mkdir(parents=True, exist_ok=True)
            self._count += 1
            self._segment = self.folder / f"{time.time():.6f}-{os.getpid()}-{self._count}.jsonl"
        return self._segment

    def _trim(self) -> None:
        segments = _segments(self.folder)
        sizes = [s.stat().st_size for s in segments]
        total = sum(sizes)
        for segment, size in zip(segments[:-1], sizes, strict=False):  # never the newest
            if total <= self.max_bytes:
                return
            segment.unlink(missing_ok=True)
            total -= size


def _segments(folder: Path) -> list[Path]:
    """Oldest first: names start with their creation time."""
    found = folder.glob("*.jsonl") if folder.is_dir() else iter(())
    return sorted(found, key=lambda p: float(p.name.split("-", 1)[0]))


def read_requests(folder: Path, since: float, until: float) -> Iterator[dict[str, Any]]:
    """Each logged instance with `since <= time < until`, as `{"time", "model", ...,
    "features": {name: value}, "prediction"}`; a line cut short (a server killed mid-write) or
    of another shape is skipped."""
    for segment in _segments(folder):
        try:
            text = segment.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue  # trimmed by a running server meanwhile
        for line in text.splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if (isinstance(record, dict) and isinstance(record.get("time"), int | float)
                    and since <= record["time"] < until):
                yield from _instances(record)


def _instances(record: dict[str, Any]) -> Iterator[dict[str, Any]]:
    if isinstance(record.get("features"), dict):  # one instance per line
        yield record
        return
    names, rows = record.pop("names", None), record.pop("rows", None)
    predictions = record.pop("predictions", None)
    if not (isinstance(names, list) and isinstance(rows, list)
            and isinstance(predictions, list)):
        return
    for row, prediction in zip(rows, predictions, strict=False):
        if isinstance(row, list):
            yield {**record, "features": dict(zip(map(str, names), row, strict=False)),
                   "prediction": prediction}
