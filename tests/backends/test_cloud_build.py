"""The Cloud Build builder, run with the real GAPIC and storage clients against local fakes.

Cloud Build and Artifact Registry are `tests.support.fake_gcp`; the build source goes to
`tests.support.fake_gcs` through google-cloud-storage, and is read back from there.
"""

from __future__ import annotations

import io
import tarfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from google.api_core import exceptions as gexc
from google.auth.credentials import AnonymousCredentials
from google.cloud.devtools import cloudbuild_v1 as cb

from mlops_bot.backends.gcp.build_source import BuildSource, pack
from mlops_bot.backends.gcp.builder import CloudBuildBuilder
from mlops_bot.backends.gcp.clients import GcpClients
from mlops_bot.backends.types import BuildRequest, BuildResult
from mlops_bot.config import ApiEndpoints, GcpConfig
from mlops_bot.repo.layout import Image
from tests.support.fake_gcp import FakeGcp
from tests.support.fake_gcs import FakeGcs

PROJECT, REGION, REPO, BUCKET = "test-project", "europe-west4", "images", "registry"
SHA = "0123456789abcdef0123456789abcdef01234567"
HASH = "c0ffee" * 10 + "abcd"
REGISTRY = f"{REGION}-docker.pkg.dev/{PROJECT}/{REPO}"
PACKAGES = f"projects/{PROJECT}/locations/{REGION}/repositories/{REPO}/packages"
DOCKERFILE = "FROM python:3.11-slim\nCOPY pyproject.toml ./\nCOPY src ./src\nRUN pip install .\n"


@pytest.fixture
def gcp() -> Iterator[FakeGcp]:
    with FakeGcp() as fake:
        yield fake


@pytest.fixture
def gcs() -> Iterator[FakeGcs]:
    with FakeGcs() as fake:
        yield fake


@pytest.fixture
def said() -> list[str]:
    return []


@pytest.fixture
def make_builder(gcp: FakeGcp, gcs: FakeGcs, said: list[str]) -> Any:
    def make(**options: Any) -> CloudBuildBuilder:
        settings = {k: options.pop(k) for k in ("staging_bucket",) if k in options}
        config = GcpConfig(project=PROJECT, region=REGION, artifact_repository=REPO,
                           registry_bucket=BUCKET, **settings,
                           api_endpoints=ApiEndpoints(cloudbuild=gcp.endpoint,
                                                      artifactregistry=gcp.endpoint,
                                                      storage=gcs.endpoint))
        clients = GcpClients(config, credentials=AnonymousCredentials())
        return CloudBuildBuilder(clients, **{"poll_seconds": 0.02, "progress": said.append,
                                             "request_timeout": 2.0, **options})
    return make


