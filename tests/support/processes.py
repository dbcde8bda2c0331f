"""Long-running child processes (a `mlops-bot serve`) whose output lines can be awaited."""

from __future__ import annotations

import queue
import re
import signal
import subprocess
import threading
from pathlib import Path


class Process:
    """A child process whose output lines can be awaited (a thread reads each pipe)."""

    def __init__(self, args: list[str], cwd: Path, env: dict[str, str]) -> None:
        self.popen = subprocess.Popen(args, cwd=cwd, env=env, text=True, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE)
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: dict[str, list[str]] = {"stdout": [], "stderr": []}
        for name in ("stdout", "stderr"):
            threading.Thread(target=self._read, args=(name,), daemon=True).start()

    def _read(self, name: str) -> None:
        for line in getattr(self.popen, name):
            self.seen[name].append(line)
            self.lines.put(line)

    def wait_for(self, pattern: str, timeout: float = 60) -> re.Match[str]:
        while True:
            try:
                line = self.lines.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError(f"no line matching {pattern!r}; got {self.seen}") from None
            match = re.search(pattern, line)
            if match:
                return match

    def stop(self) -> int:
        """Ctrl-C (if it still runs), then its exit code."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGINT)
        return self.popen.wait(30)
