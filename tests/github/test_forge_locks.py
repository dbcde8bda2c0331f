"""Environment locks kept as branches on GitHub (ForgeLockStore), through PyGithub against the
fake GitHub, which refuses to create a ref that exists (422) as GitHub does."""

from __future__ import annotations

import dataclasses
import threading

import pytest

from mlops_bot.backends.types import EnvironmentLock
from mlops_bot.errors import UserError
from mlops_bot.github.console_forge import ConsoleForge
from mlops_bot.github.locks import ForgeLockStore, lock_ref
from mlops_bot.github.pygithub_client import ClientSettings
from mlops_bot.github.pygithub_forge import GithubForge
from tests.support.fake_github import FakeGitHub

REF = "refs/heads/mlops-bot-lock/staging"


def store(github: FakeGitHub) -> ForgeLockStore:
    github.repo("octo/models")
    return ForgeLockStore(GithubForge("octo/models", github.token, github.url,
                                      settings=ClientSettings(pace=False)))


def lock(owner: str, reason: str = "") -> EnvironmentLock:
    return EnvironmentLock("staging", owner, "alice", reason, "2026-01-01T00:00:00+00:00")


def test_a_lock_is_a_branch_holding_its_record(github):
    locks = store(github)
    assert locks.get("staging") is None
    assert locks.acquire(lock("#7", "load test")) == lock("#7", "load test")
    sha = github.repo().refs[REF]
    commit = github.repo().objects[sha]
    assert commit["parents"] == [] and '"reason": "load test"' in commit["message"]
    [entry] = github.repo().objects[commit["tree"]]["tree"]
    assert entry["path"] == "lock.json" and '"owner": "#7"' in entry["content"]
    assert locks.get("staging") == lock("#7", "load test")


def test_another_owner_gets_the_holder_back_and_cannot_release_it(github):
    locks = store(github)
    locks.acquire(lock("#7"))
    assert locks.acquire(lock("#8")).owner == "#7"
    with pytest.raises(UserError, match="only #7 can unlock it"):
        locks.release("staging", "#8")
    assert locks.release("staging", "#7") == lock("#7")
    assert REF not in github.repo().refs
    assert locks.release("staging", "#7") is None


def test_of_concurrent_lockers_exactly_one_wins(github):
    locks = [store(github) for _ in range(6)]
    barrier, won = threading.Barrier(len(locks)), []

    def take(index: int) -> None:
        barrier.wait()
        held = locks[index].acquire(lock(f"#{index}"))
        won.append(held.owner == f"#{index}")

    threads = [threading.Thread(target=take, args=(i,)) for i in range(len(locks))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(won) == [False] * 5 + [True]
    assert len(github.calls("create_ref")) == 6  # each asked GitHub; GitHub picked one


def test_a_branch_without_a_readable_record_still_locks(github):
    locks = store(github)
    github.repo().refs[REF] = "0" * 40
    github.repo().objects["0" * 40] = {"type": "commit", "message": "made by hand", "tree": "",
                                       "parents": []}
    held = locks.get("staging")
    assert held is not None and held.owner == "branch mlops-bot-lock/staging"
    assert locks.acquire(lock("#7")).owner == "branch mlops-bot-lock/staging"


def test_a_token_without_contents_write_cannot_lock(github):
    github.token_permissions = {"contents: read"}
    with pytest.raises(UserError, match="contents: write"):
        store(github).acquire(lock("#7"))


def test_environment_names_that_cannot_be_a_branch_are_refused():
    with pytest.raises(UserError, match="cannot name a lock branch"):
        lock_ref("staging..x")


def test_the_console_forge_keeps_locks_for_a_local_run():
    locks = ForgeLockStore(ConsoleForge(user="alice"))
    assert locks.acquire(lock("#7")) == lock("#7")
    assert locks.acquire(lock("#8")).owner == "#7"
    assert locks.release("staging", "#7") == lock("#7")
    assert locks.get("staging") is None


@pytest.mark.parametrize("record", [
    {"owner": "#8 @everyone", "actor": "alice", "reason": "", "created_at": "2026-01-01T00:00:00Z"},
    {"owner": "#8", "actor": "alice\n# hi", "reason": "", "created_at": "2026-01-01T00:00:00Z"},
    {"owner": "#8", "actor": "alice", "reason": 3, "created_at": "2026-01-01T00:00:00Z"},
    {"owner": "#8", "actor": "alice", "reason": "", "created_at": "[x](https://evil.example)"},
])
def test_a_lock_record_written_by_hand_is_not_shown_as_written(github, record):
    import json

    locks = store(github)
    github.repo().refs[REF] = "1" * 40
    github.repo().objects["1" * 40] = {"type": "commit", "tree": "", "parents": [],
                                       "message": f"lock\n\n{json.dumps(record)}"}
    held = locks.get("staging")
    assert held is not None and held.owner == "branch mlops-bot-lock/staging"


def test_forced_release_take_over_and_renew_on_github(github):
    locks = store(github)
    mine = EnvironmentLock("staging", "#7", "alice", "deploy in progress",
                           "2026-01-01T00:00:00+00:00", "2026-01-01T00:10:00+00:00")
    assert locks.acquire(mine) == mine and locks.get("staging") == mine  # expiry read back
    later = dataclasses.replace(mine, expires_at="2026-01-01T00:20:00+00:00")
    assert locks.renew(later) and locks.get("staging") == later
    assert not locks.renew(dataclasses.replace(mine, owner="#8"))
    theirs = dataclasses.replace(mine, owner="#8", actor="bob")
    assert locks.take_over(mine, theirs) == later  # not the lock read: it was renewed
    assert locks.take_over(later, theirs) == theirs and locks.get("staging") == theirs
    assert not locks.renew(later)  # #7 lost it
    assert locks.release("staging", None) == theirs
    assert locks.get("staging") is None


def test_of_concurrent_takers_over_of_a_lock_branch_exactly_one_wins(github):
    locks = store(github)
    lapsed = dataclasses.replace(lock("#1"), expires_at="2026-01-01T00:10:00+00:00")
    locks.acquire(lapsed)
    winners: list[str] = []
    threads = [threading.Thread(
        target=lambda o=f"#{i}": winners.append(locks.take_over(lapsed, lock(o)).owner))
        for i in range(2, 6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(winners) == 4 and len(set(winners)) == 1 and winners[0] != "#1"
    assert locks.get("staging").owner == winners[0]  # type: ignore[union-attr]
