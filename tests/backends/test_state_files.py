"""Every state file the local backend reads, damaged: truncated, garbage, empty, wrong shape.

Each damaged file is one sentence (StateFileError) naming the file, what is wrong and the fix,
and the fix it names works; the same kind of file of another pipeline, model or environment
keeps working, and listings skip the bad one with a warning on stderr.
"""

from __future__ import annotations

import dataclasses
import re
import shlex
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from mlops_bot.backends.local.endpoints import LocalEndpoints, url_file
from mlops_bot.backends.local.files import StateFileError, replace_json
from mlops_bot.backends.local.locks import FileLockStore
from mlops_bot.backends.local.models import LocalModelRegistry
from mlops_bot.backends.local.registry import DirectoryRegistry
from mlops_bot.backends.local.runner import LocalRunner
from mlops_bot.backends.types import EnvironmentLock, RunRecord
from mlops_bot.serving.state import StateError, endpoint_state_path, read_state
from tests.support.models import candidate

# How a file gets damaged: a write cut short, bytes that are not text, nothing, the wrong shape.
DAMAGE: dict[str, Callable[[bytes], bytes]] = {
    "truncated": lambda good: good[: len(good) // 2],
    "garbage": lambda good: b"\x00\xff\xfe garbage \x89PNG",
    "empty": lambda good: b"",
    "wrong-shape": lambda good: b'["a", "list"]\n',
}


def damage(path: Path, how: str) -> None:
    path.write_bytes(DAMAGE[how](path.read_bytes()))


def assert_one_sentence(error: BaseException, path: Path) -> str:
    """The message names the file and a fix; returns the fix's command."""
    message = str(error)
    assert "\n" not in message and "Traceback" not in message
    assert str(path) in message
    command = re.search(r"`(mv [^`]+)`", message)
    assert command is not None, message
    return command.group(1)


def run_fix(command: str) -> None:
    subprocess.run(shlex.split(command), check=True)


@pytest.mark.parametrize("how", list(DAMAGE))
def test_a_bad_run_record_is_skipped_in_listings_and_named_when_asked_for(tmp_path, how, capfd):
    runner = LocalRunner(tmp_path / "runs", tmp_path / "envs")
    for run_id, pipeline in (("run-a", "alpha"), ("run-b", "beta")):
        record = RunRecord(run_id=run_id, pipeline=pipeline, version="v-1", git_sha="a" * 40,
                           status="succeeded", parameters={}, started_at="2026-01-01T00:00:00")
        replace_json(tmp_path / "runs" / run_id / "run.json", dataclasses.asdict(record))
    bad = tmp_path / "runs" / "run-b" / "run.json"
    damage(bad, how)
    assert [r.run_id for r in runner.runs()] == ["run-a"]
    assert [r.run_id for r in runner.runs(pipeline="alpha")] == ["run-a"]
    assert f"warning: skipped a run: {bad}" in capfd.readouterr().err
    with pytest.raises(StateFileError) as caught:
        runner.get("run-b")
    run_fix(assert_one_sentence(caught.value, bad))
    assert runner.get("run-b") is None  # moved aside: the next push runs it again
    assert [r.run_id for r in runner.runs()] == ["run-a"]


@pytest.mark.parametrize("how", list(DAMAGE))
def test_a_bad_manifest_hides_only_its_version_and_the_next_publish_recreates_it(tmp_path, how,
                                                                                 capfd):
    registry = DirectoryRegistry(tmp_path / "registry")
    alpha = registry.publish("alpha", b"alpha spec", {"compiled_at": "1"})
    beta = registry.publish("beta", b"beta spec", {"compiled_at": "2"})
    registry.tag("alpha", "latest", alpha.version)
    registry.tag("beta", "latest", beta.version)
    manifest = tmp_path / "registry/pipelines/beta/versions" / beta.version / "manifest.json"
    damage(manifest, how)
    assert [(r.pipeline, r.version) for r in registry.versions()] == [("alpha", alpha.version)]
    assert f"warning: skipped beta@{beta.version}: {manifest}" in capfd.readouterr().err
    assert registry.resolve("alpha").version == alpha.version
    with pytest.raises(StateFileError) as caught:
        registry.resolve("beta")
    run_fix(assert_one_sentence(caught.value, manifest))
    assert registry.publish("beta", b"beta spec", {"compiled_at": "2"}).status == "published"
    assert registry.resolve("beta", f"@{beta.version}").manifest["compiled_at"] == "2"
    assert len(registry.versions()) == 2  # the folder moved aside is not a version


@pytest.mark.parametrize("how", ["truncated", "garbage", "empty"])
def test_a_bad_tag_is_named_when_resolved_and_skipped_in_listings(tmp_path, how, capfd):
    registry = DirectoryRegistry(tmp_path / "registry")
    published = registry.publish("alpha", b"alpha spec", {})
    registry.tag("alpha", "latest", published.version)
    registry.tag("alpha", "main", published.version)
    tag = tmp_path / "registry/pipelines/alpha/tags/latest"
    damage(tag, how)
    [record] = registry.versions()
    assert record.tags == ("main",)
    assert f"skipped tag latest of alpha: {tag}" in capfd.readouterr().err
    assert registry.resolve("alpha", "main").version == published.version
    with pytest.raises(StateFileError) as caught:
        registry.resolve("alpha", "latest")
    run_fix(assert_one_sentence(caught.value, tag))
    registry.tag("alpha", "latest", published.version)  # the next push moves it again
    assert registry.resolve("alpha").version == published.version


@pytest.mark.parametrize("how", list(DAMAGE))
def test_a_bad_endpoint_state_is_named_and_other_environments_work(tmp_path, how):
    endpoints = LocalEndpoints(tmp_path)
    endpoints.ensure("staging", "wine-staging")
    endpoints.ensure("prod", "wine-prod")
    path = endpoint_state_path(tmp_path, "staging")
    damage(path, how)
    assert endpoints.get("prod") is not None and endpoints.get("prod").etag == "1"
    for attempt in (lambda: endpoints.get("staging"),
                    lambda: endpoints.ensure("staging", "wine-staging")):
        with pytest.raises(StateFileError) as caught:
            attempt()
        command = assert_one_sentence(caught.value, path)
        assert "mlops-bot deploy staging" in str(caught.value)
    with pytest.raises(StateError) as served:  # what `mlops-bot serve staging` says
        read_state(path, "staging")
    assert assert_one_sentence(served.value, path) == command
    run_fix(command)
    assert endpoints.ensure("staging", "wine-staging").etag == "1"  # written again


def test_a_garbled_serving_url_is_ignored_with_a_warning(tmp_path, capfd):
    endpoints = LocalEndpoints(tmp_path)
    endpoints.ensure("staging", "wine-staging")
    url_file(tmp_path, "staging").write_bytes(b"\x00garbage")
    record = endpoints.get("staging")
    assert record is not None and record.url is None
    assert f"ignored staging's serving URL: {url_file(tmp_path, 'staging')}" in \
        capfd.readouterr().err


@pytest.mark.parametrize("how", list(DAMAGE))
def test_a_bad_model_version_file_is_skipped_in_listings_and_named_when_read(tmp_path, how,
                                                                            capfd):
    registry = LocalModelRegistry(tmp_path / "models")
    registry.register(candidate("run-a"))
    registry.register(candidate("run-b"))
    registry.register(candidate("run-c", model="other"))
    bad = tmp_path / "models/wine_quality/2.json"
    damage(bad, how)
    assert [(v.model, v.version) for v in registry.versions()] == [("other", "1"),
                                                                   ("wine_quality", "1")]
    assert f"skipped a model version: {bad}" in capfd.readouterr().err
    with pytest.raises(StateFileError) as caught:
        registry.get("wine_quality", "2")
    run_fix(assert_one_sentence(caught.value, bad))
    assert registry.register(candidate("run-b")).version == "2"  # registered again


@pytest.mark.parametrize("how", list(DAMAGE))
def test_a_bad_alias_file_is_named_and_other_models_work(tmp_path, how, capfd):
    registry = LocalModelRegistry(tmp_path / "models")
    registry.register(candidate("run-a"))
    registry.register(candidate("run-c", model="other"))
    registry.set_aliases("wine_quality", "1", ["staging"])
    registry.set_aliases("other", "1", ["staging"])
    bad = tmp_path / "models/wine_quality/aliases.json"
    damage(bad, how)
    assert [(v.model, v.aliases) for v in registry.versions()] == [("other", ("staging",))]
    assert f"skipped model wine_quality: {bad}" in capfd.readouterr().err
    assert registry.alias_history("other", "staging")[0]["version"] == "1"
    with pytest.raises(StateFileError) as caught:
        registry.alias_history("wine_quality", "staging")
    run_fix(assert_one_sentence(caught.value, bad))
    assert registry.set_aliases("wine_quality", "1", ["staging"]).aliases == ("staging",)


@pytest.mark.parametrize("how", list(DAMAGE))
def test_a_bad_lock_denies_with_the_fix_and_other_environments_lock(tmp_path, how):
    locks = FileLockStore(tmp_path / "locks")
    lock = EnvironmentLock(environment="staging", owner="#1", actor="ana", reason="",
                           created_at="2026-01-01T00:00:00+00:00")
    locks.acquire(lock)
    path = tmp_path / "locks" / "staging.json"
    damage(path, how)
    with pytest.raises(StateFileError) as caught:
        locks.get("staging")
    assert "unlocks staging" in str(caught.value)
    command = assert_one_sentence(caught.value, path)
    prod = dataclasses.replace(lock, environment="prod")
    assert locks.acquire(prod).owner == "#1" and locks.get("prod") is not None
    run_fix(command)
    assert locks.get("staging") is None
