"""Compiled specs that depend only on the commit: what kfp embeds that varies, made fixed.

A version is named by the compiled spec's content, so the same commit must compile to the same
bytes or every push publishes a new version. kfp 2.x embeds one thing that varies between
compiles: a component with files embedded (`@dsl.notebook_component`, `@dsl.component(
embedded_artifact_path=...)`) carries them as a base64 tar.gz in its program text
(`__KFP_EMBEDDED_ARCHIVE_B64 = '...'`), and both layers record times and owners: the gzip header
the compile's time, the tar entries each file's modification time (a fresh checkout's), owner
and mode bits. The archive is rewritten with those fixed (time 0, owner root, 0644 or 0755),
the same files in the same order, so what the component extracts at run time is unchanged.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import io
import re
import tarfile
from typing import Any

__all__ = ["normalise_archive", "normalise_embedded_archives"]

_EMBEDDED = re.compile(r"(__KFP_EMBEDDED_ARCHIVE_B64 = ')([A-Za-z0-9+/=]+)(')")


def normalise_embedded_archives(document: dict[str, Any]) -> None:
    """Fix the embedded archives of every executor of a pipeline spec, in place."""
    executors = (document.get("deploymentSpec") or {}).get("executors") or {}
    for executor in executors.values():
        container = executor.get("container") or {}
        for key in ("command", "args"):
            values = container.get(key)
            if isinstance(values, list):
                container[key] = [_EMBEDDED.sub(_normalised, v) if isinstance(v, str) else v
                                  for v in values]


def _normalised(match: re.Match[str]) -> str:
    try:
        archive = base64.b64decode(match.group(2), validate=True)
        fixed = base64.b64encode(normalise_archive(archive)).decode("ascii")
    except (binascii.Error, OSError, EOFError, tarfile.TarError):
        return match.group(0)  # not an archive kfp wrote: left as it is
    return match.group(1) + fixed + match.group(3)


def normalise_archive(archive: bytes) -> bytes:
    """A tar.gz with the same entries and contents, and no time, owner or umask in it."""
    out = io.BytesIO()
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(archive)), mode="r:") as source, \
            tarfile.open(fileobj=out, mode="w:", format=tarfile.PAX_FORMAT) as target:
        for member in source.getmembers():
            content = source.extractfile(member) if member.isfile() else None
            member.mtime, member.uid, member.gid, member.uname, member.gname = 0, 0, 0, "", ""
            member.mode = 0o755 if member.isdir() or member.mode & 0o111 else 0o644
            member.pax_headers = {}
            target.addfile(member, content)
    return gzip.compress(out.getvalue(), compresslevel=9, mtime=0)
