"""Environment locks in GCS: one holder at a time, through the real storage client."""

from __future__ import annotations

import threading

import pytest
from google.auth.credentials import AnonymousCredentials

from mlops_bot.backends.gcp.clients import GcpClients
from mlops_bot.backends.gcp.locks import GcsLockStore
from mlops_bot.backends.types import EnvironmentLock
from mlops_bot.config import GcpConfig
from mlops_bot.errors import UserError
from tests.support.fake_gcs import FakeGcs


def lock(owner: str) -> EnvironmentLock:
    return EnvironmentLock("staging", owner, "alice", "load test", "2026-01-01T00:00:00+00:00")


@pytest.fixture
def gcs():
    with FakeGcs() as fake:
        yield fake


def store(gcs: FakeGcs) -> GcsLockStore:
    config = GcpConfig(project="acme-ml", region="europe-west4", artifact_repository="mlops",
                       registry_bucket="registry", api_endpoints={"storage": gcs.endpoint})
    return GcsLockStore(GcpClients(config, AnonymousCredentials()))


def test_first_owner_wins_and_the_lock_is_an_object(gcs):
    locks = store(gcs)
    assert locks.acquire(lock("#1")) == lock("#1")
    assert locks.acquire(lock("#2")) == lock("#1")
    assert ("registry", "locks/staging.json") in gcs.objects
    assert locks.get("production") is None


def test_only_the_holder_releases(gcs):
    locks = store(gcs)
    locks.acquire(lock("#1"))
    with pytest.raises(UserError, match=r"staging is locked by #1 .*only #1 can unlock it"):
        locks.release("staging", "#2")
    assert locks.release("staging", "#1") == lock("#1")
    assert locks.get("staging") is None and locks.release("staging", "#1") is None


def test_concurrent_takers_get_exactly_one_winner(gcs):
    locks = store(gcs)
    winners: list[str] = []
    threads = [threading.Thread(target=lambda o=f"#{i}": winners.append(locks.acquire(lock(o)).owner))
               for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(winners)) == 1


def test_an_unreadable_lock_denies_with_a_clear_error(gcs):
    gcs.put("registry", "locks/staging.json", b"{not json")
    with pytest.raises(UserError, match=r"the lock gs://registry/locks/staging\.json cannot be read"):
        store(gcs).get("staging")


def test_permission_denied_names_the_bucket_and_role(gcs):
    gcs.deny("registry")
    with pytest.raises(UserError, match=r"roles/storage\.objectAdmin on the registry bucket gs://registry"):
        store(gcs).acquire(lock("#1"))
