"""The pipeline registry in a GCS bucket, in the same layout as the local directory registry.

```
pipelines/<pipeline>/versions/<version>/pipeline.yaml
pipelines/<pipeline>/versions/<version>/manifest.json
pipelines/<pipeline>/tags/<tag>            # holds a version id
```
GCS has no atomic multi-object write, so a version is written in two create-only steps
(`if_generation_match=0`): pipeline.yaml first, manifest.json last. A version exists once its
manifest does; a spec without a manifest (a crash in between) is completed by the next publish of
the same bytes. Tags move with compare-and-swap on the tag object's generation.
"""

from __future__ import annotations

import json
import random
import time
from typing import TYPE_CHECKING, Any

from mlops_bot.backends.gcp.kfp_repository import KfpRepository
from mlops_bot.backends.gcp.objects import BucketObjects
from mlops_bot.backends.types import PublishResult, VersionRecord
from mlops_bot.backends.versions import DEFAULT_TAG, check_tag, parse_ref, version_of
from mlops_bot.errors import UserError

if TYPE_CHECKING:
    from mlops_bot.backends.gcp.clients import GcpClients

__all__ = ["GcsRegistry"]

_SPEC, _MANIFEST = "pipeline.yaml", "manifest.json"
# Concurrent tag movers are other pushes of the same repository: a handful at most, so a few
# jittered retries settle them; beyond that something is hammering the tag and a person should look.
_TAG_ATTEMPTS = 6
_TAG_BACKOFF_SECONDS = 0.05


