"""Images built by Cloud Build and found again in Artifact Registry by their content hash.

An image is pushed as `{region}-docker.pkg.dev/{project}/{repository}/{image}` with two tags: the
git SHA (lineage) and `ch-<content hash>` (identity). Before building, the content-hash tag is
looked up: when it exists the image is reused and given the new SHA tag, so a push that did not
change an image's inputs builds nothing, on any branch.

Builds run on the regional endpoint (`projects/{p}/locations/{region}/builds`), next to the
registry; they are polled with `builds.get`, as gcloud does, which also serves builds attached to
rather than created. Starting a build is the one call that must not be repeated blindly: when it
fails in a way that leaves unknown whether the service accepted it (5xx, a timeout after the
request was sent, a dropped connection), the builds tagged with the content hash are listed and
one started since is attached to before another is created.
"""

from __future__ import annotations

import contextlib
import itertools
import re
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from google.api_core import exceptions as gexc
from google.api_core import retry as gretry

from mlops_bot.backends.gcp.api_errors import TRANSIENT as _TRANSIENT
from mlops_bot.backends.gcp.api_errors import Refusal, denied_sentence, message_of
from mlops_bot.backends.gcp.build_source import BuildSource, SourceError, build_source, pack
from mlops_bot.backends.gcp.objects import BucketObjects
from mlops_bot.backends.types import BuildRequest, BuildResult
from mlops_bot.console import progress as console_progress
from mlops_bot.errors import UserError

if TYPE_CHECKING:
    from google.cloud.devtools.cloudbuild_v1 import Build

    from mlops_bot.backends.gcp.clients import GcpClients

__all__ = ["CloudBuildBuilder"]

_DOCKER = "gcr.io/cloud-builders/docker"
_PARALLEL = 30  # builds waited for at once: Cloud Build runs (or queues) them on its side
_ATTEMPTS = 3
_HEARTBEAT = 60.0  # seconds between "still WORKING" lines
_CLOCK_SKEW = timedelta(minutes=2)  # between this runner and Cloud Build's create_time
_LOG_TAIL_LINES = 20
_LOG_TAIL_BYTES = 64 * 1024
# A build found by its tag is attached to only if it may still give an image: an older failed
# build of the same content hash must not stand in for this one.
_ATTACHABLE = {"QUEUED", "PENDING", "WORKING", "SUCCESS"}
_UNFINISHED = {"STATUS_UNKNOWN", "PENDING", "QUEUED", "WORKING"}


class _Failed(Exception):
    """This image failed; the message says why, for the BuildResult."""


@dataclass(frozen=True)
class _Target:
    request: BuildRequest
    uri: str  # without a tag
    package: str  # its Artifact Registry package resource name

    @property
    def name(self) -> str:
        return self.request.image.name

    @property
    def hash_tag(self) -> str:
        return "ch-" + self.request.image.content_hash[:40]


