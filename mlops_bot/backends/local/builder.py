"""The local image builder: one virtualenv per image content hash, and one per run's installs.

An environment is layered on the bot's own site-packages (a `.pth` file adds them after the
environment's own), so building installs only what the pipeline adds: its package (`src/` through
pyproject.toml or setup.py) and any requirement the bot's environment does not already satisfy.
That takes seconds and needs no network when nothing new is required.

Isolation: each pipeline gets its own site-packages, ahead of the bot's, holding its package as it
was at that content hash; two pipelines' `src` packages never meet. Not isolated: the Python
interpreter, system libraries and whatever else the Dockerfile would do (its RUN steps are not
executed), and dependencies the bot's environment already has are shared, not reinstalled.

Runs never execute in the bot's interpreter, nor pip-install into an image's environment: each
run gets a run environment (`run_environment`) keyed by what its components install
(`packages_to_install`, index URLs, the kfp package) over the image's environment, or over the bot's
packages alone for a pipeline without an image. pip installs into the first site-packages of the
interpreter it runs in, and never uninstalls from a layered one (it is outside the virtualenv's
prefix), so a component asking for another version of a package the bot has gets its own copy.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.metadata
import itertools
import json
import shlex
import shutil
import site
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from mlops_bot.backends.types import BuildRequest, BuildResult
from mlops_bot.console import progress
from mlops_bot.errors import UserError

__all__ = ["VenvBuilder", "environment_dir", "local_ref", "run_environment"]

_COMPLETE = ".mlops-bot-complete"
_TAIL_LINES = 25
# What kfp's compiler puts between a lightweight component's install script and its program.
_PROGRAM = '&& "$0" "$@"'
# The words of kfp's `pip install` lines that are not requirements.
_FLAGS = {"--quiet", "--no-warn-script-location", "--no-deps"}
_OPTIONS = {"--index-url", "--extra-index-url", "--trusted-host", "-i"}
_SEPARATORS = {"&&", "||", ";", "|"}


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

    def build_each(self, requests: Sequence[BuildRequest],
                   on_built: Callable[[BuildResult], None]) -> list[BuildResult]:
        """`build`, one image after another, telling `on_built` of each distinct one as it ends."""
        results, told = [], set()
        for request in requests:
            results.append(self._build_one(request))
            key = (request.image.name, request.image.content_hash)
            if key not in told:
                told.add(key)
                on_built(results[-1])
        return results

    def _build_one(self, request: BuildRequest) -> BuildResult:
        image = request.image
        ref = local_ref(image.name, image.content_hash)
        target = environment_dir(self._envs, ref)
        started = time.monotonic()
        context = request.source_root / image.context
        built, error = _once(target, f"{image.name} ({image.content_hash[:12]})",
                             lambda: self._create(target, context))
        if not built:
            return BuildResult(image.name, image.content_hash, "reused", ref)
        seconds = time.monotonic() - started
        if error:
            return BuildResult(image.name, image.content_hash, "failed", None,
                               f"{request.pipeline}: installing {image.context} failed: {error}",
                               seconds)
        return BuildResult(image.name, image.content_hash, "built", ref, None, seconds)

    def _create(self, target: Path, context: Path) -> str | None:
        error = _layered_venv(self._python, target, _bot_layers())
        if error:
            return error
        env_python = target / "bin" / "python"
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


def run_environment(envs: Path, spec: bytes, base: Path | None = None) -> Path:
    """The interpreter a run of the compiled `spec` executes in, made once per key.

    A virtualenv over `base` (the pipeline image's environment) or, for a pipeline without an
    image, over the bot's packages alone, keyed by every install script of the spec's components
    and the kfp release they run with. The scripts that need anything the layers lack run here,
    as kfp.local would run them, so the components' own `pip install` finds everything
    satisfied. Raises UserError naming the components when an install fails.
    """
    import yaml

    installs = _install_scripts(next(yaml.safe_load_all(spec), {}) or {})  # + platform doc
    layers = ([str(_purelib(base / "bin" / "python"))] if base else []) + _bot_layers()
    key = json.dumps({"python": sys.version, "kfp": importlib.metadata.version("kfp"),
                      "layers": layers, "installs": sorted(installs)}, sort_keys=True)
    target = envs / f"run-{hashlib.sha256(key.encode()).hexdigest()[:24]}"
    _, error = _once(target, "the run's environment",
                     lambda: _layered_venv(sys.executable, target, layers)
                     or _install(target / "bin" / "python", installs, layers))
    if error:
        raise UserError(error)
    return target / "bin" / "python"


def _install_scripts(document: dict[str, Any]) -> dict[str, list[str]]:
    """Each lightweight component's install script (what precedes its program) -> executors."""
    scripts: dict[str, list[str]] = {}
    executors = (document.get("deploymentSpec") or {}).get("executors") or {}
    for name, executor in sorted(executors.items()):
        command = (executor.get("container") or {}).get("command") or []
        if command[:2] == ["sh", "-c"] and len(command) > 2 and _PROGRAM in command[2]:
            script = command[2].rsplit(_PROGRAM, 1)[0]
            if "pip install" in script:
                scripts.setdefault(script, []).append(name.removeprefix("exec-"))
    return scripts


def _install(python: Path, installs: dict[str, list[str]], layers: list[str]) -> str | None:
    for script, components in installs.items():
        if _satisfied(script, layers):
            continue  # pip would find everything installed: spare its start-up (a second or so)
        # kfp.local replaces `python3` with the runner's interpreter the same way.
        error = _run(["sh", "-c", script.replace("python3", str(python))], "pip install")
        if error:
            return (f"component {', '.join(components)}: its packages_to_install could not be "
                    "installed in the run's environment; fix the package names or versions in "
                    f"its @dsl.component\n{error}")
    return None


def _satisfied(script: str, layers: list[str]) -> bool:
    """Whether every requirement the script's `pip install`s name is installed in `layers`; False
    for anything this does not understand (then pip runs and decides)."""
    from packaging.requirements import InvalidRequirement, Requirement

    try:
        words = shlex.split(script)
    except ValueError:  # unbalanced quotes: not kfp's template
        return False
    starts = [i + 2 for i in range(len(words) - 1) if words[i:i + 2] == ["pip", "install"]]
    for start in starts:
        skip = False
        for word in itertools.takewhile(lambda w: w not in _SEPARATORS, words[start:]):
            if skip or word in _FLAGS:
                skip = False
                continue
            if word in _OPTIONS:
                skip = True  # its value follows
                continue
            try:
                requirement = Requirement(word)
            except InvalidRequirement:
                return False  # another option, a URL or a path
            if requirement.marker is not None and not requirement.marker.evaluate():
                continue
            installed = next(iter(importlib.metadata.distributions(name=requirement.name,
                                                                   path=layers)), None)
            if (requirement.extras or installed is None or not requirement.specifier.contains(
                    installed.version, prereleases=True)):
                return False
    return bool(starts)


def _once(target: Path, what: str, create: Callable[[], str | None]) -> tuple[bool, str | None]:
    """Create the environment at `target` unless complete: (created now, error). A failed one
    is removed; two processes creating the same one wait for each other, not race."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / f".{target.name}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (target / _COMPLETE).is_file():
            return False, None
        progress(f"  building {what} in {target}")
        shutil.rmtree(target, ignore_errors=True)  # a partial environment from a crash
        error = create()
        if error:
            shutil.rmtree(target, ignore_errors=True)
            return True, error
        (target / _COMPLETE).write_text(what + "\n")
        return True, None


def _bot_layers() -> list[str]:
    return [p for p in site.getsitepackages() if Path(p).is_dir()]


def _layered_venv(python: str, target: Path, layers: list[str]) -> str | None:
    """A virtualenv whose own site-packages come first, then `layers` (read-only to pip: they
    are outside its prefix)."""
    error = _run([python, "-m", "venv", "--without-pip", str(target)])
    if error:
        return error
    # Named to sort after every .pth pip writes: site runs them in name order, and a namespace
    # package's `-nspkg.pth` (google-*) run from a layer first would put the layer's copy first.
    (_purelib(target / "bin" / "python") / "zzzz_mlops_bot_layers.pth").write_text(
        "import site; " + "; ".join(f"site.addsitedir({p!r})" for p in layers) + "\n")
    return None


def _purelib(python: Path) -> Path:
    return Path(_run_output([str(python), "-c",
                             "import sysconfig; print(sysconfig.get_paths()['purelib'])"]))


def _run(command: list[str], shown_as: str | None = None, cwd: Path | None = None) -> str | None:
    """Run a build step; on failure, the command (or what it is `shown_as`) and the tail of its
    output."""
    result = subprocess.run(command, capture_output=True, text=True, cwd=cwd)
    if result.returncode == 0:
        return None
    output = (result.stdout + result.stderr).strip().splitlines()[-_TAIL_LINES:]
    return (f"`{shown_as or ' '.join(command)}` failed with exit code {result.returncode}:\n"
            + "\n".join(f"    {line}" for line in output))


def _run_output(command: list[str]) -> str:
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout.strip()
