"""The local model registry: create-only version numbers, idempotent registration, aliases."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from mlops_bot.backends.local.models import LocalModelRegistry
from mlops_bot.errors import UserError
from tests.support.models import candidate


@pytest.fixture
def registry(tmp_path: Path) -> LocalModelRegistry:
    return LocalModelRegistry(tmp_path / "models")


def test_versions_are_numbered_in_order_with_lineage(registry, tmp_path):
    first = registry.register(candidate("run-a", tmp_path / "a", image="img@sha256:1",
                                        feature_names=("x", "y"), classes=(0, 1)))
    second = registry.register(candidate("run-b", tmp_path / "b"))
    assert (first.version, second.version) == ("1", "2")
    again = registry.get("wine_quality", "1")
    assert again == first
    assert (again.run_id, again.git_sha, again.registry_version, again.image) == (
        "run-a", "a" * 40, "v-1", "img@sha256:1")
    assert again.feature_names == ("x", "y") and again.classes == (0, 1)
    assert [v.version for v in registry.versions("wine_quality")] == ["2", "1"]


def test_registering_a_run_again_returns_its_version(registry):
    first = registry.register(candidate("run-a"))
    assert registry.register(candidate("run-a", metrics={"accuracy": 0.1})) == first
    assert [v.version for v in registry.versions()] == ["1"]
    assert registry.get("wine_quality", "1").metrics == {"accuracy": 0.9}


def test_concurrent_registrations_never_share_a_number(registry):
    barrier = threading.Barrier(8)
    results: list[str] = []

    def register(index: int) -> None:
        barrier.wait()
        results.append(registry.register(candidate(f"run-{index}")).version)

    threads = [threading.Thread(target=register, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results, key=int) == [str(n) for n in range(1, 9)]
    assert sorted(v.run_id for v in registry.versions()) == sorted(f"run-{i}" for i in range(8))


def test_a_number_taken_behind_our_back_is_skipped_not_overwritten(registry, tmp_path):
    registry.register(candidate("run-a"))
    squatter = tmp_path / "models" / "wine_quality" / "2.json"
    squatter.write_text(json.dumps({"model": "wine_quality", "version": "2",
                                    "artifact_uri": "/x", "run_id": "run-other",
                                    "git_sha": "b" * 40, "registry_version": "v-2"}))
    before = squatter.read_bytes()
    assert registry.register(candidate("run-b")).version == "3"
    assert squatter.read_bytes() == before


def test_an_alias_names_one_version_and_its_moves_are_recorded(registry):
    for run in ("run-a", "run-b"):
        registry.register(candidate(run))
    registry.set_aliases("wine_quality", "1", ["staging", "sha-aaaaaaa"])
    moved = registry.set_aliases("wine_quality", "2", ["staging"])
    assert moved.aliases == ("staging",)
    assert registry.get("wine_quality", "1").aliases == ("sha-aaaaaaa",)
    history = registry.alias_history("wine_quality", "staging")
    assert [(h["version"], h["previous"]) for h in history] == [("1", None), ("2", "1")]


def test_version_files_are_never_rewritten(registry, tmp_path):
    registry.register(candidate("run-a"))
    path = tmp_path / "models" / "wine_quality" / "1.json"
    before = (path.read_bytes(), path.stat().st_ino)
    registry.set_aliases("wine_quality", "1", ["staging"])
    assert (path.read_bytes(), path.stat().st_ino) == before


def test_unknown_versions_and_models(registry):
    assert registry.get("wine_quality", "1") is None
    assert registry.get("wine_quality", "../x") is None
    assert registry.versions("nothing") == []
    with pytest.raises(UserError, match="model wine_quality has no version 4"):
        registry.set_aliases("wine_quality", "4", ["staging"])
    with pytest.raises(UserError, match="cannot name a model"):
        registry.register(candidate("run-a", model="../escape"))


def test_versions_of_all_models_newest_first(registry):
    registry.register(candidate("run-a", model="alpha"))
    registry.register(candidate("run-b", model="beta"))
    registry.register(candidate("run-c", model="alpha"))
    assert [(v.model, v.version) for v in registry.versions()] == [
        ("alpha", "2"), ("beta", "1"), ("alpha", "1")]
