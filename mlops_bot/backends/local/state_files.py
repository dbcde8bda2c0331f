"""What the local state folder holds, in bytes, and the local Docker images: what `gc` measures
and removes, and what `push` compares with `local.state_size_warning`.

Sizes are disk usage (allocated blocks, each inode once), so hard links and sparse files are not
counted twice or at their apparent size.
"""

from __future__ import annotations

import contextlib
import fcntl
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = ["LocalImage", "disk_usage", "local_images", "remove", "remove_image", "unlocked"]

_DOCKER_SECONDS = 60.0


def disk_usage(path: Path) -> int:
    """Bytes `path` takes on disk, a folder with everything under it (symlinks not followed)."""
    seen: set[tuple[int, int]] = set()
    total = 0
    stack = [path]
    while stack:
        current = stack.pop()
        try:
            info = current.lstat()
        except OSError:
            continue  # removed meanwhile, or unreadable: nothing to free there
        if (info.st_dev, info.st_ino) in seen:
            continue
        seen.add((info.st_dev, info.st_ino))
        total += info.st_blocks * 512
        if current.is_dir() and not current.is_symlink():
            with contextlib.suppress(OSError):
                stack.extend(current.iterdir())
    return total


def remove(path: Path) -> None:
    """Remove a file or a folder with everything under it; gone already is fine."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


@contextlib.contextmanager
def unlocked(lock: Path) -> Iterator[bool]:
    """Hold `lock` (an flock file its users hold while they use what it guards) for the block if
    nobody holds it: True then; False when it is held (the guarded thing is in use)."""
    if not lock.exists():
        yield True
        return
    with open(lock, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@dataclass(frozen=True)
class LocalImage:
    """A Docker image with `mlops-local/...` tags (the local Docker builder's)."""

    id: str  # sha256:<hex>
    tags: tuple[str, ...]
    size: int
    created: str  # ISO 8601, as the engine reports it


def local_images(repository: str = "mlops-local", docker: str = "docker") -> list[LocalImage]:
    """The engine's images tagged under `repository/`; [] when no engine answers."""
    from mlops_bot.backends.local.docker_builder import engine_version

    if engine_version(docker)[0] is None:
        return []
    listed = _docker(docker, "images", "--no-trunc", "--format",
                     "{{.Repository}}:{{.Tag}} {{.ID}}")
    tags: dict[str, list[str]] = {}
    for line in listed.splitlines():
        ref, _, image_id = line.strip().rpartition(" ")
        if ref.startswith(f"{repository}/"):
            tags.setdefault(image_id, []).append(ref)
    images = []
    for image_id, refs in sorted(tags.items()):
        size, _, created = _docker(docker, "image", "inspect", "--format",
                                   "{{.Size}} {{.Created}}", image_id).strip().partition(" ")
        images.append(LocalImage(image_id, tuple(sorted(refs)), int(size or 0), created))
    return images


def remove_image(image: LocalImage, docker: str = "docker") -> str | None:
    """Untag (and so delete) an image; None, or why the engine refused (a container uses it)."""
    result = subprocess.run([docker, "rmi", *image.tags], capture_output=True, text=True,
                            timeout=_DOCKER_SECONDS)
    if result.returncode == 0:
        return None
    lines = (result.stderr or result.stdout).strip().splitlines()
    return lines[-1] if lines else f"`docker rmi` exited {result.returncode}"


def _docker(docker: str, *args: str) -> str:
    result = subprocess.run([docker, *args], capture_output=True, text=True,
                            timeout=_DOCKER_SECONDS)
    return result.stdout if result.returncode == 0 else ""
