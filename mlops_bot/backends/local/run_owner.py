"""Who runs a local run: the owning process, its worker, and a heartbeat, to tell a live run from
an orphan.

A `running` record carries an `owner` block: the pid, host, boot id and process start time of the
mlops-bot process that claimed the run and of the kfp worker it started. Both renew the mtime of
the run's `heartbeat` file every few seconds while they live. A run is gone when, on this host
(same host name and boot), neither process lives any more (a pid now held by a process started
at another time was reused); for a record written on another host, which cannot be asked, when
its heartbeat is older than a bound.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any

__all__ = ["HEARTBEAT_SECONDS", "Heartbeat", "gone_why", "process_identity"]

HEARTBEAT_SECONDS = 2.0  # how often a live owner or worker touches the heartbeat file
_BOOT_ID = Path("/proc/sys/kernel/random/boot_id")


def process_identity(pid: int | None = None) -> dict[str, Any]:
    """The pid, host, boot and start time that name a process uniquely (pid reuse included)."""
    pid = os.getpid() if pid is None else pid
    return {"pid": pid, "host": socket.gethostname(), "boot_id": _boot_id(),
            "started": _start_ticks(pid)}


def gone_why(owner: dict[str, Any] | None, heartbeat: Path, stale_after: float) -> str | None:
    """Why the run an `owner` block describes has nobody running it any more, or None if its
    owner or worker still lives (or, on another host, still beats)."""
    if not owner:
        return "its record names no process running it (written by an older mlops-bot)"
    who = f"pid {owner.get('pid')} on {owner.get('host')}"
    here = process_identity()
    if owner.get("host") != here["host"] or owner.get("boot_id") != here["boot_id"]:
        age = _age(heartbeat)
        if age is not None and age <= stale_after:
            return None
        since = "never beat" if age is None else f"last beat {age:.0f} s ago"
        return (f"the push running it ({who}) stopped renewing its heartbeat ({since}; "
                f"the bound is {stale_after:g} s)")
    if owner.get("pid") == here["pid"]:  # this process claims only what none of its threads runs
        return f"the attempt this process ({who}) started ended without recording its outcome"
    workers = [(owner.get("pid"), owner.get("started")),
               (owner.get("worker_pid"), owner.get("worker_started"))]
    if any(_alive(pid, started) for pid, started in workers):
        return None
    return f"the push running it ({who}) and its worker are gone (killed or crashed)"


def _alive(pid: Any, started: Any) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists, owned by someone else
    now = _start_ticks(pid)
    return started is None or now is None or now == started  # another start time: pid reused


def _start_ticks(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (/proc/<pid>/stat field 22)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[-1].split()  # the command name in parentheses may hold spaces
    return int(fields[19]) if len(fields) > 19 and fields[19].isdigit() else None


def _boot_id() -> str | None:
    try:
        return _BOOT_ID.read_text().strip()
    except OSError:
        return None


def _age(path: Path) -> float | None:
    try:
        return max(0.0, time.time() - path.stat().st_mtime)
    except FileNotFoundError:
        return None


class Heartbeat:
    """Touches `path` now and every `interval` seconds until the block ends (a daemon thread)."""

    def __init__(self, path: Path, interval: float = HEARTBEAT_SECONDS) -> None:
        self._path = path
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat {path.parent.name}",
                                        daemon=True)

    def __enter__(self) -> Heartbeat:
        self._touch()
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join()

    def _beat(self) -> None:
        while not self._stop.wait(self._interval):
            self._touch()

    def _touch(self) -> None:
        with contextlib.suppress(OSError):  # a full disk must not kill the run it watches
            self._path.touch()
