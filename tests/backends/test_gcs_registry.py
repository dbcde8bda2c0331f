"""The GCS registry, run with the real google-cloud-storage client against a fake JSON API.

The first tests are the registry contract, run against both backends (the directory registry and
the bucket) so they answer alike; the rest are about what only a bucket can do: lost responses,
retries, half-written versions, concurrent tag movers, permissions.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from google.api_core import exceptions as gexc
from google.auth.credentials import AnonymousCredentials
from kfp.registry import ApiAuth

from mlops_bot.backends.gcp.clients import GcpClients
from mlops_bot.backends.gcp.kfp_repository import KfpRepository
from mlops_bot.backends.gcp.registry import GcsRegistry
from mlops_bot.backends.local.registry import DirectoryRegistry
from mlops_bot.backends.types import PipelineRegistry
from mlops_bot.backends.versions import version_of
from mlops_bot.config import ApiEndpoints, GcpConfig
from mlops_bot.errors import UserError
from tests.support.fake_gcs import FakeGcs
from tests.support.fake_kfp_repository import FakeKfpRepository

BUCKET = "registry"
SPEC = b"pipelineInfo:\n  name: p\nroot: {}\n"


def _clients(endpoint: str, **settings: str) -> GcpClients:
    config = GcpConfig(project="test-project", region="europe-west4",
                       artifact_repository="images", registry_bucket=BUCKET,
                       api_endpoints=ApiEndpoints(storage=endpoint), **settings)
    return GcpClients(config, credentials=AnonymousCredentials())


def _obj(pipeline: str, version: str, leaf: str) -> str:
    return f"pipelines/{pipeline}/versions/{version}/{leaf}"


@pytest.fixture
def gcs() -> Iterator[FakeGcs]:
    with FakeGcs(buckets=[BUCKET]) as fake:
        yield fake


@pytest.fixture
def registry(gcs: FakeGcs) -> GcsRegistry:
    return GcsRegistry(_clients(gcs.endpoint))


# -- the contract, for both backends ---------------------------------------------------------

@dataclass
class Backend:
    registry: PipelineRegistry
    overwrite: Callable[[str, str, str, bytes], None]  # pipeline, version, leaf, bytes


@pytest.fixture(params=["local", "gcs"])
def backend(request: pytest.FixtureRequest, tmp_path) -> Iterator[Backend]:
    if request.param == "local":
        root = tmp_path / "registry"
        def overwrite(p: str, v: str, leaf: str, data: bytes) -> None:
            (root / _obj(p, v, leaf)).write_bytes(data)
        yield Backend(DirectoryRegistry(root), overwrite)
        return
    with FakeGcs(buckets=[BUCKET]) as fake:
        yield Backend(GcsRegistry(_clients(fake.endpoint)),
                      lambda p, v, leaf, data: fake.put(BUCKET, _obj(p, v, leaf), data))


def test_version_is_derived_from_the_spec_and_republishing_is_a_no_op(backend):
    registry = backend.registry
    first = registry.publish("p", b"spec: 1\n", {"git_sha": "a" * 40})
    assert (first.status, first.version) == ("published", version_of(b"spec: 1\n"))
    again = registry.publish("p", b"spec: 1\n", {"git_sha": "b" * 40})
    assert (again.status, again.version) == ("unchanged", first.version)
    assert registry.resolve("p", first.version).manifest["git_sha"] == "a" * 40
    assert registry.spec("p", first.version) == b"spec: 1\n"


def test_different_bytes_under_an_existing_version_is_an_error(backend):
    version = backend.registry.publish("p", b"spec: 1\n", {}).version
    backend.overwrite("p", version, "pipeline.yaml", b"tampered\n")
    with pytest.raises(UserError, match="already exists with different content"):
        backend.registry.publish("p", b"spec: 1\n", {})
    assert backend.registry.spec("p", version) == b"tampered\n"  # nothing overwritten


def test_tags_move_and_resolve(backend):
    registry = backend.registry
    one = registry.publish("p", b"one\n", {"compiled_at": "2026-01-01T00:00:00+00:00"}).version
    two = registry.publish("p", b"two\n", {"compiled_at": "2026-01-02T00:00:00+00:00"}).version
    registry.tag("p", "main", one)
    registry.tag("p", "latest", one)
    assert registry.resolve("p").version == one
    registry.tag("p", "latest", two)
    assert registry.resolve("p").version == two
    assert registry.resolve("p", ":main").version == one
    assert registry.resolve("p", "@" + one).tags == ("main",)
    assert [(r.version, r.tags) for r in registry.versions("p")] == [(two, ("latest",)),
                                                                     (one, ("main",))]


def test_concurrent_tag_moves_leave_one_whole_value(backend):
    registry = backend.registry
    versions = [registry.publish("p", f"s{i}\n".encode(), {}).version for i in range(8)]
    errors: list[BaseException] = []

    def move(version: str) -> None:
        try:
            registry.tag("p", "latest", version)
        except BaseException as error:  # collected: an exception in a thread would be lost
            errors.append(error)

    threads = [threading.Thread(target=move, args=(v,)) for v in versions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert registry.resolve("p").version in versions


@pytest.mark.parametrize(("ref", "message"), [
    ("nope", "p has no version or tag 'nope' (tags: latest)"),
    ("@v-0000000000000000", "p has no version or tag '@v-0000000000000000'"),
    ("bad tag!", "'bad tag!' is not a valid tag"),
])
def test_unknown_references_are_user_errors(backend, ref, message):
    backend.registry.tag("p", "latest", backend.registry.publish("p", b"x\n", {}).version)
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)")):
        backend.registry.resolve("p", ref)


def test_unknown_pipeline_lists_what_exists(backend):
    backend.registry.publish("alpha", b"x\n", {})
    with pytest.raises(UserError, match=r"no pipeline 'beta' in the registry .* \(it has: alpha\)"):
        backend.registry.resolve("beta")


def test_tagging_a_missing_version_is_an_error(backend):
    backend.registry.publish("p", b"x\n", {})
    with pytest.raises(UserError, match="cannot tag p@v-0000000000000000: no such version"):
        backend.registry.tag("p", "latest", "v-0000000000000000")


def test_versions_of_every_pipeline_newest_first(backend):
    registry = backend.registry
    a = registry.publish("alpha", b"a\n", {"compiled_at": "2026-01-01T00:00:00+00:00"}).version
    b = registry.publish("beta", b"b\n", {"compiled_at": "2026-01-03T00:00:00+00:00"}).version
    c = registry.publish("alpha", b"c\n", {"compiled_at": "2026-01-02T00:00:00+00:00"}).version
    registry.tag("alpha", "latest", c)
    assert [(r.pipeline, r.version, r.tags) for r in registry.versions()] == [
        ("beta", b, ()), ("alpha", c, ("latest",)), ("alpha", a, ())]
    assert registry.versions("gamma") == []


# -- the bucket's own failure modes ----------------------------------------------------------

def test_layout_and_manifest_in_the_bucket(gcs, registry):
    result = registry.publish("p", SPEC, {"git_sha": "a" * 40})
    registry.tag("p", "latest", result.version)
    spec = gcs.get(BUCKET, _obj("p", result.version, "pipeline.yaml"))
    manifest = gcs.get(BUCKET, _obj("p", result.version, "manifest.json"))
    assert spec is not None and spec.data == SPEC and spec.content_type == "application/yaml"
    assert manifest is not None and json.loads(manifest.data) == {
        "git_sha": "a" * 40, "pipeline": "p", "version": result.version}
    assert gcs.objects[(BUCKET, "pipelines/p/tags/latest")] == result.version.encode()
    # manifest last: the version must not be visible before its spec is complete
    posts = [r.name for r in gcs.requests if r.method == "POST"]
    assert posts[:2] == [_obj("p", result.version, "pipeline.yaml"),
                         _obj("p", result.version, "manifest.json")]


def test_the_bucket_defaults_to_the_config_and_can_be_given():
    with FakeGcs(buckets=[BUCKET, "other-registry"]) as gcs:
        assert GcsRegistry(_clients(gcs.endpoint)).bucket_name == BUCKET
        other = GcsRegistry(_clients(gcs.endpoint), bucket="other-registry")
        other.publish("p", SPEC, {})
        assert [b for b, _ in gcs.objects] == ["other-registry", "other-registry"]


@pytest.mark.parametrize("leaf", ["pipeline.yaml", "manifest.json"])
def test_a_write_whose_response_was_lost_counts_as_published(gcs, registry, leaf):
    # GCS applied the write, the reply never came: the client retries (by default), gets 412
    # from its own object, and the registry must see that the bytes are the ones it sent.
    gcs.drop_response(method="POST", name=f"*/{leaf}")
    result = registry.publish("p", SPEC, {"git_sha": "a" * 40})
    assert result.status == "published"
    assert gcs.calls("POST", f"*/{leaf}") == 2
    assert [r.status for r in gcs.requests if r.method == "POST" and r.name
            and r.name.endswith(leaf)] == [None, 412]
    assert registry.resolve("p", result.version).manifest["git_sha"] == "a" * 40


def test_transient_503s_are_retried_by_the_client(gcs, registry):
    gcs.fail(503, method="POST", name="*/pipeline.yaml")
    version = registry.publish("p", SPEC, {}).version
    gcs.fail(503, method="GET", name="*/manifest.json")
    assert registry.resolve("p", version).version == version
    assert gcs.calls("POST", "*/pipeline.yaml") == 2


def test_a_crash_between_spec_and_manifest_is_completed_by_the_next_publish(gcs, registry):
    gcs.fail(400, method="POST", name="*/manifest.json")  # not retried: the push dies here
    with pytest.raises(gexc.BadRequest):
        registry.publish("p", SPEC, {"git_sha": "a" * 40})
    version = version_of(SPEC)
    assert (BUCKET, _obj("p", version, "pipeline.yaml")) in gcs.objects
    assert registry.versions("p") == []  # without its manifest, the version does not exist
    with pytest.raises(UserError, match="has no version or tag"):
        registry.resolve("p", version)
    with pytest.raises(UserError, match="cannot tag"):
        registry.tag("p", "latest", version)
    result = registry.publish("p", SPEC, {"git_sha": "b" * 40})
    assert (result.status, result.version) == ("published", version)
    assert registry.resolve("p", version).manifest["git_sha"] == "b" * 40


def test_a_half_written_version_with_other_bytes_is_not_completed(gcs, registry):
    name = _obj("p", version_of(SPEC), "pipeline.yaml")
    gcs.put(BUCKET, name, b"tampered\n")
    with pytest.raises(UserError, match=r"already exists with different content \(gs://registry/"):
        registry.publish("p", SPEC, {})
    assert gcs.objects == {(BUCKET, name): b"tampered\n"}


def test_a_spec_deleted_under_its_manifest_is_put_back(gcs, registry):
    version = registry.publish("p", SPEC, {}).version
    gcs.delete(BUCKET, _obj("p", version, "pipeline.yaml"))
    assert registry.publish("p", SPEC, {}).status == "unchanged"
    assert registry.spec("p", version) == SPEC


def test_spec_of_a_missing_version_names_the_object(registry):
    with pytest.raises(UserError, match=r"p@v-0000000000000000 has no spec at gs://registry/"):
        registry.spec("p", "v-0000000000000000")


def test_a_tag_move_that_loses_a_race_reads_again_and_wins(gcs, registry):
    one, two = (registry.publish("p", s, {}).version for s in (b"one\n", b"two\n"))
    registry.tag("p", "latest", one)
    gcs.fail(412, method="POST", name="pipelines/p/tags/latest", times=2)
    registry.tag("p", "latest", two)
    assert registry.resolve("p").version == two
    assert gcs.calls("POST", "pipelines/p/tags/latest") == 4


def test_a_tag_that_keeps_moving_is_a_clear_error(gcs, registry):
    version = registry.publish("p", SPEC, {}).version
    gcs.fail(412, method="POST", name="pipelines/p/tags/latest", times=None)
    with pytest.raises(UserError, match=r"could not move tag p:latest .* kept changing under "
                                        r"other writers \(6 attempts\); run the push again"):
        registry.tag("p", "latest", version)


def test_a_tag_write_whose_response_was_lost_still_moves_the_tag(gcs, registry):
    version = registry.publish("p", SPEC, {}).version
    gcs.drop_response(method="POST", name="pipelines/p/tags/latest")
    registry.tag("p", "latest", version)
    assert registry.resolve("p").version == version


def test_tag_writes_are_conditional_and_skipped_when_already_there(gcs, registry):
    one, two = (registry.publish("p", s, {}).version for s in (b"one\n", b"two\n"))
    registry.tag("p", "latest", one)
    generation = gcs.get(BUCKET, "pipelines/p/tags/latest").generation
    registry.tag("p", "latest", one)
    registry.tag("p", "latest", two)
    writes = [r.query for r in gcs.requests
              if r.method == "POST" and r.name == "pipelines/p/tags/latest"]
    assert [q["ifGenerationMatch"] for q in writes] == ["0", str(generation)]


def test_listing_follows_pages(gcs, registry):
    gcs.page_size = 2
    versions = [registry.publish("p", f"s{i}\n".encode(), {"compiled_at": f"2026-01-0{i + 1}"})
                .version for i in range(3)]
    registry.tag("p", "latest", versions[2])
    assert [(r.version, r.tags) for r in registry.versions("p")] == [
        (versions[2], ("latest",)), (versions[1], ()), (versions[0], ())]


@pytest.mark.parametrize("call", [
    lambda r: r.publish("p", SPEC, {}),
    lambda r: r.resolve("p"),
    lambda r: r.versions(),
    lambda r: r.spec("p", version_of(SPEC)),
], ids=["publish", "resolve", "versions", "spec"])
def test_permission_denied_names_the_bucket_the_permission_and_who_holds_it(gcs, registry, call):
    gcs.deny(BUCKET)
    with pytest.raises(UserError, match=r"permission denied to \w+ gs://registry/.*does not have "
                       r"(storage\.objects\.\w+) access.*\): \1 is held by the build (and "
                       r"deploy identities )?.*custom role mlopsBot\w+ on the registry bucket "
                       r"gs://registry.*`mlops-bot bootstrap` prints them") as raised:
        call(registry)
    assert "roles/storage" not in str(raised.value)


def test_permission_denied_on_a_tag_move(gcs, registry):
    version = registry.publish("p", SPEC, {}).version
    gcs.deny(BUCKET)
    with pytest.raises(UserError, match=r"storage\.objects\.\w+ is held by the build") as raised:
        registry.tag("p", "latest", version)
    assert "roles/storage" not in str(raised.value)


@pytest.mark.parametrize("call", [
    lambda r: r.publish("p", SPEC, {}),
    lambda r: r.resolve("p"),
    lambda r: r.versions(),
], ids=["publish", "resolve", "versions"])
def test_a_missing_bucket_says_so(call):
    with FakeGcs(buckets=[]) as gcs:
        registry = GcsRegistry(_clients(gcs.endpoint))
        with pytest.raises(UserError, match=r"the registry bucket gs://registry does not exist "
                           r"\(The specified bucket does not exist\.\): create it, or fix "
                           r"gcp\.registry_bucket in mlops\.yaml"):
            call(registry)


# -- the optional copy in an Artifact Registry KFP repository -------------------------------

@pytest.fixture
def kfp_repo() -> Iterator[FakeKfpRepository]:
    with FakeKfpRepository() as fake:
        yield fake


def _with_kfp(gcs: FakeGcs, repo: FakeKfpRepository) -> GcsRegistry:
    return GcsRegistry(_clients(gcs.endpoint),
                       kfp_repository=KfpRepository(repo.host, auth=ApiAuth(repo.token)))


def test_the_kfp_repository_host_comes_from_the_config(gcs):
    assert KfpRepository.for_config(_clients(gcs.endpoint).config) is None
    configured = KfpRepository.for_config(
        _clients(gcs.endpoint, kfp_repository="pipelines").config)
    assert configured is not None
    assert configured.host == "https://europe-west4-kfp.pkg.dev/test-project/pipelines"
    assert GcsRegistry(_clients(gcs.endpoint, kfp_repository="pipelines"))._kfp is not None


def test_new_versions_are_uploaded_to_the_kfp_repository_once(gcs, kfp_repo):
    registry = _with_kfp(gcs, kfp_repo)
    version = registry.publish("p", SPEC, {}).version
    assert registry.publish("p", SPEC, {}).status == "unchanged"
    assert [(u.package, u.tags, u.content, u.authorization) for u in kfp_repo.uploads] == [
        ("p", [version], SPEC, "Bearer test-token")]


def test_a_failed_kfp_upload_leaves_the_version_unpublished_until_a_retry(gcs, kfp_repo):
    registry = _with_kfp(gcs, kfp_repo)
    kfp_repo.fail(503)
    with pytest.raises(OSError, match="503"):
        registry.publish("p", SPEC, {})
    assert registry.versions() == []
    assert registry.publish("p", SPEC, {}).status == "published"
    assert len(kfp_repo.uploads) == 1


def test_an_upload_already_in_the_kfp_repository_counts_as_done(gcs, kfp_repo):
    registry = _with_kfp(gcs, kfp_repo)
    # The upload landed but the manifest write failed: the retry's upload meets its own tag.
    gcs.fail(400, method="POST", name="*/manifest.json")
    with pytest.raises(gexc.BadRequest):
        registry.publish("p", SPEC, {})
    assert registry.publish("p", SPEC, {}).status == "published"
    assert len(kfp_repo.uploads) == 1


def test_kfp_repository_permission_denied_names_the_permission_and_the_build_identity(
        gcs, kfp_repo):
    registry = GcsRegistry(_clients(gcs.endpoint),
                           kfp_repository=KfpRepository(kfp_repo.host, auth=ApiAuth("wrong")))
    with pytest.raises(UserError, match=r"permission denied to upload p@v-\w+ to the KFP "
                       r"repository http://.*/test-project/pipelines \(403 .*\): "
                       r"artifactregistry\.repositories\.uploadArtifacts is held by the build "
                       r"identity \(custom role mlopsBotImages on the KFP repository http://.*"
                       r"remove gcp\.kfp_repository from mlops\.yaml$"):
        registry.publish("p", SPEC, {})


def test_a_missing_kfp_repository_says_so(gcs, kfp_repo):
    repo = KfpRepository(kfp_repo.host.replace("/pipelines", "/nope"), auth=ApiAuth("test-token"))
    with pytest.raises(UserError, match=r"the KFP repository .*/nope does not exist"):
        GcsRegistry(_clients(gcs.endpoint), kfp_repository=repo).publish("p", SPEC, {})
