"""The pipeline registry as a directory, in the same layout as the GCS bucket.

```
pipelines/<pipeline>/versions/<version>/pipeline.yaml
pipelines/<pipeline>/versions/<version>/manifest.json
pipelines/<pipeline>/tags/<tag>            # holds a version id
```
A version directory appears whole or not at all: it is written under a temporary name and renamed
into place, and a rename onto an existing version fails, which makes versions create-only.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, StringConstraints

from mlops_bot.backends.local.files import (
    StateFileError,
    locked,
    move_aside,
    read_state,
    storage_errors,
    write_atomic,
)
from mlops_bot.backends.types import PublishResult, VersionRecord
from mlops_bot.backends.versions import DEFAULT_TAG, check_tag, parse_ref, version_of
from mlops_bot.console import progress
from mlops_bot.errors import UserError

__all__ = ["DirectoryRegistry"]

_VERSION = r"^v-[0-9a-f]{16}$"  # what version_of makes; `v-....bad` folders moved aside are not
_VERSION_NAME = re.compile(_VERSION)
_TagTarget = Annotated[str, StringConstraints(pattern=_VERSION)]


class _Manifest(BaseModel):
    """What a reader relies on in manifest.json; the writer's other keys are kept as they are."""

    model_config = ConfigDict(extra="allow")

    pipeline: str
    version: Annotated[str, StringConstraints(pattern=_VERSION)]


class DirectoryRegistry:
    def __init__(self, root: Path) -> None:
        self.root = root

    def _pipeline_dir(self, pipeline: str) -> Path:
        return self.root / "pipelines" / pipeline

    def _version_dir(self, pipeline: str, version: str) -> Path:
        return self._pipeline_dir(pipeline) / "versions" / version

    def publish(self, pipeline: str, spec: bytes, manifest: dict[str, Any]) -> PublishResult:
        version = version_of(spec)
        final = self._version_dir(pipeline, version)
        if final.exists():
            return self._same_or_error(pipeline, version, spec)
        with storage_errors(final.parent):
            final.parent.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(prefix=".incoming-", dir=final.parent))
        try:
            write_atomic(staging / "pipeline.yaml", spec)
            document = {**manifest, "pipeline": pipeline, "version": version}
            write_atomic(staging / "manifest.json", json.dumps(document, indent=2).encode())
            try:
                staging.rename(final)
            except OSError:
                if not final.is_dir():
                    raise
                return self._same_or_error(pipeline, version, spec)  # lost a race: compare
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return PublishResult(pipeline, version, "published")

    def _same_or_error(self, pipeline: str, version: str, spec: bytes) -> PublishResult:
        existing = (self._version_dir(pipeline, version) / "pipeline.yaml").read_bytes()
        if existing != spec:
            raise UserError(
                f"registry version {pipeline}@{version} already exists with different content "
                f"({self._version_dir(pipeline, version)}): versions are immutable; someone "
                "changed the registry by hand, remove that version folder to republish"
            )
        return PublishResult(pipeline, version, "unchanged")

    def tag(self, pipeline: str, tag: str, version: str) -> None:
        check_tag(tag)
        if not self._version_dir(pipeline, version).is_dir():
            raise UserError(f"cannot tag {pipeline}@{version}: no such version")
        tags = self._pipeline_dir(pipeline) / "tags"
        with locked(tags / ".lock"):
            write_atomic(tags / tag, version.encode())

    def resolve(self, pipeline: str, ref: str | None = None) -> VersionRecord:
        kind, name = parse_ref(ref)
        version = name if kind == "version" else self._tag_target(pipeline, name)
        if version is None or not self._version_dir(pipeline, version).is_dir():
            raise UserError(self._not_found(pipeline, ref or DEFAULT_TAG))
        return self._record(pipeline, version, self._tags(pipeline))

    def spec(self, pipeline: str, version: str) -> bytes:
        folder = self._version_dir(pipeline, version)
        try:
            return (folder / "pipeline.yaml").read_bytes()
        except FileNotFoundError:
            raise StateFileError(f"{folder / 'pipeline.yaml'} is missing (the version folder is "
                                 f"incomplete): move the version aside with `mv {folder} "
                                 f"{folder}.bad`; the next push of {pipeline} publishes it "
                                 "again") from None

    def versions(self, pipeline: str | None = None) -> list[VersionRecord]:
        base = self.root / "pipelines"
        names = [pipeline] if pipeline else sorted(p.name for p in base.glob("*") if p.is_dir())
        records = []
        for name in names:
            tags = self._tags(name)
            for folder in (base / name / "versions").glob("v-*"):
                if not _VERSION_NAME.match(folder.name):
                    continue
                try:
                    records.append(self._record(name, folder.name, tags))
                except StateFileError as error:  # one bad version never hides the others
                    progress(f"mlops-bot: warning: skipped {name}@{folder.name}: {error}")
        records.sort(key=lambda r: str(r.manifest.get("compiled_at", "")), reverse=True)
        return records

    def _tag_target(self, pipeline: str, tag: str) -> str | None:
        path = self._pipeline_dir(pipeline) / "tags" / tag
        fix = (f"{move_aside(path)}; the next push that moves tag {tag!r} of {pipeline} "
               "writes it again")
        target: str | None = read_state(path, _TagTarget, fix, text=True)
        return target

    def _tags(self, pipeline: str) -> dict[str, list[str]]:
        """Each version's tags; a bad tag file is skipped with a warning (resolving it says why)."""
        by_version: dict[str, list[str]] = {}
        for path in sorted((self._pipeline_dir(pipeline) / "tags").glob("[!.]*")):
            try:
                target = self._tag_target(pipeline, path.name)
            except StateFileError as error:
                progress(f"mlops-bot: warning: skipped tag {path.name} of {pipeline}: {error}")
                continue
            if target is not None:
                by_version.setdefault(target, []).append(path.name)
        return by_version

    def _record(self, pipeline: str, version: str, tags: dict[str, list[str]]) -> VersionRecord:
        folder = self._version_dir(pipeline, version)
        path = folder / "manifest.json"
        fix = (f"move the version aside with `mv {folder} {folder}.bad`; the next push of "
               f"{pipeline} publishes it again")
        manifest = read_state(path, _Manifest, fix)
        if manifest is None:
            raise StateFileError(f"{path} is missing (the version folder is incomplete): {fix}")
        if (manifest.pipeline, manifest.version) != (pipeline, version):
            raise StateFileError(f"{path} describes {manifest.pipeline}@{manifest.version}, not "
                                 f"{pipeline}@{version} (it was copied by hand): {fix}")
        return VersionRecord(pipeline, version, manifest.model_dump(),
                             tuple(tags.get(version, ())))

    def _not_found(self, pipeline: str, ref: str) -> str:
        if not self._pipeline_dir(pipeline).is_dir():
            known = sorted(p.name for p in (self.root / "pipelines").glob("*") if p.is_dir())
            return (f"no pipeline {pipeline!r} in the registry at {self.root} (it has: "
                    f"{', '.join(known) or 'nothing yet; run mlops-bot push'})")
        tags = sorted(t for ts in self._tags(pipeline).values() for t in ts)
        return (f"{pipeline} has no version or tag {ref!r} (tags: {', '.join(tags) or 'none'}); "
                "see mlops-bot registry list")

