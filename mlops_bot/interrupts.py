"""SIGTERM handled like Ctrl-C while something must be undone when stopped.

GitHub cancels a job with SIGINT, then SIGTERM, then SIGKILL; `docker stop` sends SIGTERM to the
action's PID 1, which ignores a signal it has no handler for. Inside `stoppable()` both raise
in the main thread (`KeyboardInterrupt`, or `Terminated` for SIGTERM), so the `except
BaseException` and `finally` blocks of a promotion put the endpoint back and release the lock.
Only the first signal raises: a second one while that clean-up runs is noted and ignored, so
the clean-up is not cut short by the canceller's follow-up signal.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from mlops_bot.errors import EXIT_INTERRUPTED

__all__ = ["EXIT_INTERRUPTED", "EXIT_TERMINATED", "Terminated", "exit_code", "stoppable",
           "stopped_by"]

EXIT_TERMINATED = 143  # 128 + SIGTERM


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived; handled wherever Ctrl-C is."""


def stopped_by(error: BaseException) -> str:
    """The signal an interruption stands for, as words for messages."""
    return "SIGTERM" if isinstance(error, Terminated) else "Ctrl-C"


def exit_code(error: KeyboardInterrupt) -> int:
    return EXIT_TERMINATED if isinstance(error, Terminated) else EXIT_INTERRUPTED


@contextmanager
def stoppable() -> Iterator[None]:
    """SIGINT and SIGTERM raise once inside; outside the main thread this changes nothing
    (Python only delivers signals there)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    raised = False

    def handle(number: int, frame: FrameType | None) -> None:
        nonlocal raised
        if raised:
            return  # already stopping: let the clean-up finish
        raised = True
        raise Terminated() if number == signal.SIGTERM else KeyboardInterrupt()

    previous = {s: signal.signal(s, handle) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
