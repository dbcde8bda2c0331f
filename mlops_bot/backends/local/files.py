"""File primitives the local promotion backends share: an exclusive lock, atomic JSON writes."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["create_json", "locked", "read_json", "replace_json"]


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on `path` (created if missing); the kernel drops it if we die."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _staged(path: Path, document: Any) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}-", suffix=".tmp", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(document, handle, indent=2)
        handle.write("\n")
    return tmp


def replace_json(path: Path, document: Any) -> None:
    """Write `document` to `path` so a reader sees the old file or the new one, never half."""
    tmp = _staged(path, document)
    try:
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def create_json(path: Path, document: Any) -> bool:
    """Create `path` holding `document` only if no file has that name; False when one has."""
    tmp = _staged(path, document)
    try:
        os.link(tmp, path)  # link() fails on an existing name: the create-only precondition
    except FileExistsError:
        return False
    finally:
        os.unlink(tmp)
    return True


def read_json(path: Path) -> Any:
    """The JSON document at `path`, or None when there is no such file."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
