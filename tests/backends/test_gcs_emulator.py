"""The GCS registry's happy path against a third-party emulator, `gcp-storage-emulator` (PyPI).

A second opinion on `tests.support.fake_gcs`: the same registry code, the real
google-cloud-storage client, and a server we did not write, so a misreading of the JSON API shared
by our fake and our code would show up here.

What the emulator (checked with gcp-storage-emulator 2026.7.19) does not honour, which is why the
registry's failure modes are tested against our fake (`tests/backends/test_gcs_registry.py`):
- generation preconditions: `ifGenerationMatch` (and `ifGenerationNotMatch`) are ignored on
  uploads, downloads and deletes, so a create-only write (`if_generation_match=0`) overwrites an
  existing object and a compare-and-swap on a stale generation succeeds: there is no 412, hence
  no "lost response, same bytes" or "concurrent tag mover" case to test;
- media downloads carry no `X-Goog-Generation` header, so the client never learns the generation
  of what it read (`blob.generation` stays None) and the registry's tag move writes with
  generation 0, which the emulator accepts only because it ignores the precondition;
- paging (`maxResults`/`pageToken`), fault injection and permission errors are not offered.
`test_the_emulator_ignores_generation_preconditions` pins these down: if a newer emulator starts
honouring them, it fails, and the precondition tests can move here.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from google.auth.credentials import AnonymousCredentials

from mlops_bot.backends.gcp.clients import GcpClients
from mlops_bot.backends.gcp.registry import GcsRegistry
from mlops_bot.backends.versions import version_of
from mlops_bot.config import ApiEndpoints, GcpConfig
from mlops_bot.errors import UserError

emulator = pytest.importorskip(
    "gcp_storage_emulator.server",
    reason="gcp-storage-emulator is not installed (pip install gcp-storage-emulator)")

BUCKET = "registry"
SPEC = b"pipelineInfo:\n  name: p\nroot: {}\n"


def _free_port() -> int:
    # The emulator takes a port number only; a port just released on loopback is free enough.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    port = _free_port()
    server = emulator.create_server("127.0.0.1", port, in_memory=True, default_bucket=BUCKET)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def clients(endpoint: str) -> Iterator[GcpClients]:
    config = GcpConfig(project="test-project", region="europe-west4",
                       artifact_repository="images", registry_bucket=BUCKET,
                       api_endpoints=ApiEndpoints(storage=endpoint))
    clients = GcpClients(config, credentials=AnonymousCredentials())
    yield clients
    for blob in clients.storage.bucket(BUCKET).list_blobs():  # a clean bucket per test
        blob.delete()


@pytest.fixture
def registry(clients: GcpClients) -> GcsRegistry:
    return GcsRegistry(clients)


def _put(clients: GcpClients, name: str, data: bytes) -> None:
    """Someone writing the bucket by hand (no precondition)."""
    clients.storage.bucket(BUCKET).blob(name).upload_from_string(data)


def test_publish_then_republish_is_unchanged(registry):
    first = registry.publish("p", SPEC, {"git_sha": "a" * 40})
    assert (first.status, first.version) == ("published", version_of(SPEC))
    again = registry.publish("p", SPEC, {"git_sha": "b" * 40})
    assert (again.status, again.version) == ("unchanged", first.version)
    assert registry.spec("p", first.version) == SPEC
    assert registry.resolve("p", "@" + first.version).manifest == {
        "git_sha": "a" * 40, "pipeline": "p", "version": first.version}


def test_different_bytes_under_a_published_version_is_an_error(clients, registry):
    version = registry.publish("p", SPEC, {}).version
    _put(clients, f"pipelines/p/versions/{version}/pipeline.yaml", b"tampered\n")
    with pytest.raises(UserError, match=r"already exists with different content \(gs://registry/"):
        registry.publish("p", SPEC, {})
    assert registry.spec("p", version) == b"tampered\n"


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


def test_versions_of_every_pipeline_newest_first(registry):
    a = registry.publish("alpha", b"a\n", {"compiled_at": "2026-01-01T00:00:00+00:00"}).version
    b = registry.publish("beta", b"b\n", {"compiled_at": "2026-01-03T00:00:00+00:00"}).version
    c = registry.publish("alpha", b"c\n", {"compiled_at": "2026-01-02T00:00:00+00:00"}).version
    registry.tag("alpha", "latest", c)
    assert [(r.pipeline, r.version, r.tags) for r in registry.versions()] == [
        ("beta", b, ()), ("alpha", c, ("latest",)), ("alpha", a, ())]
    assert [r.version for r in registry.versions("alpha")] == [c, a]
    assert registry.versions("gamma") == []


def test_unknown_pipeline_lists_what_exists(registry):
    registry.publish("alpha", b"x\n", {})
    with pytest.raises(UserError, match=r"no pipeline 'beta' in the registry .* \(it has: alpha\)"):
        registry.resolve("beta")


def test_the_emulator_ignores_generation_preconditions(clients):
    bucket = clients.storage.bucket(BUCKET)
    bucket.blob("x").upload_from_string(b"one", if_generation_match=0)
    bucket.blob("x").upload_from_string(b"two", if_generation_match=0)  # GCS: 412
    bucket.blob("x").upload_from_string(b"three", if_generation_match=1)  # GCS: 412
    read = bucket.blob("x")
    assert read.download_as_bytes(if_generation_match=1) == b"three"  # GCS: 412
    assert read.generation is None  # GCS: X-Goog-Generation gives it
    bucket.blob("x").delete(if_generation_match=1)  # GCS: 412
    assert bucket.get_blob("x") is None
