"""Small real file systems for fault tests: a tmpfs that fills up, or one remounted read-only.

Mounting needs root (CI machines and the dev machine run the tests as root); where mount is
refused the tests that need it are skipped with the reason.
"""

from __future__ import annotations

import contextlib
import errno
import fnmatch
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlops_bot.backends.local.files import TEMP_PATTERNS


@contextlib.contextmanager
def tmpfs(folder: Path, size: str = "1m") -> Iterator[Path]:
    """A fresh tmpfs of `size` mounted on `folder` for the block."""
    folder.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def fill(folder: Path) -> None:
    """Fill the file system of `folder` to the last byte."""
    fd = os.open(folder / "filler", os.O_WRONLY | os.O_CREAT, 0o644)
    chunk = b"\0" * 65536
    try:
        while True:
            try:
                os.write(fd, chunk)
            except OSError as error:
                if error.errno != errno.ENOSPC:
                    raise
                if len(chunk) == 1:
                    return
                chunk = chunk[: len(chunk) // 2]
    finally:
        os.close(fd)


def read_only(folder: Path) -> None:
    """Remount the tmpfs at `folder` read-only (chmod does not stop root; this does)."""
    subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True)


def leftovers(folder: Path) -> list[str]:
    """Temporary files or folders a writer left under `folder` (the names writers stage under,
    as files.TEMP_PATTERNS lists them)."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")
                  if any(fnmatch.fnmatch(p.name, pattern) for pattern in TEMP_PATTERNS))
