"""State writes on a full or read-only disk (a real tmpfs): one sentence naming the path, no
temporary file left behind, and what was there before still reads."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlops_bot.backends.local.endpoints import LocalEndpoints
from mlops_bot.backends.local.files import StorageError, read_state, replace_json
from mlops_bot.backends.local.models import LocalModelRegistry
from mlops_bot.backends.local.registry import DirectoryRegistry
from tests.support.disks import fill, leftovers, read_only, tmpfs
from tests.support.models import candidate


@pytest.fixture
def disk(tmp_path: Path):
    with tmpfs(tmp_path / "disk", size="1m") as folder:
        yield folder


def assert_storage_sentence(error: StorageError, path: Path, why: str) -> None:
    message = str(error)
    assert "\n" not in message and why in message, message
    assert str(path) in message and "nothing was half-written" in message


def test_a_full_disk_keeps_the_old_file_and_leaves_no_temporary_file(disk):
    path = disk / "endpoints" / "staging.json"
    replace_json(path, {"revision": 1})
    fill(disk)
    with pytest.raises(StorageError) as caught:
        replace_json(path, {"revision": 2, "padding": "x" * 100_000})
    assert_storage_sentence(caught.value, path, "no space left")  # the file, not its temporary
    assert read_state(path, dict, "fix") == {"revision": 1}
    assert leftovers(disk) == []


def test_publishing_to_a_full_registry_leaves_no_half_version(disk):
    registry = DirectoryRegistry(disk / "registry")
    first = registry.publish("alpha", b"small spec", {})
    fill(disk)
    with pytest.raises(StorageError, match="no space left"):
        registry.publish("alpha", b"a bigger spec " * 10_000, {})
    assert [r.version for r in registry.versions()] == [first.version]
    assert leftovers(disk) == []


def test_a_deploy_on_a_read_only_disk_changes_nothing(disk):
    endpoints = LocalEndpoints(disk)
    record = endpoints.ensure("staging", "wine-staging")
    models = LocalModelRegistry(disk / "models")
    models.register(candidate("run-a"))
    read_only(disk)
    with pytest.raises(StorageError) as caught:
        models.register(candidate("run-b"))
    assert "read-only" in str(caught.value) and str(disk / "models") in str(caught.value)
    with pytest.raises(StorageError, match="read-only"):
        endpoints.set_traffic(record, {})
    assert endpoints.get("staging") == record
    assert [v.version for v in models.versions()] == ["1"]
