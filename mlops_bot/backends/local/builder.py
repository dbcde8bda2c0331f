"""The local image builder: one virtualenv per image content hash.

An environment is layered on the bot's own site-packages (a `.pth` file adds them after the
environment's own), so building installs only what the pipeline adds: its package (`src/` through
pyproject.toml or setup.py) and any requirement the bot's environment does not already satisfy.
That takes seconds and needs no network when nothing new is required.

Isolation: each pipeline gets its own site-packages, ahead of the bot's, holding its package as it
was at that content hash; two pipelines' `src` packages never meet. Not isolated: the Python
interpreter, system libraries and whatever else the Dockerfile would do (its RUN steps are not
executed), and dependencies the bot's environment already has are shared, not reinstalled.
"""

from __future__ import annotations

import fcntl
import shutil
import site
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from mlops_bot.backends.types import BuildRequest, BuildResult
from mlops_bot.console import progress

__all__ = ["VenvBuilder", "environment_dir", "local_ref"]

_COMPLETE = ".mlops-bot-complete"
_TAIL_LINES = 25


def local_ref(image: str, content_hash: str) -> str:
    """The reference components run with locally: names the environment exactly."""
    return f"mlops-local/{image}:{content_hash[:24]}"


def environment_dir(envs: Path, ref: str) -> Path:
    """The environment a local reference names."""
    image, _, tag = ref.removeprefix("mlops-local/").partition(":")
    return envs / f"{image}-{tag}"


class VenvBuilder:
    """Builds images as virtualenvs under `envs` (default `.mlops/envs`)."""

    def __init__(self, envs: Path, python: str = sys.executable) -> None:
        self._envs = envs
        self._python = python

    def build(self, requests: Sequence[BuildRequest]) -> list[BuildResult]:
        return [self._build_one(request) for request in requests]

    def _build_one(self, request: BuildRequest) -> BuildResult:
        image = request.image
        ref = local_ref(image.name, image.content_hash)
        target = environment_dir(self._envs, ref)
        started = time.monotonic()
        self._envs.mkdir(parents=True, exist_ok=True)
        with open(self._envs / f".{target.name}.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # two pushes building the same image wait, not race
            if (target / _COMPLETE).is_file():
                return BuildResult(image.name, image.content_hash, "reused", ref)
            progress(f"  building {image.name} ({image.content_hash[:12]}) in {target}")
            shutil.rmtree(target, ignore_errors=True)  # a partial environment from a crash
            error = self._create(target, request.source_root / image.context)
            if error:
                error = f"installing {image.context} failed: {error}"
            seconds = time.monotonic() - started
            if error:
                shutil.rmtree(target, ignore_errors=True)
                return BuildResult(image.name, image.content_hash, "failed", None,
                                   f"{request.pipeline}: {error}", seconds)
            (target / _COMPLETE).write_text(ref + "\n")
            return BuildResult(image.name, image.content_hash, "built", ref, None, seconds)

    def _create(self, target: Path, context: Path) -> str | None:
        error = _run([self._python, "-m", "venv", "--without-pip", str(target)])
        if error:
            return error
        env_python = target / "bin" / "python"
        env_site = Path(_run_output([str(env_python), "-c",
                                     "import sysconfig; print(sysconfig.get_paths()['purelib'])"]))
        layers = [p for p in site.getsitepackages() if Path(p).is_dir()]
        (env_site / "_mlops_bot_layers.pth").write_text(
            "import site; " + "; ".join(f"site.addsitedir({p!r})" for p in layers) + "\n")
        pip = [self._python, "-m", "pip", "--python", str(env_python), "install",
               "--no-input", "--disable-pip-version-check", "--no-build-isolation", "--quiet"]
        for requirements in sorted(context.glob("requirements*.txt")):
            error = _run([*pip, "-r", str(requirements)])
            if error:
                return error
        if (context / "pyproject.toml").is_file() or (context / "setup.py").is_file():
            # setuptools writes build/ and *.egg-info next to the sources: build from a copy so
            # the user's working tree (and so the next plan) stays untouched.
            with tempfile.TemporaryDirectory(prefix="mlops-bot-build-") as scratch:
                copy = Path(scratch) / context.name
                shutil.copytree(context, copy, ignore=shutil.ignore_patterns(".git", ".mlops"))
                return _run([*pip, str(copy)])
        return None


def _run(command: list[str]) -> str | None:
    """Run a build step; on failure, the command and the tail of its output."""
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode == 0:
        return None
    output = (result.stdout + result.stderr).strip().splitlines()[-_TAIL_LINES:]
    return (f"`{' '.join(command)}` failed with exit code {result.returncode}:\n"
            + "\n".join(f"    {line}" for line in output))


def _run_output(command: list[str]) -> str:
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout.strip()
