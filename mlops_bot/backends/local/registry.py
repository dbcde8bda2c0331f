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

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from mlops_bot.backends.local.files import locked
from mlops_bot.backends.types import PublishResult, VersionRecord
from mlops_bot.backends.versions import DEFAULT_TAG, check_tag, parse_ref, version_of
from mlops_bot.errors import UserError

__all__ = ["DirectoryRegistry"]


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
        final.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".incoming-", dir=final.parent))
        try:
            _write(staging / "pipeline.yaml", spec)
            document = {**manifest, "pipeline": pipeline, "version": version}
            _write(staging / "manifest.json", json.dumps(document, indent=2).encode())
            try:
                staging.rename(final)
            except OSError:
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
        tags.mkdir(parents=True, exist_ok=True)
        with locked(tags / ".lock"):
            _write(tags / tag, version.encode(), replace=True)

    def resolve(self, pipeline: str, ref: str | None = None) -> VersionRecord:
        kind, name = parse_ref(ref)
        version = name if kind == "version" else self._tag_target(pipeline, name)
        if version is None or not self._version_dir(pipeline, version).is_dir():
            raise UserError(self._not_found(pipeline, ref or DEFAULT_TAG))
        return self._record(pipeline, version, self._tags(pipeline))

    def spec(self, pipeline: str, version: str) -> bytes:
        return (self._version_dir(pipeline, version) / "pipeline.yaml").read_bytes()

    def versions(self, pipeline: str | None = None) -> list[VersionRecord]:
        base = self.root / "pipelines"
        names = [pipeline] if pipeline else sorted(p.name for p in base.glob("*") if p.is_dir())
        records = []
        for name in names:
            tags = self._tags(name)
            for folder in (base / name / "versions").glob("v-*"):
                records.append(self._record(name, folder.name, tags))
        records.sort(key=lambda r: str(r.manifest.get("compiled_at", "")), reverse=True)
        return records

    def _tag_target(self, pipeline: str, tag: str) -> str | None:
        path = self._pipeline_dir(pipeline) / "tags" / tag
        return path.read_text().strip() if path.is_file() else None

    def _tags(self, pipeline: str) -> dict[str, list[str]]:
        by_version: dict[str, list[str]] = {}
        for path in sorted((self._pipeline_dir(pipeline) / "tags").glob("[!.]*")):
            by_version.setdefault(path.read_text().strip(), []).append(path.name)
        return by_version

    def _record(self, pipeline: str, version: str, tags: dict[str, list[str]]) -> VersionRecord:
        manifest = json.loads((self._version_dir(pipeline, version) / "manifest.json").read_text())
        return VersionRecord(pipeline, version, manifest, tuple(tags.get(version, ())))

    def _not_found(self, pipeline: str, ref: str) -> str:
        if not self._pipeline_dir(pipeline).is_dir():
            known = sorted(p.name for p in (self.root / "pipelines").glob("*") if p.is_dir())
            return (f"no pipeline {pipeline!r} in the registry at {self.root} (it has: "
                    f"{', '.join(known) or 'nothing yet; run mlops-bot push'})")
        tags = sorted(t for ts in self._tags(pipeline).values() for t in ts)
        return (f"{pipeline} has no version or tag {ref!r} (tags: {', '.join(tags) or 'none'}); "
                "see mlops-bot registry list")


def _write(path: Path, data: bytes, replace: bool = False) -> None:
    """Write through a temporary file so readers never see a partial file."""
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if replace:
            os.replace(tmp, path)
        else:
            os.rename(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