class GcsRegistry:
    def __init__(self, clients: GcpClients, bucket: str | None = None,
                 kfp_repository: KfpRepository | None = None) -> None:
        self.bucket_name = bucket or clients.config.registry_bucket
        self._clients = clients
        self._kfp = kfp_repository or KfpRepository.for_config(clients.config)

        self._objects = BucketObjects(clients, self.bucket_name, "the registry bucket",
                                      "gcp.registry_bucket")

    def _url(self, name: str = "") -> str:
        return self._objects.url(name)

    # -- PipelineRegistry ------------------------------------------------------------------
    def publish(self, pipeline: str, spec: bytes, manifest: dict[str, Any]) -> PublishResult:
        version = version_of(spec)
        spec_name, manifest_name = (_path(pipeline, version, leaf) for leaf in (_SPEC, _MANIFEST))
        if self._objects.exists(manifest_name):
            return self._same_or_error(pipeline, version, spec)
        if not self._objects.write_if(spec_name, spec, "application/yaml"):
            # A half-written version or a concurrent publisher: only the same bytes may go on.
            self._same_or_error(pipeline, version, spec)
        if self._kfp is not None:
            # Before the manifest: should it fail, the version stays half-written and the next
            # publish uploads again instead of skipping a version that already "exists".
            self._kfp.upload(pipeline, version, spec)
        document = json.dumps({**manifest, "pipeline": pipeline, "version": version},
                              indent=2).encode()
        if self._objects.write_if(manifest_name, document, "application/json"):
            return PublishResult(pipeline, version, "published")
        # Another publisher finished first, or our write landed, its response was lost and the
        # client's retry hit our own object: identical bytes (compiled_at included) say which.
        mine = self._objects.read(manifest_name) == document
        return PublishResult(pipeline, version, "published" if mine else "unchanged")

    def tag(self, pipeline: str, tag: str, version: str) -> None:
        check_tag(tag)
        if not self._objects.exists(_path(pipeline, version, _MANIFEST)):
            raise UserError(f"cannot tag {pipeline}@{version}: no such version in "
                            f"{self._url()}; see mlops-bot registry list")
        name = f"pipelines/{pipeline}/tags/{tag}"
        for attempt in range(_TAG_ATTEMPTS):
            generation, current = self._objects.read_with_generation(name)
            if current == version.encode():
                return
            if self._objects.write_if(name, version.encode(), "text/plain", generation):
                return
            # Someone moved the tag between our read and our write: read it again.
            time.sleep(random.uniform(0, min(1.0, _TAG_BACKOFF_SECONDS * 2**attempt)))
        raise UserError(
            f"could not move tag {pipeline}:{tag} to {version}: {self._url(name)} kept changing "
            f"under other writers ({_TAG_ATTEMPTS} attempts); run the push again"
        )

    def resolve(self, pipeline: str, ref: str | None = None) -> VersionRecord:
        kind, name = parse_ref(ref)
        version = name if kind == "version" else self._tag_target(pipeline, name)
        raw = self._objects.read(_path(pipeline, version, _MANIFEST)) if version else None
        if version is None or raw is None:
            raise UserError(self._not_found(pipeline, ref or DEFAULT_TAG))
        tags = self._tags(pipeline, self._objects.names(f"pipelines/{pipeline}/tags/"))
        return VersionRecord(pipeline, version, json.loads(raw), tuple(tags.get(version, ())))

    def spec(self, pipeline: str, version: str) -> bytes:
        data = self._objects.read(_path(pipeline, version, _SPEC))
        if data is None:
            raise UserError(f"{pipeline}@{version} has no spec at "
                            f"{self._url(_path(pipeline, version, _SPEC))}; see mlops-bot "
                            "registry list")
        return data

    def versions(self, pipeline: str | None = None) -> list[VersionRecord]:
        names = self._objects.names(f"pipelines/{pipeline}/" if pipeline else "pipelines/")
        found: dict[str, list[str]] = {}  # pipeline -> versions with a manifest
        tag_names: dict[str, list[str]] = {}
        for name in names:
            parts = name.split("/")
            if len(parts) == 5 and parts[2] == "versions" and parts[4] == _MANIFEST:
                found.setdefault(parts[1], []).append(parts[3])
            elif len(parts) == 4 and parts[2] == "tags":
                tag_names.setdefault(parts[1], []).append(name)
        records = []
        for name, versions in sorted(found.items()):
            tags = self._tags(name, tag_names.get(name, []))
            for version in versions:
                raw = self._objects.read(_path(name, version, _MANIFEST)) or b"{}"
                records.append(VersionRecord(name, version, json.loads(raw),
                                             tuple(tags.get(version, ()))))
        records.sort(key=lambda r: str(r.manifest.get("compiled_at", "")), reverse=True)
        return records

    # -- versions and tags -----------------------------------------------------------------
    def _same_or_error(self, pipeline: str, version: str, spec: bytes) -> PublishResult:
        name = _path(pipeline, version, _SPEC)
        existing = self._objects.read(name)
        if existing is None:
            # The spec was deleted by hand under a manifest: its bytes are known from the
            # version id, which is their hash, so putting them back is safe.
            self._objects.write_if(name, spec, "application/yaml")
        elif existing != spec:
            raise UserError(
                f"registry version {pipeline}@{version} already exists with different content "
                f"({self._url(name)}): versions are immutable; someone changed the registry by "
                f"hand, delete {self._url(f'pipelines/{pipeline}/versions/{version}/')} to "
                "republish"
            )
        return PublishResult(pipeline, version, "unchanged")

    def _tag_target(self, pipeline: str, tag: str) -> str | None:
        data = self._objects.read(f"pipelines/{pipeline}/tags/{tag}")
        return data.decode().strip() if data is not None else None

    def _tags(self, pipeline: str, names: list[str]) -> dict[str, list[str]]:
        by_version: dict[str, list[str]] = {}
        for name in sorted(names):
            data = self._objects.read(name)
            if data is not None:  # deleted since the listing
                by_version.setdefault(data.decode().strip(), []).append(name.rsplit("/", 1)[1])
        return by_version

    def _not_found(self, pipeline: str, ref: str) -> str:
        if not self._objects.names(f"pipelines/{pipeline}/", limit=1):
            known = self._objects.prefixes("pipelines/")
            return (f"no pipeline {pipeline!r} in the registry at {self._url()} (it has: "
                    f"{', '.join(known) or 'nothing yet; run mlops-bot push'})")
        tags = sorted(t for ts in self._tags(
            pipeline, self._objects.names(f"pipelines/{pipeline}/tags/")).values() for t in ts)
        return (f"{pipeline} has no version or tag {ref!r} (tags: {', '.join(tags) or 'none'}); "
                "see mlops-bot registry list")


def _path(pipeline: str, version: str, leaf: str) -> str:
    return f"pipelines/{pipeline}/versions/{version}/{leaf}"
