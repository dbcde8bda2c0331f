"""Runs in real images: what the local runner checks before kfp.local's DockerRunner starts tasks.

With `local.builder: docker` every task runs in the image its executor names, as on Vertex:

- an image the Docker builder built is pinned as `mlops-local/<image>:id-<image id>`; the tag is
  pointed at that id again before the run, so it runs exactly the image the spec pins, and a run
  whose image was removed from the engine is refused rather than pulled;
- an image the bot does not build (a public `base_image` such as `python:3.11`) is used when the
  engine has it, else pulled; one that cannot be pulled refuses the run with a sentence naming it;
- a spec built by the venv builder names environments, not images: it is refused with the fix.

The pipeline root is bind-mounted into each container at the same path and written by the image's
own user (a Dockerfile's `USER`, often not root): the run's own artifacts folder is made writable
by any user; nothing of the user's is touched.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import yaml

from mlops_bot.backends.local.docker_builder import REPOSITORY, engine_version
from mlops_bot.backends.types import RunRequest

__all__ = ["prepare_run"]

_PINNED = re.compile(rf"^{REPOSITORY}/[^:]+:id-([0-9a-f]{{64}})$")
_LOOKUP_SECONDS = 60.0
_PULL_SECONDS = 900.0


def prepare_run(request: RunRequest, pipeline_root: Path) -> str | None:
    """Get every image of the run ready and the pipeline root writable; None, or why not."""
    version, why = engine_version()
    if version is None:
        return (f"no Docker engine answered ({why}): with local.builder docker (or auto when an "
                f"engine answered at build time) {request.pipeline} runs in its images; start "
                "the engine, or set local.builder: venv in mlops.yaml")
    for image in sorted(_images(request.spec)):
        refused = _ready(image, request)
        if refused:
            return refused
    pipeline_root.mkdir(parents=True, exist_ok=True)
    pipeline_root.chmod(0o777)  # the run's own folder: containers write it as their USER
    return None


def _images(spec: bytes) -> set[str]:
    document = next(yaml.safe_load_all(spec), None) or {}
    executors = (document.get("deploymentSpec") or {}).get("executors") or {}
    return {e["container"]["image"] for e in executors.values()
            if (e.get("container") or {}).get("image")}


def _ready(image: str, request: RunRequest) -> str | None:
    pinned = _PINNED.match(image)
    if pinned:
        image_id = f"sha256:{pinned.group(1)}"
        if _docker("image", "inspect", "--format", "{{.Id}}", image_id).returncode != 0:
            return (f"image {image} is no longer in the local Docker engine (removed or pruned): "
                    f"push the pipeline again to rebuild it")
        tagged = _docker("tag", image_id, image)
        return None if tagged.returncode == 0 else f"could not tag {image_id} as {image}: " \
            f"{tagged.stderr.strip()}"
    if image.startswith(f"{REPOSITORY}/"):
        return (f"{request.pipeline}@{request.version} was built by the venv builder (its image "
                f"is the environment {image}), but local.builder runs pipelines in Docker: push "
                "it again so the Docker builder builds its image, or set local.builder: venv in "
                "mlops.yaml")
    if _docker("image", "inspect", "--format", "{{.Id}}", _tagged(image)).returncode == 0:
        return None
    pulled = _docker("pull", _tagged(image), timeout=_PULL_SECONDS)
    if pulled.returncode == 0:
        return None
    said = (pulled.stderr or pulled.stdout).strip().splitlines()
    return (f"image {image}, which a component of {request.pipeline} runs in, is not in the local "
            f"Docker engine and could not be pulled ({said[-1] if said else 'no output'}): "
            f"`docker pull {image}` where a registry is reachable, or give the component a "
            "Dockerfile so mlops-bot builds its image")


def _tagged(image: str) -> str:
    """`python` -> `python:latest`, as kfp.local's DockerRunner looks images up."""
    last = image.rsplit("/", 1)[-1]
    return image if ":" in last or "@" in last else f"{image}:latest"


def _docker(*args: str, timeout: float = _LOOKUP_SECONDS) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess(["docker", *args], 1, "",
                                           f"`docker {args[0]}` did not finish in {timeout:g} s")
    except FileNotFoundError:
        return subprocess.CompletedProcess(["docker", *args], 1, "", "no `docker` command on PATH")
