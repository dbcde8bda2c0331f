"""File primitives the local backends share: an exclusive lock, atomic writes, checked reads.

Every state file the local backend reads goes through `read_state` with a small schema (a
dataclass or pydantic model, validated by pydantic): a truncated, garbage or wrong-shaped file is
one `StateFileError` naming the file, what is wrong and the fix, never a traceback. Every write
goes through `write_atomic` (a temporary file in the same folder, fsync, rename): a reader sees
the old file or the new one, and a write that fails (a full or read-only disk) leaves no
temporary file behind and is one `StorageError` naming the path.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar

from mlops_bot.errors import UserError

__all__ = ["TEMP_PATTERNS", "StateFileError", "StorageError", "create_json", "locked",
           "move_aside", "read_state", "replace_json", "storage_error", "storage_errors",
           "write_atomic"]

T = TypeVar("T")

# Names of the temporary files and folders writers stage under (for `gc` and the tests):
# write_atomic's, the registry's staged version folders, the lock store's staged locks.
TEMP_PATTERNS = (".*.tmp", ".incoming-*", ".lock-*")

# What a full, read-only or forbidden disk raises: the user's to fix, not a bug.
_DISK_ERRNOS = {errno.ENOSPC: "no space left on the device",
                errno.EDQUOT: "the disk quota is exceeded",
                errno.EROFS: "the file system is read-only",
                errno.EACCES: "permission denied",
                errno.EPERM: "permission denied"}


class StateFileError(UserError):
    """A state file is unreadable or malformed; the message names it, the problem and the fix."""

    code = "invalid_state"


class StorageError(UserError):
    """A state file could not be written (full or read-only disk); nothing was half-written."""

    code = "storage"


def move_aside(path: Path) -> str:
    """The manual fix for a bad state file, as the start of a sentence."""
    return f"move it aside with `mv {path} {path}.bad`"


def storage_error(error: OSError, path: Path | str | None = None) -> StorageError | None:
    """`error` as one sentence when a full, read-only or forbidden disk caused it, else None.

    With `path` (the file an atomic write was for) the sentence names it, not the temporary
    file, and says nothing was half-written; without it, the file the error names.
    """
    why = _DISK_ERRNOS.get(error.errno or 0)
    if why is None:
        return None
    where = path or error.filename or "the state folder"
    kept = "; nothing was half-written" if path else ""
    return StorageError(f"cannot write {where}: {why}{kept}: free some space or make the folder "
                        "writable (or point MLOPS_BOT_STATE_DIR / state_dir of mlops.yaml "
                        "elsewhere) and run the command again")


@contextlib.contextmanager
def storage_errors(path: Path) -> Iterator[None]:
    """Turn a full or read-only disk under `path` into a StorageError naming the path."""
    try:
        yield
    except OSError as error:
        translated = storage_error(error, path)
        if translated is None:
            raise
        raise translated from None


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on `path` (created if missing); the kernel drops it if we die."""
    with storage_errors(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(path, "a")  # noqa: SIM115 - closed below, after the body ran
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _staged(path: Path, data: bytes) -> str:
    """`data` in a fsynced temporary file beside `path`; removed again if anything fails."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}-", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return tmp


def _encoded(document: Any) -> bytes:
    return (json.dumps(document, indent=2) + "\n").encode()


def write_atomic(path: Path, data: bytes, replace: bool = True) -> bool:
    """Write `data` to `path` so readers see the old file or the new one, never half of one.

    With `replace=False` the write is create-only: False (and nothing written) when a file of
    that name exists. A full or read-only disk raises StorageError; no temporary file is left.
    """
    with storage_errors(path):
        tmp = _staged(path, data)
        try:
            if replace:
                os.replace(tmp, path)
            else:
                os.link(tmp, path)  # link() fails on an existing name: the create-only check
        except FileExistsError:
            return False
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        _sync_folder(path.parent)
    return True


def _sync_folder(folder: Path) -> None:
    """Make the rename durable: a crash after it cannot bring the old name back."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def replace_json(path: Path, document: Any) -> None:
    """Write `document` to `path` atomically (see write_atomic)."""
    write_atomic(path, _encoded(document))


def create_json(path: Path, document: Any) -> bool:
    """Create `path` holding `document` only if no file has that name; False when one has."""
    return write_atomic(path, _encoded(document), replace=False)


def read_state(path: Path, schema: type[T], fix: str, text: bool = False) -> T | None:
    """The state file at `path` validated against `schema`, or None when there is no such file.

    `schema` is a dataclass, a pydantic model or an annotated type; keys it does not know are
    ignored (a newer writer may add some). `text=True` validates the file's stripped text instead
    of JSON. A file that is unreadable, empty, truncated, garbage or of the wrong shape raises
    StateFileError: "<path> <what is wrong>: <fix>".
    """
    from pydantic import ValidationError

    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as error:
        raise StateFileError(f"cannot read {path} ({error.strerror}): {fix}") from None
    try:
        if not raw.strip():
            raise StateFileError(f"{path} is empty (a write was cut short): {fix}")
        adapter = _adapter(schema)
        if text:
            found: T = adapter.validate_python(raw.decode("utf-8").strip())
        else:
            found = adapter.validate_json(raw)
        return found
    except UnicodeDecodeError:
        raise StateFileError(f"{path} is not text (garbage bytes): {fix}") from None
    except ValidationError as error:
        raise StateFileError(f"{path} {_problem(error)}: {fix}") from None


_ADAPTERS: dict[Any, Any] = {}  # a TypeAdapter per schema: building one costs milliseconds


def _adapter(schema: Any) -> Any:
    from pydantic import TypeAdapter

    if schema not in _ADAPTERS:
        _ADAPTERS[schema] = TypeAdapter(schema)
    return _ADAPTERS[schema]


def _problem(error: Any) -> str:
    """The first problem pydantic found, in words."""
    first = error.errors(include_url=False)[0]
    if first["type"].startswith("json_"):
        return "is not valid JSON (truncated or garbage)"
    where = ".".join(str(part) for part in first["loc"])
    value = first.get("input")
    shown = repr(value) if isinstance(value, str | int | float | bool) or value is None else ""
    shown = shown if len(shown) <= 40 else shown[:37] + "..."
    what = f"{first['msg'].lower()}" + (f" (found {shown})" if shown and where else "")
    return f"is malformed: {where + ': ' if where else ''}{what}"
