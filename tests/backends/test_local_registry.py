"""The directory registry: content-addressed, create-only versions and atomic tag moves."""

from __future__ import annotations

import threading

import pytest

from mlops_bot.backends.local.registry import DirectoryRegistry
from mlops_bot.backends.versions import version_of
from mlops_bot.errors import UserError


@pytest.fixture
def registry(tmp_path):
    return DirectoryRegistry(tmp_path / "registry")


def test_version_is_derived_from_the_spec_and_republishing_is_a_no_op(registry):
    first = registry.publish("p", b"spec: 1\n", {"git_sha": "a" * 40})
    assert (first.status, first.version) == ("published", version_of(b"spec: 1\n"))
    again = registry.publish("p", b"spec: 1\n", {"git_sha": "b" * 40})
    assert (again.status, again.version) == ("unchanged", first.version)
    # the manifest of the first publication stays: versions are immutable
    assert registry.resolve("p", first.version).manifest["git_sha"] == "a" * 40


def test_different_bytes_under_an_existing_version_is_an_error(registry, tmp_path):
    published = registry.publish("p", b"spec: 1\n", {})
    spec_file = tmp_path / "registry/pipelines/p/versions" / published.version / "pipeline.yaml"
    spec_file.write_bytes(b"tampered\n")
    with pytest.raises(UserError, match="already exists with different content"):
        registry.publish("p", b"spec: 1\n", {})
    assert spec_file.read_bytes() == b"tampered\n"  # nothing overwritten


def test_tags_move_and_resolve(registry):
    one = registry.publish("p", b"one\n", {"compiled_at": "2026-01-01T00:00:00+00:00"}).version
    two = registry.publish("p", b"two\n", {"compiled_at": "2026-01-02T00:00:00+00:00"}).version
    registry.tag("p", "main", one)
    registry.tag("p", "latest", one)
    assert registry.resolve("p").version == one
    registry.tag("p", "latest", two)
    assert registry.resolve("p").version == two
    assert registry.resolve("p", ":main").version == one
    assert registry.resolve("p", "@" + one).tags == ("main",)
    assert [r.version for r in registry.versions("p")] == [two, one]


def test_concurrent_tag_moves_leave_one_whole_value(registry):
    versions = [registry.publish("p", f"s{i}\n".encode(), {}).version for i in range(8)]
    threads = [threading.Thread(target=registry.tag, args=("p", "latest", v)) for v in versions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert registry.resolve("p").version in versions


@pytest.mark.parametrize(("ref", "message"), [
    ("nope", "p has no version or tag 'nope' (tags: latest)"),
    ("@v-0000000000000000", "p has no version or tag '@v-0000000000000000'"),
    ("bad tag!", "'bad tag!' is not a valid tag"),
])
def test_unknown_references_are_user_errors(registry, ref, message):
    registry.tag("p", "latest", registry.publish("p", b"x\n", {}).version)
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)")):
        registry.resolve("p", ref)


def test_unknown_pipeline_lists_what_exists(registry):
    registry.publish("alpha", b"x\n", {})
    with pytest.raises(UserError, match=r"no pipeline 'beta' in the registry .* \(it has: alpha\)"):
        registry.resolve("beta")
