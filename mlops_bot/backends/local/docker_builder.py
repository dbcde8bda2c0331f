"""The local backend's Docker builder: the real Dockerfiles, built by the local Docker engine.

Each image is built with the `docker` CLI from the context and Dockerfile Cloud Build receives on
the gcp backend (`build_source`: the image's folder, or the checkout root when its Dockerfile
copies from there), honouring `.dockerignore` as docker does, and tagged

- `mlops-local/<image>:ch-<content hash>`: its identity; an image with this tag is reused (looked
  up, never rebuilt), so a push that did not change an image's inputs builds nothing;
- `mlops-local/<image>:<git sha>`: lineage, for people;
- `mlops-local/<image>:id-<image id>`: the reference the compiled spec pins. kfp.local's
  DockerRunner finds an image by its tags (a local build has no repository digest) and pulls any
  it does not find, so the pin is a tag that names the image id; before a run the runner points it
  at that id again (`docker_runs.prepare_images`), so a moved tag cannot swap the image.

`local.build_args` of mlops.yaml are passed as `--build-arg`; they are part of an image's identity
(the `ch-` tag), so changing them rebuilds. The legacy builder and BuildKit both work: a failure
names the step from either's output.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import re
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from mlops_bot.backends.gcp.build_source import SourceError, build_source
from mlops_bot.backends.local.files import storage_error
from mlops_bot.backends.local.logs import tail
from mlops_bot.backends.types import BuildRequest, BuildResult
from mlops_bot.console import progress as console_progress

__all__ = ["REPOSITORY", "DockerBuilder", "engine_version", "id_ref"]

REPOSITORY = "mlops-local"
_PARALLEL = 2  # docker builds are CPU and disk bound: more than two starve a 2-core machine
_PROBE_SECONDS = 10.0
_LOOKUP_SECONDS = 60.0
_ID_AND_TAGS = "{{.Id}}{{range .RepoTags}} {{.}}{{end}}"  # `join` fails on older engines
# The step a failed build was at: the legacy builder's "Step 4/6 : RUN ..." or BuildKit's
# "#8 [3/4] RUN ...".
_STEP = re.compile(r"^(Step \d+/\d+ : .*|#\d+ \[[^\]]+\] .*)$", re.MULTILINE)


class _Failed(Exception):
    """This image failed; the message says why, for the BuildResult."""


def engine_version(docker: str = "docker") -> tuple[str | None, str]:
    """The Docker engine's version, or None and why no engine answered."""
    try:
        result = subprocess.run([docker, "version", "--format", "{{.Server.Version}}"],
                                capture_output=True, text=True, timeout=_PROBE_SECONDS)
    except FileNotFoundError:
        return None, f"no `{docker}` command on PATH"
    except subprocess.TimeoutExpired:
        return None, f"`{docker} version` did not answer within {_PROBE_SECONDS:g} s"
    version = result.stdout.strip()
    if result.returncode == 0 and version:
        return version, ""
    lines = (result.stderr or result.stdout).strip().splitlines()
    return None, lines[-1] if lines else f"`{docker} version` exited {result.returncode}"


def id_ref(image: str, image_id: str) -> str:
    """The pinned reference of image `image` with id `sha256:<hex>`."""
    return f"{REPOSITORY}/{image}:id-{image_id.removeprefix('sha256:')}"