def _files(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def _request(root: Path, name: str = "wine", content_hash: str = HASH,
             dockerfile: str | None = "Dockerfile", pipeline: str = "wine") -> BuildRequest:
    context = f"pipelines/{pipeline}" if name == pipeline else f"pipelines/{pipeline}/{name}"
    _files(root, {f"{context}/pyproject.toml": "[project]\nname='x'\n",
                  f"{context}/src/x/__init__.py": ""})
    if dockerfile == "Dockerfile" and not (root / context / "Dockerfile").exists():
        _files(root, {f"{context}/Dockerfile": DOCKERFILE})
    image = Image(name, "pipeline", context, dockerfile and f"{context}/{dockerfile}",
                  content_hash)
    return BuildRequest(image, pipeline, SHA, root)


def _tarball(gcs: FakeGcs, name: str = "wine", content_hash: str = HASH,
             bucket: str = BUCKET) -> set[str]:
    data = gcs.objects[(bucket, f"mlops-bot/sources/{name}-{content_hash[:40]}.tgz")]
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        return {m.name for m in tar.getmembers() if m.isfile()}


def _only(results: list[BuildResult]) -> BuildResult:
    assert len(results) == 1
    return results[0]


# -- reuse -----------------------------------------------------------------------------------

def test_an_image_pushed_for_the_content_hash_is_reused_and_tagged_with_the_sha(
        gcp: FakeGcp, gcs: FakeGcs, make_builder: Any, tmp_path: Path) -> None:
    gcp.add_tag(f"{PACKAGES}/wine", f"ch-{HASH[:40]}", "sha256:" + "e" * 64)

    result = _only(make_builder().build([_request(tmp_path)]))

    assert (result.status, result.ref) == ("reused", f"{REGISTRY}/wine@sha256:{'e' * 64}")
    assert gcp.created_tags == [f"{PACKAGES}/wine/tags/{SHA}"]
    assert gcp.tags[f"{PACKAGES}/wine/tags/{SHA}"] == f"{PACKAGES}/wine/versions/sha256:{'e' * 64}"
    assert not gcp.builds and not gcs.objects  # nothing built, nothing uploaded


def test_reuse_when_the_sha_tag_exists_already(gcp: FakeGcp, make_builder: Any,
                                               tmp_path: Path, said: list[str]) -> None:
    gcp.add_tag(f"{PACKAGES}/wine", f"ch-{HASH[:40]}", "sha256:" + "e" * 64)
    gcp.add_tag(f"{PACKAGES}/wine", SHA, "sha256:" + "e" * 64)  # a re-run of the commit

    result = _only(make_builder().build([_request(tmp_path)]))

    assert result.status == "reused" and gcp.calls("create_tag") == 1  # 409: fine
    assert not any("warning" in line for line in said)


def test_a_sha_tag_that_cannot_be_added_is_a_warning(gcp: FakeGcp, make_builder: Any,
                                                     tmp_path: Path, said: list[str]) -> None:
    gcp.add_tag(f"{PACKAGES}/wine", f"ch-{HASH[:40]}", "sha256:" + "e" * 64)
    gcp.fail("create_tag", 403, times=None)

    result = _only(make_builder().build([_request(tmp_path)]))

    assert result.status == "reused"
    assert any("warning: permission denied to tag" in line
               and "artifactregistry.tags.create is held by the build identity" in line
               for line in said)


# -- building --------------------------------------------------------------------------------

def test_a_new_image_is_built_and_pinned_by_digest(gcp: FakeGcp, gcs: FakeGcs,
                                                   make_builder: Any, tmp_path: Path,
                                                   said: list[str]) -> None:
    builder = make_builder()
    result = _only(builder.build([_request(tmp_path)]))

    (build_id, build), = gcp.builds.items()
    assert (result.status, result.error) == ("built", None)
    assert result.ref == f"{REGISTRY}/wine@{FakeGcp.digest(build_id)}"
    uri, ch = f"{REGISTRY}/wine", f"ch-{HASH[:40]}"
    sent = build.request
    assert sent["steps"] == [{"name": "gcr.io/cloud-builders/docker", "args": [
        "build", "-t", f"{uri}:{SHA}", "-t", f"{uri}:{ch}", "-f", "Dockerfile", "."]}]
    assert sent["images"] == [f"{uri}:{SHA}", f"{uri}:{ch}"]
    assert sent["tags"] == ["mlops-bot", "wine", ch]
    assert sent["timeout"] == "1800s"
    source = sent["source"]["storageSource"]
    generation = gcs.get(BUCKET, source["object"]).generation  # type: ignore[union-attr]
    assert source == {"bucket": BUCKET, "object": f"mlops-bot/sources/wine-{HASH[:40]}.tgz",
                      "generation": str(generation)}
    # The regional endpoint, polled with builds.get.
    assert {path.split("?")[0] for route, _, path in gcp.requests if "build" in route} == {
        f"/v1/projects/{PROJECT}/locations/{REGION}/builds",
        f"/v1/projects/{PROJECT}/locations/{REGION}/builds/{build_id}"}
    assert any(build.resource["logUrl"] in line for line in said)
    assert any("wine: SUCCESS" in line for line in said)
    # The push tagged the image by content hash: the next push reuses it.
    again = _only(builder.build([_request(tmp_path)]))
    assert (again.status, again.ref, len(gcp.builds)) == ("reused", result.ref, 1)


def test_sources_go_to_the_staging_bucket_when_set(gcp: FakeGcp, gcs: FakeGcs,
                                                   make_builder: Any, tmp_path: Path) -> None:
    result = _only(make_builder(staging_bucket="staging").build([_request(tmp_path)]))

    assert result.status == "built"
    assert "pyproject.toml" in _tarball(gcs, bucket="staging")


def test_independent_images_build_concurrently_and_shared_ones_once(
        gcp: FakeGcp, make_builder: Any, tmp_path: Path) -> None:
    gcp.set_outcome("SUCCESS", after_polls=8)
    first = _request(tmp_path, "wine")
    second = _request(tmp_path, "wine-train", "d" * 64)
    shared = BuildRequest(first.image, "other", SHA, tmp_path)  # the same image, twice

    results = make_builder().build([first, second, shared])

    assert [r.status for r in results] == ["built", "built", "built"]
    assert results[0].ref == results[2].ref and len(gcp.builds) == 2
    creates = [i for i, r in enumerate(gcp.requests) if r[0] == "create_build"]
    first_id = next(iter(gcp.builds))
    polls_of_first = [i for i, r in enumerate(gcp.requests)
                      if r[0] == "get_build" and first_id in r[2]]
    assert creates[1] < polls_of_first[-1]  # the second started before the first finished


def test_one_failed_image_does_not_stop_the_others(gcp: FakeGcp, make_builder: Any,
                                                   tmp_path: Path) -> None:
    gcp.set_outcome("FAILURE", after_polls=1, image="wine")

    results = make_builder().build([_request(tmp_path, "wine"),
                                    _request(tmp_path, "wine-train", "d" * 64)])

    assert [r.status for r in results] == ["failed", "built"]


# -- starting a build exactly once -----------------------------------------------------------

def test_a_503_on_create_is_retried_after_checking_for_the_build(
        gcp: FakeGcp, make_builder: Any, tmp_path: Path) -> None:
    gcp.fail("create_build", 503)

    result = _only(make_builder().build([_request(tmp_path)]))

    assert result.status == "built"
    assert len(gcp.builds) == 1 and gcp.calls("create_build") == 2
    assert gcp.calls("list_builds") == 1
    assert any(f'filter=tags%3D%22ch-{HASH[:40]}%22' in path for _, _, path in gcp.requests)


def test_a_build_accepted_before_the_client_timed_out_is_attached_to(
        gcp: FakeGcp, make_builder: Any, tmp_path: Path, said: list[str]) -> None:
    gcp.stall("create_build", 1.5)  # applied, but the answer comes after the client gave up

    result = _only(make_builder(request_timeout=0.5).build([_request(tmp_path)]))

    (build_id,) = gcp.builds
    assert result.status == "built" and result.ref == f"{REGISTRY}/wine@{FakeGcp.digest(build_id)}"
    assert gcp.calls("create_build") == 1
    assert any(f"attaching to build {build_id}" in line for line in said)


def test_other_builds_of_the_same_hash_are_not_attached_to(
        gcp: FakeGcp, make_builder: Any, tmp_path: Path) -> None:
    # A failed build from another push a moment ago, and a success whose image was deleted.
    failed = gcp.add_build([f"ch-{HASH[:40]}"], "FAILURE", datetime.now(UTC))
    old = gcp.add_build([f"ch-{HASH[:40]}"], "SUCCESS", datetime.now(UTC) - timedelta(hours=1))
    gcp.fail("create_build", 503)

    result = _only(make_builder().build([_request(tmp_path)]))

    (new,) = set(gcp.builds) - {failed, old}
    assert (result.status, result.ref) == ("built", f"{REGISTRY}/wine@{FakeGcp.digest(new)}")
    assert gcp.calls("list_builds") == 1 and gcp.calls("create_build") == 2


def test_no_second_build_while_it_is_unknown_whether_the_first_started(
        gcp: FakeGcp, make_builder: Any, tmp_path: Path) -> None:
    gcp.stall("create_build", 1.0)
    gcp.fail("list_builds", 503, times=None)  # so Cloud Build cannot be asked

    result = _only(make_builder(request_timeout=0.3).build([_request(tmp_path)]))

    assert result.status == "failed" and len(gcp.builds) == 1
    assert gcp.calls("create_build") == 1
    assert "may show one that started anyway" in (result.error or "")


def test_a_create_that_keeps_failing_gives_up_without_duplicates(
        gcp: FakeGcp, make_builder: Any, tmp_path: Path) -> None:
    gcp.fail("create_build", 503, times=None)

    result = _only(make_builder().build([_request(tmp_path)]))

    assert result.status == "failed" and not gcp.builds
    assert "could not start a build in Cloud Build" in (result.error or "")
    assert f"ch-{HASH[:40]}" in (result.error or "")


def test_polling_rides_out_transient_errors(gcp: FakeGcp, make_builder: Any,
                                            tmp_path: Path) -> None:
    gcp.fail("get_build", 503, times=2)

    assert _only(make_builder().build([_request(tmp_path)])).status == "built"


# -- failures --------------------------------------------------------------------------------

def test_a_failed_step_is_named_with_the_log_url_and_tail(
        gcp: FakeGcp, gcs: FakeGcs, make_builder: Any, tmp_path: Path) -> None:
    gcp.set_outcome("FAILURE", after_polls=2)
    gcp.logs_bucket = "logs"
    gcp.on_finish = lambda build: gcs.put("logs", f"log-{build['id']}.txt",
                                          b"Step 1/4 : FROM python\nERROR: No matching "
                                          b"distribution found for kfp==99\n")

    result = _only(make_builder().build([_request(tmp_path)]))

    (build,) = gcp.builds.values()
    error = result.error or ""
    assert (result.status, result.ref) == ("failed", None)
    assert error.startswith("wine: image wine: build ")
    assert "step 0 `gcr.io/cloud-builders/docker build -t" in error
    assert "step exited with non-zero status: 1" in error
    assert f"see {build.resource['logUrl']}" in error
    assert "No matching distribution found for kfp==99" in error


def test_cloud_builds_own_timeout(gcp: FakeGcp, make_builder: Any, tmp_path: Path) -> None:
    gcp.set_outcome("TIMEOUT", after_polls=1)

    result = _only(make_builder().build([_request(tmp_path)]))

    assert result.status == "failed"
    assert "did not finish within 1800 s (gcp.build_timeout_seconds" in (result.error or "")


def test_a_build_past_the_deadline_fails(gcp: FakeGcp, make_builder: Any,
                                         tmp_path: Path) -> None:
    gcp.set_outcome("WORKING")

    result = _only(make_builder(deadline_seconds=0.3).build([_request(tmp_path)]))

    (build,) = gcp.builds.values()
    assert result.status == "failed"
    assert f"did not finish within 0.3 s; see {build.resource['logUrl']}" in (result.error or "")


@pytest.mark.parametrize(("route", "expected"), [
    ("create_build", f"in Cloud Build, project {PROJECT} (injected fault (403) on create_build): "
                     f"cloudbuild.builds.create is held by the build identity "
                     f"(mlops-bot-build@{PROJECT}.iam.gserviceaccount.com, custom role "
                     f"mlopsBotBuild on project {PROJECT})"),
    ("get_tag", f"in Artifact Registry repository {REPO} ({REGION}, project {PROJECT}) "
                f"(injected fault (403) on get_tag): artifactregistry.tags.get is held by the "
                f"build identity (mlops-bot-build@{PROJECT}.iam.gserviceaccount.com, custom role "
                f"mlopsBotImages on the Artifact Registry repository {REPO})"),
    ("storage", "storage.objects.create is held by the build identity (mlops-bot-build@"
                f"{PROJECT}.iam.gserviceaccount.com, custom role mlopsBotCreateObjects on the "
                f"staging bucket gs://{BUCKET}, objects under mlops-bot/sources/)"),
])
def test_permission_denied_names_the_permission_and_the_identity_that_holds_it(
        gcp: FakeGcp, gcs: FakeGcs, make_builder: Any, tmp_path: Path, route: str,
        expected: str) -> None:
    if route == "storage":
        gcs.deny(BUCKET)
    else:
        gcp.fail(route, 403, times=None)

    result = _only(make_builder().build([_request(tmp_path)]))

    assert result.status == "failed" and not gcp.builds
    assert "permission denied" in (result.error or "") and expected in (result.error or "")
    assert "`mlops-bot bootstrap` prints them" in (result.error or "")
    assert "roles/" not in (result.error or "")


def test_an_image_without_a_dockerfile_fails_with_the_fix(make_builder: Any,
                                                          tmp_path: Path) -> None:
    result = _only(make_builder().build([_request(tmp_path, dockerfile=None)]))

    assert result.status == "failed"
    assert "pipelines/wine/Dockerfile does not exist" in (result.error or "")
    assert "add one to pipelines/wine/" in (result.error or "")


# -- the source sent ------------------------------------------------------------------------

def test_the_tarball_leaves_out_secrets_state_and_ignored_files(
        gcs: FakeGcs, make_builder: Any, tmp_path: Path) -> None:
    request = _request(tmp_path)
    _files(tmp_path / "pipelines/wine", {
        ".git/config": "x", ".mlops/envs/a": "x", ".env": "TOKEN=1", "src/x/.env": "TOKEN=1",
        "gha-creds-1234abcd.json": "{}", ".dockerignore": "*.csv\ndata/\n!data/keep.csv\n",
        ".gcloudignore": "*.log\n", "data/big.bin": "x", "data/keep.csv": "x",
        "train.csv": "x", "src/x/sample.csv": "x", "src/x/run.log": "x", "README.md": "x"})

    assert _only(make_builder().build([request])).status == "built"

    assert _tarball(gcs) == {
        "Dockerfile", "pyproject.toml", "src/x/__init__.py", ".dockerignore", ".gcloudignore",
        "data/keep.csv", "README.md",
        "src/x/sample.csv",  # .dockerignore is anchored at the context root, as in Docker
    }


def test_a_dockerfile_copying_from_the_repository_root_gets_the_root_as_context(
        gcp: FakeGcp, gcs: FakeGcs, make_builder: Any, tmp_path: Path) -> None:
    _files(tmp_path, {
        "pipelines/wine/Dockerfile": "FROM python\nARG PIPELINE_NAME\n"
                                     "COPY pipelines/${PIPELINE_NAME}/ .\n"
                                     "COPY components/common ./common\n",
        "components/common/definition.py": "", ".dockerignore": "pipelines/other/\n",
        "pipelines/other/definition.py": "", ".git/HEAD": "x", "gha-creds-1.json": "{}"})
    request = _request(tmp_path)

    assert _only(make_builder().build([request])).status == "built"

    (build,) = gcp.builds.values()
    args = build.request["steps"][0]["args"]
    assert args[-5:] == ["--build-arg", "PIPELINE_NAME=wine",
                         "-f", "pipelines/wine/Dockerfile", "."]
    assert _tarball(gcs) == {
        ".dockerignore", "components/common/definition.py", "pipelines/wine/Dockerfile",
        "pipelines/wine/pyproject.toml", "pipelines/wine/src/x/__init__.py"}


@pytest.mark.parametrize(("ignore", "rules", "kept"), [
    (".dockerignore", "**/*.pyc\n", {"Dockerfile", "a.py"}),
    (".dockerignore", "*.pyc\n", {"Dockerfile", "a.py", "pkg/b.pyc"}),
    (".gcloudignore", "*.pyc\n", {"Dockerfile", "a.py"}),
    (".gcloudignore", "/pkg\n", {"Dockerfile", "a.py", "a.pyc"}),
    (".dockerignore", "*\n!a.py\n", {"Dockerfile", "a.py"}),  # the Dockerfile is always sent
])
def test_ignore_rules(tmp_path: Path, ignore: str, rules: str, kept: set[str]) -> None:
    _files(tmp_path, {"Dockerfile": "FROM x\n", "a.py": "", "a.pyc": "", "pkg/b.pyc": "",
                      ignore: rules})

    names = pack(BuildSource(tmp_path, "Dockerfile"), io.BytesIO())

    assert set(names) - {ignore} == kept


# -- the fake, as the real client sees it ---------------------------------------------------

def test_the_fake_operation_is_polled_to_completion_by_the_client(gcp: FakeGcp) -> None:
    client = cb.CloudBuildClient(credentials=AnonymousCredentials(), transport="rest",
                                 client_options={"api_endpoint": gcp.endpoint})
    build = cb.Build(images=[f"{REGISTRY}/x:ch-1"], tags=["ch-1"])

    operation = client.create_build(request=cb.CreateBuildRequest(
        parent=f"projects/{PROJECT}/locations/{REGION}", build=build))
    done = operation.result(timeout=10)

    assert done.status == cb.Build.Status.SUCCESS and done.results.images[0].digest
    gcp.set_outcome("FAILURE", after_polls=1)
    failing = client.create_build(project_id=PROJECT, build=cb.Build(steps=[{"name": "x"}]))
    assert failing.operation.name.startswith(f"operations/build/{PROJECT}/")
    with pytest.raises(gexc.GoogleAPICallError, match="Build failed"):
        failing.result(timeout=10)
