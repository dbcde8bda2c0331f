"""An environment's lock held for the length of a deploy or rollback, and renewed meanwhile.

The lock records its owner and an expiry `MLOPS_BOT_LOCK_SECONDS` (default 600) ahead, renewed
every third of that by a heartbeat thread while the promotion runs. A lock whose expiry passed,
or one of a process of this host that no longer exists (a deploy killed with SIGKILL), is taken
over, and the taker says so; any other lock refuses with `env_locked`. The lock is released on
the way out whatever happens (an exception, Ctrl-C, SIGTERM).
"""

from __future__ import annotations

import getpass
import os
import re
import socket
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from mlops_bot.backends.types import EnvironmentLock
from mlops_bot.console import progress
from mlops_bot.errors import UserError

if TYPE_CHECKING:
    from mlops_bot.backends.factory import Backends
    from mlops_bot.backends.types import LockStore
    from mlops_bot.config import Config

__all__ = ["EnvironmentLocked", "cli_owner", "holding", "lapsed", "locked_for"]

_DEFAULT_SECONDS = 600
_PROCESS = re.compile(r"@(?P<host>[^ ]+) pid (?P<pid>[0-9]{1,10})$")


class EnvironmentLocked(UserError):
    """Someone else holds the environment's lock (reason code env_locked)."""

    code = "env_locked"

    def __init__(self, message: str, held: EnvironmentLock) -> None:
        super().__init__(message)
        self.held = held


def cli_owner() -> str:
    """Who holds a lock taken on the command line: user, host and process."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return f"{user}@{socket.gethostname()} pid {os.getpid()}"


def lock_seconds(environ: Mapping[str, str] = os.environ) -> int:
    value = environ.get("MLOPS_BOT_LOCK_SECONDS", "")
    if value and not (value.isdigit() and int(value) >= 3):
        raise UserError(f"MLOPS_BOT_LOCK_SECONDS={value!r} must be a whole number of seconds, "
                        "at least 3")
    return int(value) if value else _DEFAULT_SECONDS


def lapsed(lock: EnvironmentLock, now: datetime | None = None) -> str | None:
    """Why `lock` no longer holds (its expiry passed, its process is gone), or None."""
    now = now or datetime.now(UTC)
    try:
        expires = datetime.fromisoformat(lock.expires_at) if lock.expires_at else None
    except ValueError:
        expires = None  # unreadable: it holds (a lock must deny when in doubt)
    if expires is not None and expires.tzinfo is not None and expires <= now:
        return f"it expired at {lock.expires_at}"
    process = _PROCESS.search(lock.owner)
    if process and process["host"] == socket.gethostname() and not _alive(int(process["pid"])):
        return f"process {process['pid']} on {process['host']} no longer runs"
    return None


@contextmanager
def holding(store: LockStore, environment: str, owner: str, actor: str,
            reason: str) -> Iterator[EnvironmentLock]:
    """The environment locked by `owner` inside (a lock it held before stays held after)."""
    seconds = lock_seconds()
    wanted = _lock(environment, owner, actor, reason, seconds)
    held = store.acquire(wanted)
    # Another's lock, or a deploy lock (it has an expiry) of the same owner: another job of the
    # same PR, or one that was killed. Only a /lock of the same owner (no expiry) is shared.
    if held != wanted and (held.owner != owner or held.expires_at):
        why = lapsed(held)
        if why is None:
            raise EnvironmentLocked(
                f"{environment} is locked by {held.owner} ({held.actor or 'unknown'}: "
                f"{held.reason or 'no reason given'}, since {held.created_at}): "
                + (f"wait for it to finish (it lapses at {held.expires_at} unless its holder "
                   "renews it)" if held.expires_at else
                   f"release it with `/unlock {environment}` on the pull request that locked "
                   f"it, or `/unlock {environment} --force`"), held)
        progress(f"mlops-bot: taking over the lock of {environment} held by {held.owner}: {why}")
        held = store.take_over(held, wanted)
        if held != wanted:
            raise EnvironmentLocked(f"{environment} was locked by {held.owner} meanwhile: try "
                                    "again when it is done", held)
    elif held != wanted:
        yield held  # taken before (a /lock of the same owner): not ours to renew or release
        return
    stop = threading.Event()
    beat = threading.Thread(target=_heartbeat, args=(store, wanted, seconds, stop),
                            name=f"lock-{environment}", daemon=True)
    beat.start()
    try:
        yield wanted
    finally:
        stop.set()
        beat.join()
        try:
            store.release(environment, owner)
        except UserError as error:  # taken over meanwhile: theirs now, and not ours to remove
            progress(f"mlops-bot: warning: {error}")


def _lock(environment: str, owner: str, actor: str, reason: str,
          seconds: int) -> EnvironmentLock:
    now = datetime.now(UTC)
    return EnvironmentLock(environment, owner, actor, reason, now.isoformat(timespec="seconds"),
                           (now + timedelta(seconds=seconds)).isoformat(timespec="seconds"))


def _heartbeat(store: LockStore, lock: EnvironmentLock, seconds: int,
               stop: threading.Event) -> None:
    while not stop.wait(seconds / 3):
        expires = datetime.now(UTC) + timedelta(seconds=seconds)
        try:
            if not store.renew(replace(lock, expires_at=expires.isoformat(timespec="seconds"))):
                progress(f"mlops-bot: warning: the lock of {lock.environment} is no longer "
                         f"held by {lock.owner} (taken over or force-unlocked)")
                return
        except Exception as error:  # the next beat tries again; the expiry leaves a margin
            progress(f"mlops-bot: warning: could not renew the lock of {lock.environment}: "
                     f"{error}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextmanager
def locked_for(backends: Backends, config: Config, environment: str,
               reason: str) -> Iterator[EnvironmentLock]:
    """A command line's deploy or rollback: the environment checked, its lock held by this
    process, and SIGTERM handled like Ctrl-C (the promotion puts the endpoint back)."""
    from mlops_bot.flows.promote_inputs import environment_of
    from mlops_bot.interrupts import stoppable

    environment_of(config, environment)  # an unknown environment is refused before locking
    owner = cli_owner()
    with stoppable(), holding(backends.locks, environment, owner, owner.split("@")[0],
                              reason) as lock:
        yield lock
