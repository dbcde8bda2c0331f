"""Environment locks as files: `<state>/locks/<environment>.json`, created exclusively."""

from __future__ import annotations

import dataclasses
import json
import os
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
        try:
            # O_EXCL makes creation the atomic test-and-set: one concurrent caller wins.
            fd = os.open(self._path(lock.environment), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            held = self.get(lock.environment)
            return held if held is not None else self.acquire(lock)
        with os.fdopen(fd, "w") as handle:
            json.dump(dataclasses.asdict(lock), handle)
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
