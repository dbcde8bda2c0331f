"""Environment locks as GCS objects: `locks/<environment>.json` in the registry bucket.

Taking a lock is a create-only write (`if_generation_match=0`), so of two concurrent takers GCS
lets exactly one through; releasing deletes the object at the generation that was read, so a lock
taken again in between is never removed by mistake.
"""

from __future__ import annotations

import dataclasses
import json
from typing import TYPE_CHECKING

from mlops_bot.backends.gcp.objects import BucketObjects
from mlops_bot.backends.types import EnvironmentLock
from mlops_bot.errors import UserError

if TYPE_CHECKING:
    from mlops_bot.backends.gcp.clients import GcpClients

__all__ = ["GcsLockStore"]

_ATTEMPTS = 5


class GcsLockStore:
    def __init__(self, clients: GcpClients, bucket: str | None = None) -> None:
        # No workflow identity may write locks/ (identities.py): the workflows lock on GitHub.
        self._objects = BucketObjects(
            clients, bucket or clients.config.registry_bucket, "the registry bucket",
            "gcp.registry_bucket", note="no workflow identity may write the bucket's locks/ "
            "(the workflows keep their locks on GitHub): `mlops-bot deploy` takes them with a "
            "maintainer's credentials")

    def acquire(self, lock: EnvironmentLock) -> EnvironmentLock:
        for _ in range(_ATTEMPTS):
            if self._objects.write_if(_name(lock.environment), _data(lock), "application/json",
                                      0):
                return lock
            held = self.get(lock.environment)
            if held is not None:
                return held
            # released between our write and our read: try again
        raise UserError(f"could not take the lock of {lock.environment}: "
                        f"{self._objects.url(_name(lock.environment))} kept changing")

    def take_over(self, held: EnvironmentLock, lock: EnvironmentLock) -> EnvironmentLock:
        for _ in range(_ATTEMPTS):
            generation, raw = self._objects.read_with_generation(_name(lock.environment))
            if raw is None:
                return self.acquire(lock)
            now = _parse(raw, self._objects.url(_name(lock.environment)))
            if now != held:
                return now
            if self._objects.write_if(_name(lock.environment), _data(lock), "application/json",
                                      generation):
                return lock
        raise UserError(f"could not take over the lock of {lock.environment}: "
                        f"{self._objects.url(_name(lock.environment))} kept changing")

    def renew(self, lock: EnvironmentLock) -> bool:
        generation, raw = self._objects.read_with_generation(_name(lock.environment))
        if raw is None or _parse(raw, self._objects.url(_name(lock.environment))).owner != \
                lock.owner:
            return False
        return self._objects.write_if(_name(lock.environment), _data(lock), "application/json",
                                      generation)

    def release(self, environment: str, owner: str | None) -> EnvironmentLock | None:
        generation, raw = self._objects.read_with_generation(_name(environment))
        if raw is None:
            return None
        held = _parse(raw, self._objects.url(_name(environment)))
        if owner is not None and held.owner != owner:
            raise UserError(f"{environment} is locked by {held.owner} ({held.actor}: "
                            f"{held.reason or 'no reason given'}); only {held.owner} can "
                            "unlock it")
        self._objects.delete_if(_name(environment), generation)
        return held

    def get(self, environment: str) -> EnvironmentLock | None:
        raw = self._objects.read(_name(environment))
        return None if raw is None else _parse(raw, self._objects.url(_name(environment)))


def _data(lock: EnvironmentLock) -> bytes:
    return json.dumps(dataclasses.asdict(lock)).encode()


def _name(environment: str) -> str:
    return f"locks/{environment}.json"


def _parse(raw: bytes, url: str) -> EnvironmentLock:
    try:
        return EnvironmentLock(**json.loads(raw))
    except (ValueError, TypeError) as error:
        # A lock that cannot be read must deny, never allow: say so and stop.
        raise UserError(f"the lock {url} cannot be read ({error}): look at it, and delete it "
                        "if nobody holds the environment") from None