class CloudBuildBuilder:
    """Builds images with Cloud Build into `gcp.artifact_repository`, reusing them by hash."""

    def __init__(self, clients: GcpClients, poll_seconds: float = 5.0,
                 progress: Callable[[str], None] = console_progress, *,
                 request_timeout: float = 60.0, deadline_seconds: float | None = None) -> None:
        self._clients = clients
        self._config = clients.config
        self._poll = poll_seconds
        self._progress = progress
        self._timeout = request_timeout  # per API call
        self._deadline = float(deadline_seconds or clients.config.build_timeout_seconds)
        self._parent = f"projects/{self._config.project}/locations/{self._config.region}"
        self._retry = gretry.Retry(predicate=lambda e: isinstance(e, _TRANSIENT),
                                   initial=min(1.0, poll_seconds), maximum=10.0,
                                   timeout=request_timeout)

    def build(self, requests: Sequence[BuildRequest]) -> list[BuildResult]:
        return self.build_each(requests, lambda _: None)

    def build_each(self, requests: Sequence[BuildRequest],
                   on_built: Callable[[BuildResult], None]) -> list[BuildResult]:
        """`build`, telling `on_built` of each image as it ends (from its worker thread)."""
        unique: dict[tuple[str, str], BuildRequest] = {}
        for request in requests:  # two pipelines sharing an image build it once
            unique.setdefault((request.image.name, request.image.content_hash), request)
        if not unique:
            return []

        def one(request: BuildRequest) -> BuildResult:
            result = self._build_one(request)
            on_built(result)
            return result

        # Made here, once: the clients are built lazily and the workers share them.
        _ = self._clients.cloud_build, self._clients.artifact_registry
        with ThreadPoolExecutor(max_workers=min(_PARALLEL, len(unique))) as pool:
            results = dict(zip(unique, pool.map(one, unique.values()), strict=True))
        return [results[(r.image.name, r.image.content_hash)] for r in requests]

    def _build_one(self, request: BuildRequest) -> BuildResult:
        image, started = request.image, time.monotonic()
        target = self._target(request)
        try:
            ref = self._reuse(target)
            if ref is not None:
                self._say(target, f"reusing {ref} (content hash {image.content_hash[:12]})")
                return BuildResult(image.name, image.content_hash, "reused", ref,
                                   seconds=time.monotonic() - started)
            source = build_source(request)
            build = self._start(target, source)
            ref = self._wait(target, build, started)
            return BuildResult(image.name, image.content_hash, "built", ref,
                               seconds=time.monotonic() - started)
        except (_Failed, SourceError, UserError) as failure:
            error = str(failure)
        except Exception as bug:  # one image's bug must not sink the others' builds
            error = f"unexpected {type(bug).__name__} (a bug in mlops-bot): {bug}"
        return BuildResult(image.name, image.content_hash, "failed", None,
                           f"{request.pipeline}: image {image.name}: {error}",
                           time.monotonic() - started)

    def _target(self, request: BuildRequest) -> _Target:
        c, image = self._config, request.image.name
        uri = f"{c.region}-docker.pkg.dev/{c.project}/{c.artifact_repository}/{image}"
        package = (f"projects/{c.project}/locations/{c.region}/repositories/"
                   f"{c.artifact_repository}/packages/{image}")
        return _Target(request, uri, package)

    def _say(self, target: _Target, text: str) -> None:
        self._progress(f"  {target.name}: {text}")

    # -- reuse -----------------------------------------------------------------------------
    def _reuse(self, target: _Target) -> str | None:
        """The digest reference of the image already pushed for this content hash, if any."""
        registry = self._clients.artifact_registry
        with self._translated(f"look up {target.uri}:{target.hash_tag}", registry=True,
                              needs="artifactregistry.tags.get"):
            try:
                tag = registry.get_tag(name=f"{target.package}/tags/{target.hash_tag}",
                                       retry=self._retry, timeout=self._timeout)
            except gexc.NotFound:
                return None
        version: str = tag.version  # .../packages/{image}/versions/sha256:...
        digest = version.rsplit("/", 1)[-1]
        if not digest.startswith("sha256:"):
            return None
        self._tag_sha(target, version)
        return f"{target.uri}@{digest}"

    def _tag_sha(self, target: _Target, version: str) -> None:
        from google.cloud.artifactregistry_v1 import Tag

        sha = target.request.git_sha
        try:
            self._clients.artifact_registry.create_tag(
                parent=target.package, tag_id=sha, retry=self._retry, timeout=self._timeout,
                tag=Tag(name=f"{target.package}/tags/{sha}", version=version))
        except gexc.Conflict:
            pass  # already tagged (a re-run of this commit); REST turns every 409 into Conflict
        except (gexc.GoogleAPICallError, *_TRANSIENT) as error:
            # The digest is what runs use; the SHA tag is lineage for people: warn, go on.
            doing = f"tag {target.uri} as {sha}"
            self._say(target, "warning: " + (self._denied(
                doing, error, True, "artifactregistry.tags.create") if isinstance(
                    error, gexc.Forbidden) else f"could not {doing}: {error}"))

    # -- starting a build, exactly once ----------------------------------------------------
    def _start(self, target: _Target, source: BuildSource) -> Build:
        bucket, name, generation = self._upload(target, source)
        spec = self._spec(target, source, bucket, name, generation)
        since = datetime.now(UTC) - _CLOCK_SKEW
        last: BaseException | None = None
        for attempt in range(_ATTEMPTS):
            if attempt:
                time.sleep(self._poll * attempt)
                try:
                    found = self._find(target, since)
                except _TRANSIENT as error:
                    last = error
                    continue  # still unknown whether a build started: don't start another
                if found is not None:
                    self._say(target, f"attaching to build {found.id}, which the failed "
                              "request started")
                    return found
            try:
                return self._create(target, spec)
            except _TRANSIENT as error:
                last = error
                self._say(target, f"starting the build failed ({error}); checking whether "
                          "Cloud Build received it")
        raise _Failed(f"could not start a build in Cloud Build ({self._parent}) after "
                      f"{_ATTEMPTS} attempts: {last}; builds tagged {target.hash_tag} in the "
                      "Cloud Build history may show one that started anyway")

    def _create(self, target: _Target, spec: Build) -> Build:
        from google.cloud.devtools.cloudbuild_v1 import CreateBuildRequest

        # parent without project_id: with both, the client picks the global route.
        request = CreateBuildRequest(parent=self._parent, build=spec)
        with self._translated("start a build", transient_ok=True,
                              needs="cloudbuild.builds.create"):
            operation = self._clients.cloud_build.create_build(request=request,
                                                               timeout=self._timeout)
        build: Build = operation.metadata.build
        self._say(target, f"build {build.id} started; logs: {self._log_url(build)}")
        return build

    def _find(self, target: _Target, since: datetime) -> Build | None:
        """The newest build tagged with the content hash started since `since`, if any."""
        from google.cloud.devtools.cloudbuild_v1 import ListBuildsRequest

        request = ListBuildsRequest(parent=self._parent, filter=f'tags="{target.hash_tag}"',
                                    page_size=20)
        with self._translated("list builds", transient_ok=True, needs="cloudbuild.builds.list"):
            builds = self._clients.cloud_build.list_builds(request=request, retry=self._retry,
                                                           timeout=self._timeout)
            for build in itertools.islice(builds, 20):  # newest first
                created = build.create_time
                if build.status.name in _ATTACHABLE and (created is None or created >= since):
                    return build
        return None

    def _upload(self, target: _Target, source: BuildSource) -> tuple[str, str, int]:
        c = self._config
        setting = "gcp.staging_bucket" if c.staging_bucket else "gcp.registry_bucket"
        objects = BucketObjects(self._clients, c.staging_bucket or c.registry_bucket,
                                "the Cloud Build staging bucket", setting)
        name = (f"mlops-bot/sources/{target.name}-"
                f"{target.request.image.content_hash[:40]}.tgz")
        with tempfile.TemporaryFile() as archive:
            files = pack(source, archive)
            size = archive.tell()
            archive.seek(0)
            self._say(target, f"uploading {len(files)} files ({size} bytes) to {objects.url(name)}")
            blob = objects.bucket.blob(name)
            # The bucket's own errors first: they name the bucket, its role and setting.
            with self._translated("upload the source"), objects.translated("write", name):
                blob.upload_from_file(archive, size=size, content_type="application/gzip",
                                      timeout=self._timeout)
        return objects.bucket_name, name, int(blob.generation or 0)

    def _spec(self, target: _Target, source: BuildSource, bucket: str, name: str,
              generation: int) -> Build:
        from google.cloud.devtools import cloudbuild_v1 as cb

        sha_ref = f"{target.uri}:{target.request.git_sha}"
        hash_ref = f"{target.uri}:{target.hash_tag}"
        args = ["build", "-t", sha_ref, "-t", hash_ref]
        for key, value in source.build_args.items():
            args += ["--build-arg", f"{key}={value}"]
        return cb.Build(
            source=cb.Source(storage_source=cb.StorageSource(
                bucket=bucket, object_=name, generation=generation)),
            steps=[cb.BuildStep(name=_DOCKER, args=[*args, "-f", source.dockerfile, "."])],
            images=[sha_ref, hash_ref],
            tags=["mlops-bot", _build_tag(target.request.pipeline), target.hash_tag],
            timeout=timedelta(seconds=self._config.build_timeout_seconds),
        )

    # -- waiting ---------------------------------------------------------------------------
    def _wait(self, target: _Target, build: Build, started: float) -> str:
        name, deadline = f"{self._parent}/builds/{build.id}", time.monotonic() + self._deadline
        status, said = "", time.monotonic()
        while True:
            now = time.monotonic()
            if build.status.name != status or now - said >= _HEARTBEAT:
                status, said = build.status.name, now
                self._say(target, f"{status} ({now - started:.0f} s)")
            if status not in _UNFINISHED:
                return self._finished(target, build)
            if now >= deadline:
                raise _Failed(f"build {build.id} did not finish within {self._deadline:g} s; "
                              f"see {self._log_url(build)}")
            time.sleep(self._poll)
            with contextlib.suppress(*_TRANSIENT), self._translated(
                    "read the build", transient_ok=True, needs="cloudbuild.builds.get"):
                # No retry here: the next poll is the retry, and the deadline bounds them all.
                build = self._clients.cloud_build.get_build(name=name, retry=None,
                                                            timeout=self._timeout)

    def _finished(self, target: _Target, build: Build) -> str:
        status, log_url = build.status.name, self._log_url(build)
        if status == "SUCCESS":
            images = list(build.results.images)
            wanted = f"{target.uri}:{target.hash_tag}"
            for image in sorted(images, key=lambda i: i.name != wanted):
                if image.name.startswith(target.uri + ":") and image.digest:
                    return f"{target.uri}@{image.digest}"
            raise _Failed(f"build {build.id} succeeded but reported no digest for {wanted}; "
                          f"see {log_url}")
        if status == "TIMEOUT":
            raise _Failed(f"build {build.id} did not finish within "
                          f"{self._config.build_timeout_seconds} s (gcp.build_timeout_seconds "
                          f"in mlops.yaml); see {log_url}")
        failed = [(i, s) for i, s in enumerate(build.steps) if s.status.name == "FAILURE"]
        what = (f"step {failed[0][0]} `{failed[0][1].name} {' '.join(failed[0][1].args)}` failed"
                if failed else f"ended {status}")
        detail = build.failure_info.detail or build.status_detail
        tail = self._log_tail(build)
        raise _Failed(f"build {build.id} {what}" + (f" ({detail})" if detail else "")
                      + f"; see {log_url}" + (f"\n{tail}" if tail else ""))

    def _log_url(self, build: Build) -> str:
        url: str = build.log_url
        return url or (f"https://console.cloud.google.com/cloud-build/builds;"
                       f"region={self._config.region}/{build.id}?project={self._config.project}")

    def _log_tail(self, build: Build) -> str:
        """The end of the build's log, when it can be read; best effort (the link is enough)."""
        bucket = str(build.logs_bucket).removeprefix("gs://").strip("/")
        if not bucket:
            return ""
        try:
            blob = self._clients.storage.bucket(bucket).get_blob(f"log-{build.id}.txt",
                                                                 timeout=self._timeout)
            if blob is None:
                return ""
            start = max(0, int(blob.size or 0) - _LOG_TAIL_BYTES)
            data: bytes = blob.download_as_bytes(start=start, timeout=self._timeout)
        except Exception:  # a log we cannot read leaves the link to it
            return ""
        lines = data.decode("utf-8", errors="replace").rstrip().splitlines()[-_LOG_TAIL_LINES:]
        return "\n".join(f"    {line}" for line in lines)

    # -- errors ----------------------------------------------------------------------------
    @contextlib.contextmanager
    def _translated(self, doing: str, registry: bool = False, transient_ok: bool = False,
                    needs: str | None = None) -> Iterator[None]:
        """Google API errors as _Failed sentences; transient ones pass when the caller retries.
        `needs`: the permission the call needs, for a 403 that does not name it."""
        try:
            yield
        except _TRANSIENT as error:
            if transient_ok:
                raise
            raise _Failed(f"could not {doing}: {error}") from error
        except gexc.Forbidden as error:
            raise _Failed(self._denied(doing, error, registry, needs)) from error
        except gexc.Unauthenticated as error:
            raise _Failed(f"could not {doing}: not authenticated ({message_of(error)}); on GitHub "
                          "run google-github-actions/auth first, locally run `gcloud auth "
                          "application-default login`") from error
        except gexc.GoogleAPICallError as error:
            raise _Failed(f"could not {doing}: {error}") from error

    def _denied(self, doing: str, error: gexc.GoogleAPICallError, registry: bool,
                needs: str | None) -> str:
        c = self._config
        where = (f" in Artifact Registry repository {c.artifact_repository} ({c.region}, "
                 f"project {c.project})" if registry else f" in Cloud Build, project {c.project}")
        return denied_sentence(doing, error, c, where, Refusal(needs))


def _build_tag(pipeline: str) -> str:
    """A Cloud Build tag from a pipeline name: tags match ^[\\w][\\w.-]{0,127}$."""
    tag = re.sub(r"[^\w.-]+", "-", pipeline).lstrip(".-")[:128]
    return tag or "pipeline"
