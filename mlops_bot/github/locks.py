"""Environment locks kept in the repository on GitHub, the way github/branch-deploy keeps them.

A lock is the branch `mlops-bot-lock/<environment>` on a parentless commit whose message (and
`lock.json`, for people browsing the branch) holds the lock record. Creating a ref through the
API is atomic (422 when it exists), so of two concurrent `/lock` commands exactly one wins; the
comment job and the deploy job share them with no cloud credentials, only `contents: write`.

Anybody who can push to the repository can delete the branch: a lock coordinates deploys, it is
not a security boundary (the environment's required reviewers are).
"""

from __future__ import annotations

import dataclasses
import json
import re
from typing import TYPE_CHECKING

from mlops_bot.backends.types import EnvironmentLock
from mlops_bot.errors import UserError

if TYPE_CHECKING:
    from mlops_bot.backends.types import LockStore
    from mlops_bot.github.forge import Forge

__all__ = ["LOCK_BRANCH_PREFIX", "ForgeLockStore", "lock_ref"]

LOCK_BRANCH_PREFIX = "mlops-bot-lock/"
_ENVIRONMENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,62}")
_FIELD_LIMIT = 1000  # characters of a lock's reason read back
# Who may hold a lock kept on GitHub: a pull request, or the deploy job of a PR-less deployment.
# Anyone who can push can write a lock branch: fields shown in comments are held to patterns.
_FIELDS = {"owner": re.compile(r"#[0-9]{1,10}|deployment [0-9]{1,20}"),
           "actor": re.compile(r"([A-Za-z0-9][A-Za-z0-9_.\[\]-]{0,99})?"),
           "created_at": re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.+Z-]{8,30}")}
_ATTEMPTS = 3  # a lock released between our failed create and our read: try again


def lock_ref(environment: str) -> str:
    if not _ENVIRONMENT.fullmatch(environment):
        raise UserError(f"environment {environment!r} cannot name a lock branch: use letters, "
                        "digits, '-' and '_' (at most 63) in mlops.yaml environments")
    return f"refs/heads/{LOCK_BRANCH_PREFIX}{environment}"


class ForgeLockStore:
    """`LockStore` on a forge's refs."""

    def __init__(self, forge: Forge) -> None:
        self._forge = forge

    def acquire(self, lock: EnvironmentLock) -> EnvironmentLock:
        message, files = _commit_of(lock)
        for _ in range(_ATTEMPTS):
            if self._forge.create_ref(lock_ref(lock.environment), message, files):
                return lock
            held = self.get(lock.environment)
            if held is not None:
                return held
        raise UserError(f"the lock of {lock.environment} was taken and released "
                        f"{_ATTEMPTS} times while asking for it: try the command again")

    def take_over(self, held: EnvironmentLock, lock: EnvironmentLock) -> EnvironmentLock:
        """The branch moves forward to `lock`'s commit only from the commit of `held` (a
        fast-forward GitHub refuses once anybody replaced it): of two takers one wins."""
        message = self._forge.ref_message(lock_ref(lock.environment))
        if message is None:
            return self.acquire(lock)
        if _parse(lock.environment, message) != held:
            return _parse(lock.environment, message)
        if self._forge.replace_ref(lock_ref(lock.environment), message, *_commit_of(lock)):
            return lock
        now = self.get(lock.environment)
        return now if now is not None else self.acquire(lock)

    def renew(self, lock: EnvironmentLock) -> bool:
        message = self._forge.ref_message(lock_ref(lock.environment))
        if message is None or _parse(lock.environment, message).owner != lock.owner:
            return False
        return self._forge.replace_ref(lock_ref(lock.environment), message, *_commit_of(lock))

    def release(self, environment: str, owner: str | None) -> EnvironmentLock | None:
        held = self.get(environment)
        if held is None:
            return None
        if owner is not None and held.owner != owner:
            raise UserError(f"{environment} is locked by {held.owner} ({held.actor}: "
                            f"{held.reason or 'no reason given'}); only {held.owner} can unlock it")
        self._forge.delete_ref(lock_ref(environment))
        return held

    def get(self, environment: str) -> EnvironmentLock | None:
        message = self._forge.ref_message(lock_ref(environment))
        if message is None:
            return None
        return _parse(environment, message)


def _commit_of(lock: EnvironmentLock) -> tuple[str, dict[str, str]]:
    """The message and files of the commit a lock branch points to while `lock` holds."""
    record = json.dumps(dataclasses.asdict(lock), sort_keys=True, indent=2)
    message = f"mlops-bot lock: {lock.environment} held by {lock.owner}\n\n{record}\n"
    return message, {"lock.json": record + "\n"}


def _parse(environment: str, message: str) -> EnvironmentLock:
    """The record in a lock commit's message. A branch that exists still locks the environment
    when its record is unreadable (somebody made it by hand): the lock names the branch."""
    _, _, body = message.partition("\n\n")
    try:
        record = json.loads(body)
    except ValueError:
        record = None
    fields = [f.name for f in dataclasses.fields(EnvironmentLock) if f.name != "expires_at"]
    expires = record.get("expires_at", "") if isinstance(record, dict) else ""
    if not (expires == "" or (isinstance(expires, str) and _FIELDS["created_at"].fullmatch(
            expires))):
        record = None  # an expiry is a time like created_at, or none (a /lock never lapses)
    if not (isinstance(record, dict)
            and all(isinstance(record.get(f), str) for f in fields)
            and len(record["reason"]) <= _FIELD_LIMIT
            and all(p.fullmatch(record[f]) for f, p in _FIELDS.items())):
        return EnvironmentLock(environment, f"branch {LOCK_BRANCH_PREFIX}{environment}", "unknown",
                               "the lock branch holds no readable lock record: delete the branch "
                               "to unlock", "")
    return EnvironmentLock(environment, record["owner"], record["actor"], record["reason"],
                           record["created_at"], expires)


if TYPE_CHECKING:
    # mypy checks ForgeLockStore against the LockStore Protocol here.
    def _satisfies_the_protocol(store: ForgeLockStore) -> LockStore:
        return store
