"""Environment locks on the local backend: one holder at a time, released only by it."""

from __future__ import annotations

import threading

import pytest

from mlops_bot.backends.local.locks import FileLockStore
from mlops_bot.backends.types import EnvironmentLock
from mlops_bot.errors import UserError


def lock(owner: str, environment: str = "staging") -> EnvironmentLock:
    return EnvironmentLock(environment, owner, f"user{owner}", "load test", "2026-01-01T00:00:00Z")


def test_first_owner_wins_and_others_see_the_holder(tmp_path):
    store = FileLockStore(tmp_path)
    assert store.acquire(lock("#1")).owner == "#1"
    assert store.acquire(lock("#2")).owner == "#1"
    assert store.get("staging") == lock("#1")
    assert store.get("production") is None


def test_only_the_holder_releases(tmp_path):
    store = FileLockStore(tmp_path)
    store.acquire(lock("#1"))
    with pytest.raises(UserError, match=r"staging is locked by #1 \(user#1: load test\); only #1"):
        store.release("staging", "#2")
    assert store.release("staging", "#1") == lock("#1")
    assert store.release("staging", "#1") is None
    assert store.acquire(lock("#2")).owner == "#2"


def test_concurrent_acquirers_get_exactly_one_winner(tmp_path):
    store = FileLockStore(tmp_path)
    results: list[str] = []
    threads = [threading.Thread(target=lambda o=f"#{i}": results.append(store.acquire(lock(o)).owner))
               for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(results)) == 1