class DockerBuilder:
    """Builds images with the local Docker engine; build logs go to `logs`."""

    def __init__(self, logs: Path, build_args: Mapping[str, str] | None = None,
                 parallel: int = _PARALLEL, docker: str = "docker",
                 progress: Callable[[str], None] = console_progress) -> None:
        self._logs = logs
        self._build_args = dict(build_args or {})
        self._parallel = max(1, parallel)
        self._docker = docker
        self._progress = progress

    def build(self, requests: Sequence[BuildRequest]) -> list[BuildResult]:
        return self.build_each(requests, lambda _: None)

    def build_each(self, requests: Sequence[BuildRequest],
                   on_built: Callable[[BuildResult], None]) -> list[BuildResult]:
        """`build`, telling `on_built` of each image as it ends (from its worker thread)."""
        unique: dict[tuple[str, str], BuildRequest] = {}
        for request in requests:  # two pipelines sharing an image build it once
            unique.setdefault((request.image.name, request.image.content_hash), request)
        if not unique:
            return []

        def one(request: BuildRequest) -> BuildResult:
            result = self._build_one(request)
            on_built(result)
            return result

        with ThreadPoolExecutor(max_workers=min(self._parallel, len(unique))) as pool:
            results = dict(zip(unique, pool.map(one, unique.values()), strict=True))
        return [results[(r.image.name, r.image.content_hash)] for r in requests]

    def _build_one(self, request: BuildRequest) -> BuildResult:
        image, started = request.image, time.monotonic()
        try:
            self._logs.mkdir(parents=True, exist_ok=True)
            with open(self._logs / f".{image.name}-{image.content_hash[:12]}.lock", "a") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)  # two pushes building one image wait, not race
                found = self._lookup(request)
                if found is not None:
                    self._say(image.name, f"reusing {found} (content hash "
                              f"{image.content_hash[:12]})")
                    return BuildResult(image.name, image.content_hash, "reused", found,
                                       seconds=time.monotonic() - started)
                ref = self._build(request)
            seconds = time.monotonic() - started
            self._say(image.name, f"built {ref} in {seconds:.0f} s")
            return BuildResult(image.name, image.content_hash, "built", ref, seconds=seconds)
        except _Failed as failure:
            error = str(failure)
        except Exception as bug:  # one image's bug must not sink the others' builds
            disk = storage_error(bug) if isinstance(bug, OSError) else None  # full, read-only
            error = str(disk) if disk else (f"unexpected {type(bug).__name__} (a bug in "
                                            f"mlops-bot): {bug}")
        return BuildResult(image.name, image.content_hash, "failed", None,
                           f"{request.pipeline}: image {image.name}: {error}",
                           time.monotonic() - started)

    def _say(self, image: str, text: str) -> None:
        self._progress(f"  {image}: {text}")

    def _tags(self, request: BuildRequest) -> tuple[str, str]:
        """The content-hash and git-SHA references of an image."""
        image, identity = request.image, request.image.content_hash
        if self._build_args:
            key = json.dumps([identity, sorted(self._build_args.items())])
            identity = hashlib.sha256(key.encode()).hexdigest()
        repository = f"{REPOSITORY}/{image.name}"
        return f"{repository}:ch-{identity[:40]}", f"{repository}:{request.git_sha}"

    def _lookup(self, request: BuildRequest) -> str | None:
        """The pinned reference of the image already built for this content hash, if any."""
        hash_ref, sha_ref = self._tags(request)
        result = self._run(["image", "inspect", "--format", _ID_AND_TAGS, hash_ref],
                           _LOOKUP_SECONDS)
        if result.returncode != 0:
            if "no such image" in result.stderr.lower():
                return None
            raise _Failed(f"could not look up {hash_ref}: `docker image inspect` said: "
                          f"{result.stderr.strip()}")
        image_id, *tags = result.stdout.split()
        ref = id_ref(request.image.name, image_id)
        for missing in {ref, sha_ref} - set(tags):
            self._tag(image_id, missing)
        return ref

    def _build(self, request: BuildRequest) -> str:
        image = request.image
        if image.dockerfile is None or not (request.source_root / image.dockerfile).is_file():
            where = image.dockerfile or f"{image.context}/Dockerfile"
            raise _Failed(f"{where} does not exist: the Docker builder (local.builder in "
                          f"mlops.yaml) builds images from a Dockerfile; add one to "
                          f"{image.context}/, or set local.builder: venv")
        try:
            source = build_source(request)
        except SourceError as error:
            raise _Failed(str(error)) from None
        hash_ref, sha_ref = self._tags(request)
        log = self._logs / f"{image.name}-{image.content_hash[:12]}.log"
        self._say(image.name, f"building {image.dockerfile} (log: {log})")
        with tempfile.TemporaryDirectory(prefix="mlops-bot-build-") as scratch:
            iidfile = Path(scratch) / "iid"
            command = [self._docker, "build", "--iidfile", str(iidfile),
                       "-t", hash_ref, "-t", sha_ref]
            for key, value in {**source.build_args, **self._build_args}.items():
                command += ["--build-arg", f"{key}={value}"]
            command += ["-f", source.dockerfile, "."]
            with open(log, "w") as out:
                code = subprocess.run(command, cwd=source.context, stdout=out,
                                      stderr=subprocess.STDOUT).returncode
            if code != 0 or not iidfile.is_file():
                raise _Failed(_failure(log, image.dockerfile, code))
            image_id = iidfile.read_text().strip()
        ref = id_ref(image.name, image_id)
        self._tag(image_id, ref)
        return ref

    def _tag(self, image_id: str, ref: str) -> None:
        result = self._run(["tag", image_id, ref], _LOOKUP_SECONDS)
        if result.returncode != 0:
            raise _Failed(f"could not tag {image_id} as {ref}: {result.stderr.strip()}")

    def _run(self, args: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
        try:
            return subprocess.run([self._docker, *args], capture_output=True, text=True,
                                  timeout=timeout)
        except subprocess.TimeoutExpired:
            raise _Failed(f"`docker {' '.join(args)}` did not answer within {timeout:g} s: is "
                          "the Docker engine overloaded or stuck?") from None


def _failure(log: Path, dockerfile: str, code: int) -> str:
    """Which step of the Dockerfile failed, and the end of the build's output."""
    text = log.read_text(errors="replace")
    steps = _STEP.findall(text)
    where = f"at `{steps[-1].strip()}`" if steps else "before its first step"
    return (f"docker build of {dockerfile} failed {where} (exit code {code}); full log: {log}\n"
            + tail(text))
