"""Environment locks as files: `<state>/locks/<environment>.json`, created exclusively."""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from pathlib import Path

from mlops_bot.backends.types import EnvironmentLock
from mlops_bot.errors import UserError

__all__ = ["FileLockStore"]


class FileLockStore:
    def __init__(self, root: Path) -> None:
        self._root = root

    def _path(self, environment: str) -> Path:
        return self._root / f"{environment}.json"

    def acquire(self, lock: EnvironmentLock) -> EnvironmentLock:
        self._root.mkdir(parents=True, exist_ok=True)
        # Write the whole lock to a private file, then link it into place: link() fails when the
        # name exists, so it is the atomic test-and-set, and nobody ever reads a half-written lock.
        fd, tmp = tempfile.mkstemp(prefix=".lock-", dir=self._root)
        try:
            with os.fdopen(fd, "w") as handle:
                json.dump(dataclasses.asdict(lock), handle)
            os.link(tmp, self._path(lock.environment))
        except FileExistsError:
            held = self.get(lock.environment)
            return held if held is not None else self.acquire(lock)
        finally:
            os.unlink(tmp)
        return lock

    def release(self, environment: str, owner: str) -> EnvironmentLock | None:
        held = self.get(environment)
        if held is None:
            return None
        if held.owner != owner:
            raise UserError(f"{environment} is locked by {held.owner} ({held.actor}: "
                            f"{held.reason or 'no reason given'}); only {held.owner} can unlock it")
        self._path(environment).unlink(missing_ok=True)
        return held

    def get(self, environment: str) -> EnvironmentLock | None:
        try:
            return EnvironmentLock(**json.loads(self._path(environment).read_text()))
        except FileNotFoundError:
            return None
