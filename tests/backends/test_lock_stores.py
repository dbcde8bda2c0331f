"""Environment locks: one contract, held by the file store and the GCS store alike."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from mlops_bot.backends.gcp.clients import GcpClients
from mlops_bot.backends.gcp.locks import GcsLockStore
from mlops_bot.backends.local.locks import FileLockStore
from mlops_bot.backends.types import EnvironmentLock, LockStore
from mlops_bot.config import GcpConfig
from mlops_bot.errors import UserError
from tests.support.fake_gcs import FakeGcs


def lock(owner: str, environment: str = "staging") -> EnvironmentLock:
    return EnvironmentLock(environment, owner, f"user{owner}", "load test",
                           "2026-01-01T00:00:00+00:00")


def gcs_store(gcs: FakeGcs) -> GcsLockStore:
    config = GcpConfig(project="acme-ml", region="europe-west4", artifact_repository="mlops",
                       registry_bucket="registry", api_endpoints={"storage": gcs.endpoint})
    return GcsLockStore(GcpClients(config))


@pytest.fixture(params=["file", "gcs"])
def store(request: pytest.FixtureRequest, tmp_path) -> Iterator[LockStore]:
    if request.param == "file":
        yield FileLockStore(tmp_path)
    else:
        with FakeGcs() as gcs:
            yield gcs_store(gcs)


def test_first_owner_wins_and_others_see_the_holder(store):
    assert store.acquire(lock("#1")) == lock("#1")
    assert store.acquire(lock("#2")) == lock("#1")
    assert store.get("staging") == lock("#1")
    assert store.get("production") is None


def test_only_the_holder_releases(store):
    store.acquire(lock("#1"))
    with pytest.raises(UserError, match=r"staging is locked by #1 \(user#1: load test\); only #1"):
        store.release("staging", "#2")
    assert store.release("staging", "#1") == lock("#1")
    assert store.release("staging", "#1") is None
    assert store.acquire(lock("#2")).owner == "#2"


def test_concurrent_takers_get_exactly_one_winner(store):
    winners: list[str] = []
    threads = [threading.Thread(target=lambda o=f"#{i}": winners.append(store.acquire(lock(o)).owner))
               for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(winners) == 8 and len(set(winners)) == 1


def test_the_gcs_lock_is_an_object_created_with_a_precondition():
    with FakeGcs() as gcs:
        gcs_store(gcs).acquire(lock("#1"))
        assert ("registry", "locks/staging.json") in gcs.objects


def test_an_unreadable_gcs_lock_denies_with_a_clear_error():
    with FakeGcs() as gcs:
        gcs.put("registry", "locks/staging.json", b"{not json")
        with pytest.raises(UserError, match=r"the lock gs://registry/locks/staging\.json cannot be read"):
            gcs_store(gcs).get("staging")


def test_gcs_permission_denied_says_no_workflow_identity_writes_locks():
    with FakeGcs() as gcs:
        gcs.deny("registry")
        with pytest.raises(UserError, match=r"permission denied to write gs://registry/locks/"
                           r"staging\.json \(.*storage\.objects\.create.*\): no workflow "
                           r"identity may write the bucket's locks/ .*`mlops-bot deploy` takes "
                           r"them with a maintainer's credentials$"):
            gcs_store(gcs).acquire(lock("#1"))


def test_a_lock_is_taken_over_only_while_it_is_still_the_one_read(store):
    store.acquire(lock("#1"))
    held = store.get("staging")
    assert store.take_over(held, lock("#2")) == lock("#2")
    assert store.get("staging") == lock("#2")
    assert store.take_over(held, lock("#3")) == lock("#2")  # #2 took it meanwhile: it stays
    store.release("staging", "#2")
    assert store.take_over(held, lock("#3")) == lock("#3")  # released meanwhile: taken


def test_of_concurrent_takers_over_exactly_one_wins(store):
    store.acquire(lock("#1"))
    held = store.get("staging")
    winners: list[str] = []
    threads = [threading.Thread(
        target=lambda o=f"#{i}": winners.append(store.take_over(held, lock(o)).owner))
        for i in range(2, 8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(winners) == 6 and len(set(winners)) == 1 and winners[0] != "#1"


def test_only_the_holder_renews(store):
    store.acquire(lock("#1"))
    later = EnvironmentLock("staging", "#1", "user#1", "load test", "2026-01-01T00:00:00+00:00",
                            "2026-01-01T00:10:00+00:00")
    assert store.renew(later) and store.get("staging") == later
    assert not store.renew(lock("#2")) and store.get("staging") == later
    store.release("staging", "#1")
    assert not store.renew(later) and store.get("staging") is None


def test_a_forced_release_releases_whoever_holds_it(store):
    store.acquire(lock("#1"))
    assert store.release("staging", None) == lock("#1")
    assert store.get("staging") is None and store.release("staging", None) is None

