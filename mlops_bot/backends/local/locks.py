"""Environment locks as files: `<state>/locks/<environment>.json`, created exclusively.

Taking over, renewing and releasing replace or remove the file while holding
`<environment>.guard` (flock), after checking it is still the lock they read, so none of them
removes a lock somebody else took meanwhile.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from mlops_bot.backends.local.files import locked, replace_json, write_atomic
from mlops_bot.backends.local.records import read_lock
from mlops_bot.backends.types import EnvironmentLock
from mlops_bot.errors import UserError

__all__ = ["FileLockStore"]


class FileLockStore:
    def __init__(self, root: Path) -> None:
        self._root = root

    def _path(self, environment: str) -> Path:
        return self._root / f"{environment}.json"

    def _guard(self, environment: str) -> Path:
        return self._root / f"{environment}.guard"

    def acquire(self, lock: EnvironmentLock) -> EnvironmentLock:
        # Write the whole lock to a private file, then link it into place: link() fails when the
        # name exists, so it is the atomic test-and-set, and nobody ever reads a half-written lock
        # (a full or read-only disk is a StorageError, with no temporary file left).
        document = json.dumps(dataclasses.asdict(lock)).encode()
        if write_atomic(self._path(lock.environment), document, replace=False):
            return lock
        held = self.get(lock.environment)
        return held if held is not None else self.acquire(lock)

    def take_over(self, held: EnvironmentLock, lock: EnvironmentLock) -> EnvironmentLock:
        with locked(self._guard(lock.environment)):
            now = self.get(lock.environment)
            if now is None:
                return self.acquire(lock)
            if now != held:
                return now
            replace_json(self._path(lock.environment), dataclasses.asdict(lock))
        return lock

    def renew(self, lock: EnvironmentLock) -> bool:
        with locked(self._guard(lock.environment)):
            now = self.get(lock.environment)
            if now is None or now.owner != lock.owner:
                return False
            replace_json(self._path(lock.environment), dataclasses.asdict(lock))
        return True

    def release(self, environment: str, owner: str | None) -> EnvironmentLock | None:
        with locked(self._guard(environment)):
            held = self.get(environment)
            if held is None:
                return None
            if owner is not None and held.owner != owner:
                raise UserError(f"{environment} is locked by {held.owner} ({held.actor}: "
                                f"{held.reason or 'no reason given'}); only {held.owner} can "
                                "unlock it")
            self._path(environment).unlink(missing_ok=True)
        return held

    def get(self, environment: str) -> EnvironmentLock | None:
        return read_lock(self._path(environment), environment)  # unreadable: StateFileError
