"""The lock a deploy or rollback holds: renewed while held, taken over from a dead or expired
holder (saying so), refused while someone else's lives, released however the deploy ends."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from datetime import UTC, datetime

import pytest

from mlops_bot.backends.local.locks import FileLockStore
from mlops_bot.backends.types import EnvironmentLock
from mlops_bot.errors import UserError
from mlops_bot.flows.held_lock import EnvironmentLocked, cli_owner, holding, lapsed


def test_the_lock_is_renewed_while_held_and_released_after(tmp_path, monkeypatch):
    monkeypatch.setenv("MLOPS_BOT_LOCK_SECONDS", "3")
    store = FileLockStore(tmp_path)
    with holding(store, "staging", "#7", "alice", "deploy in progress") as taken:
        first = datetime.fromisoformat(taken.expires_at)
        assert (first - datetime.fromisoformat(taken.created_at)).total_seconds() == 3
        time.sleep(2.2)  # two beats, one a second
        renewed = store.get("staging")
        assert renewed is not None and renewed.owner == "#7"
        assert datetime.fromisoformat(renewed.expires_at) > first
    assert store.get("staging") is None


def test_the_lock_is_released_when_the_deploy_is_interrupted(tmp_path):
    store = FileLockStore(tmp_path)
    with pytest.raises(KeyboardInterrupt), holding(store, "staging", "#7", "alice", "deploy"):
        raise KeyboardInterrupt
    assert store.get("staging") is None


def test_a_live_lock_refuses_with_env_locked(tmp_path):
    store = FileLockStore(tmp_path)
    store.acquire(EnvironmentLock("staging", "#12", "bob", "release", "2026-01-01T00:00:00+00:00"))
    with pytest.raises(EnvironmentLocked, match=r"^staging is locked by #12 \(bob: release, since "
                       r"2026-01-01T00:00:00\+00:00\): release it with `/unlock staging` on the pull "
                       r"request that locked it, or `/unlock staging --force`$") as \
            refused, holding(store, "staging", cli_owner(), "alice", "deploy"):
        raise AssertionError("never entered")
    assert refused.value.code == "env_locked"
    assert store.get("staging").owner == "#12"  # type: ignore[union-attr]


def test_the_lock_of_a_process_that_is_gone_is_taken_over_saying_so(tmp_path, capsys):
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    store = FileLockStore(tmp_path)
    dead = EnvironmentLock("staging", f"bob@{socket.gethostname()} pid {gone}", "bob", "deploy",
                           "2026-01-01T00:00:00+00:00", "2999-01-01T00:00:00+00:00")
    store.acquire(dead)
    assert lapsed(dead) == f"process {gone} on {socket.gethostname()} no longer runs"
    with holding(store, "staging", "#7", "alice", "deploy") as taken:
        assert store.get("staging") == taken
    assert f"taking over the lock of staging held by {dead.owner}: process {gone}" in \
        capsys.readouterr().err
    assert store.get("staging") is None


def test_expiry_and_an_unreadable_expiry():
    now = datetime(2026, 6, 1, tzinfo=UTC)
    held = EnvironmentLock("staging", "#12", "bob", "", "2026-01-01T00:00:00+00:00",
                           "2026-05-31T23:59:59+00:00")
    assert lapsed(held, now) == "it expired at 2026-05-31T23:59:59+00:00"
    assert lapsed(EnvironmentLock("staging", "#12", "bob", "", "", ""), now) is None  # /lock
    assert lapsed(EnvironmentLock("staging", "#12", "bob", "", "", "soon"), now) is None


def test_a_lock_taken_before_by_the_same_owner_stays_after(tmp_path):
    store = FileLockStore(tmp_path)
    mine = EnvironmentLock("staging", "#7", "alice", "/lock", "2026-01-01T00:00:00+00:00")
    store.acquire(mine)
    with holding(store, "staging", "#7", "alice", "deploy in progress") as held:
        assert held == mine
    assert store.get("staging") == mine


def test_a_bad_lock_duration_is_one_sentence(tmp_path, monkeypatch):
    monkeypatch.setenv("MLOPS_BOT_LOCK_SECONDS", "2")
    with pytest.raises(UserError, match="MLOPS_BOT_LOCK_SECONDS='2' must be a whole number of "
                       "seconds, at least 3"), holding(FileLockStore(tmp_path), "staging", "#7",
                                                       "alice", "deploy"):
        raise AssertionError("never entered")


def test_a_deploy_lock_of_the_same_pull_request_is_shared_only_once_it_lapsed(tmp_path, capsys):
    store = FileLockStore(tmp_path)
    running = EnvironmentLock("staging", "#7", "alice", "deploy in progress",
                              "2026-01-01T00:00:00+00:00", "2999-01-01T00:00:00+00:00")
    store.acquire(running)
    with pytest.raises(EnvironmentLocked, match=r"^staging is locked by #7 "), \
            holding(store, "staging", "#7", "alice", "deploy in progress"):
        raise AssertionError("two deploy jobs of one PR never promote at once")
    store.release("staging", None)
    killed = EnvironmentLock("staging", "#7", "alice", "deploy in progress",
                             "2026-01-01T00:00:00+00:00", "2026-01-01T00:10:00+00:00")
    store.acquire(killed)
    with holding(store, "staging", "#7", "alice", "deploy in progress") as taken:
        assert taken != killed and store.get("staging") == taken
    assert "taking over the lock of staging held by #7: it expired at" in capsys.readouterr().err
    assert store.get("staging") is None
