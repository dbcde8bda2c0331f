"""Where each pipeline is compiled: a local environment made from the dependencies it declares.

The decision, the same on every builder (venv, Docker, Cloud Build): a pipeline compiles in a
local virtualenv keyed by the dependency declarations of its folder, the files its image is
built from: `requirements*.txt`, the `dependencies` of `pyproject.toml` and the
`install_requires` of `setup.py`. Why not the image itself: on gcp the image exists only in
Artifact Registry, a Docker image need not have kfp, and keying by declarations rather than by
the image's content hash lets pipelines that declare the same dependencies share one environment,
and so one compile worker (a push of 50 pipelines with the same requirements starts one process).
The pipeline's own package (`src/`) is not installed there: the worker reads it from the checkout.

A pipeline that declares nothing compiles with mlops-bot's own interpreter, in a worker process
all the same. Environments are layered over mlops-bot's packages as the venv builder's are
(backends/local/builder.py): what a pipeline declares is installed into the environment's own
site-packages, ahead of them, so a pipeline may need versions mlops-bot cannot have (GCPC 2.x
needs google-cloud-aiplatform<2, kfp < mlops-bot's) and gets them. A requirement naming a local
folder is resolved from the pipeline's folder, and installed once per declaration text.
"""

from __future__ import annotations

import ast
import hashlib
import json
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

__all__ = ["CompileEnvironment", "compile_environment", "declared_in"]

_DECLARATIONS = ("pyproject.toml", "setup.py")


@dataclass(frozen=True)
class CompileEnvironment:
    python: str  # the interpreter the worker runs with
    label: str  # for messages: where the environment is
    error: str | None = None  # why it could not be made (then python is "")


def declared_in(tree: Path, pipeline_path: str) -> str:
    """The file a pipeline declares its dependencies in, as the builder reads them."""
    folder = tree / pipeline_path
    requirements = sorted(folder.glob("requirements*.txt"))
    if requirements:
        return f"{pipeline_path}/{requirements[0].name}"
    for name in _DECLARATIONS:
        if (folder / name).is_file():
            return f"{pipeline_path}/{name}"
    return f"{pipeline_path}/requirements.txt"


def compile_environment(tree: Path, pipeline_path: str, envs: Path) -> CompileEnvironment:
    """The environment `pipeline_path` compiles in, made under `envs` when missing."""
    folder = tree / pipeline_path
    requirements = _requirements(folder)
    if not requirements:
        return CompileEnvironment(sys.executable, "mlops-bot's own interpreter (the pipeline "
                                                  "declares no dependencies)")
    from mlops_bot.backends.local.builder import _bot_layers, _layered_venv, _once, _run

    layers = _bot_layers()
    key = json.dumps({"python": sys.version, "layers": layers, "requirements": requirements,
                      "layout": 2}, sort_keys=True)
    target = envs / f"compile-{hashlib.sha256(key.encode()).hexdigest()[:24]}"
    python = target / "bin" / "python"

    def create() -> str | None:
        error = _layered_venv(sys.executable, target, layers)
        if error:
            return error
        pip = [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-input",
               "--disable-pip-version-check", "--no-build-isolation", "--quiet"]
        for name, lines in requirements:
            if name.startswith("requirements"):
                error = _run([*pip, "-r", str(folder / name)], f"pip install -r {name}",
                             cwd=folder)
            else:
                error = _run([*pip, *lines], f"pip install of {name}'s dependencies", cwd=folder)
            if error:
                return error
        return None

    _, error = _once(target, f"the compile environment of {pipeline_path}", create)
    if error:
        return CompileEnvironment("", str(target), f"its compile environment could not be "
                                  f"made from {declared_in(tree, pipeline_path)}: {error}")
    return CompileEnvironment(str(python), str(target))


def _requirements(folder: Path) -> list[tuple[str, list[str]]]:
    """(file, what it declares) for each declaration of the folder that declares something."""
    found: list[tuple[str, list[str]]] = []
    for path in sorted(folder.glob("requirements*.txt")):
        lines = [line.strip() for line in path.read_text(errors="replace").splitlines()]
        lines = [line for line in lines if line and not line.startswith("#")]
        if lines:
            found.append((path.name, lines))
    pyproject = folder / "pyproject.toml"
    if pyproject.is_file():
        try:
            project = tomllib.loads(pyproject.read_text(errors="replace")).get("project") or {}
        except tomllib.TOMLDecodeError:
            project = {}  # the build says so; compile with what the requirements give
        dependencies = [str(d) for d in project.get("dependencies") or []]
        if dependencies:
            found.append(("pyproject.toml", dependencies))
    setup = folder / "setup.py"
    if setup.is_file():
        requires = _install_requires(setup.read_text(errors="replace"))
        if requires:
            found.append(("setup.py", requires))
    return found


def _install_requires(source: str) -> list[str]:
    """The literal `install_requires=[...]` of a setup.py (read, not run)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg == "install_requires":
            try:
                value = ast.literal_eval(node.value)
            except ValueError:
                return []
            return [str(v) for v in value] if isinstance(value, list | tuple) else []
    return []
