"""The Docker engine the container tests use: `scripts/docker.sh` provides it and the base images.

Where no engine answers, a test that needs one is skipped on a developer's machine and fails in CI
(`CI` set): tests that build and run images are never silently skipped there.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess

import pytest

__all__ = ["docker", "docker_available", "require_docker"]


@functools.cache
def docker_available() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=30).returncode == 0
    except subprocess.TimeoutExpired:
        return False


def require_docker() -> None:
    """Skip (or, in CI, fail) the calling test when no Docker engine answers."""
    if docker_available():
        return
    message = "no Docker engine answers: run `bash scripts/docker.sh` (installs and starts one)"
    if os.environ.get("CI"):
        pytest.fail(message + "; CI must run the container tests", pytrace=False)
    pytest.skip(message)


def docker(*args: str, timeout: float = 900, check: bool = True,
           input: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run the docker CLI; on failure (with `check`) the assertion shows the command's output."""
    result = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout,
                            input=input)
    if check and result.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} exited {result.returncode}:\n"
                             f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}")
    return result
