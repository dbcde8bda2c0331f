"""In-process KFP compilation with import isolation and pinned images.

Every pipeline is compiled by the real kfp compiler in this process (importing kfp once is most
of the cost of compiling). Each pipeline's folder goes first on `sys.path` while its
`definition.py` loads, and every module loaded from the repository is dropped afterwards, so two
pipelines may both have a `src` package or a component called `train` without seeing each other's.
Loading them writes no bytecode: the checkout is the user's working tree, and `__pycache__` there
would show up as untracked files (and be committed by a careless `git add -A`).

Components that run in an image the bot builds name it by its bare name (`base_image="<pipeline>"`,
any registry prefix, tag or digest); after compiling, those references are replaced with the
pinned references of the images actually built.
"""

from __future__ import annotations

import ast
import contextlib
import importlib
import importlib.util
import sys
import tempfile
import traceback
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlops_bot.compile_normalise import normalise_embedded_archives
from mlops_bot.repo.checks import check_definition, choose_pipeline, parser_of
from mlops_bot.repo.layout import Problem
from mlops_bot.repo.parameters import document_inputs

__all__ = ["CompileError", "CompiledPipeline", "compile_pipeline", "compiled_from",
           "function_to_compile", "image_repository"]


class CompileError(Exception):
    """A pipeline that did not compile; `problem` has the file and line."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(str(problem))
        self.problem = problem


@dataclass(frozen=True)
class CompiledPipeline:
    pipeline: str
    spec: bytes  # the compiled IR as YAML, images pinned
    parameters: dict[str, Any]  # input parameters and their defaults, from the spec
    images: dict[str, str]  # image name -> the pinned reference put into the spec
    unpinned: tuple[str, ...]  # images the spec names that the bot did not build
    parameter_types: dict[str, str] = field(default_factory=dict)  # name -> NUMBER_INTEGER...
    required: tuple[str, ...] = ()  # parameters without a default, that a run must be given
    kfp_version: str = ""  # of the environment that compiled it (compile_pool.py); "" here


def image_repository(reference: str) -> str:
    """`eu.gcr.io/p/wine_quality:tag@sha256:..` -> `wine_quality`."""
    name = reference.split("@", 1)[0].rsplit("/", 1)[-1]
    return name.split(":", 1)[0]


def compile_pipeline(
    repo_root: Path, pipeline_path: str, pins: Mapping[str, str], function: str | None = None,
    entry: str | None = None,
) -> CompiledPipeline:
    """Compile `<repo_root>/<pipeline_path>/definition.py` (or the `entry` file, repository
    path, of an `entries:` pipeline); `pins` maps image names to refs; `function` is the
    pipeline function to compile (default: the file's outermost pipeline)."""
    folder = repo_root / pipeline_path
    relative = entry or f"{pipeline_path}/definition.py"
    definition = repo_root / relative
    function_name = _pipeline_function_name(definition, relative, function)
    with _isolated_imports([folder, repo_root], repo_root):
        module = _load(definition, relative, repo_root)
        pipeline_func = getattr(module, function_name)
        raw = _compile(pipeline_func, relative, repo_root)
    return compiled_from(folder.name, raw, pins)


def compiled_from(pipeline: str, raw: str, pins: Mapping[str, str],
                  kfp_version: str = "") -> CompiledPipeline:
    """The published form of kfp's output `raw` (compiled here or by a compile worker,
    compile_pool.py): normalised, images pinned, parameters read."""
    import yaml

    # The first document is the pipeline spec; a second one is platform config (workspaces,
    # Kubernetes settings), kept as it is.
    documents = [d for d in yaml.safe_load_all(raw) if d is not None]
    normalise_embedded_archives(documents[0])
    used, unpinned = _pin_images(documents[0], pins)
    spec = yaml.safe_dump_all(documents, sort_keys=True).encode()
    types, required = document_inputs(documents[0])
    return CompiledPipeline(
        pipeline=pipeline, spec=spec, parameters=_parameters(documents[0]),
        images=used, unpinned=tuple(sorted(unpinned)),
        parameter_types=types, required=required,
        kfp_version=kfp_version,
    )


def function_to_compile(repo_root: Path, definition: str, function: str | None) -> str:
    """The pipeline function of the `definition` file (repository path) to compile, read (not
    run); CompileError when the file does not say which."""
    return _pipeline_function_name(repo_root / definition, definition, function)


def _pipeline_function_name(definition: Path, relative: str, function: str | None) -> str:
    try:
        source = definition.read_bytes()
    except OSError as error:
        raise CompileError(Problem(relative, f"cannot read: {error.strerror}")) from None
    problems = check_definition(parser_of(source, relative), relative, function)
    if problems:
        raise CompileError(problems[0])
    chosen = choose_pipeline(ast.parse(source), relative, function)
    assert not isinstance(chosen, Problem)  # check_definition said so
    return chosen.name


@contextlib.contextmanager
def _isolated_imports(paths: list[Path], repo_root: Path) -> Iterator[None]:
    # kfp is imported before the snapshot, so it is never dropped with the user's modules.
    import kfp.compiler
    import kfp.dsl  # noqa: F401

    saved_path = list(sys.path)
    saved_modules = set(sys.modules)
    saved_bytecode = sys.dont_write_bytecode
    sys.path[:0] = [str(p) for p in paths]
    sys.dont_write_bytecode = True
    importlib.invalidate_caches()
    try:
        yield
    finally:
        root = str(repo_root.resolve())
        # Decide before deleting anything: a namespace package's path is recomputed from its
        # parent, which must still be there.
        drop = [name for name in set(sys.modules) - saved_modules
                if _loaded_from(sys.modules[name], root)]
        sys.path[:] = saved_path
        sys.dont_write_bytecode = saved_bytecode
        for name in drop:
            del sys.modules[name]


def _loaded_from(module: Any, root: str) -> bool:
    locations = [getattr(module, "__file__", None) or ""]
    locations += [str(p) for p in getattr(module, "__path__", [])]
    return any(loc and str(Path(loc).resolve()).startswith(root) for loc in locations)


def _load(definition: Path, relative: str, repo_root: Path) -> Any:
    spec = importlib.util.spec_from_file_location(f"_mlops_bot_definition_{id(definition)}",
                                                  definition)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as error:
        raise CompileError(_problem_from(error, relative, repo_root)) from error
    return module


def _compile(pipeline_func: Any, relative: str, repo_root: Path) -> str:
    from kfp import compiler

    with tempfile.TemporaryDirectory(prefix="mlops-bot-compile-") as tmp:
        target = Path(tmp) / "pipeline.yaml"
        try:
            compiler.Compiler().compile(pipeline_func=pipeline_func, package_path=str(target))
        except Exception as error:
            raise CompileError(_problem_from(error, relative, repo_root)) from error
        return target.read_text()


def _problem_from(error: Exception, relative: str, repo_root: Path) -> Problem:
    """Point at the innermost line of the user's code that the error passed through."""
    if isinstance(error, SyntaxError) and error.filename:
        return Problem(_relative(error.filename, repo_root), f"syntax error: {error.msg}",
                       error.lineno)
    root = str(repo_root.resolve())
    frames = [f for f in traceback.extract_tb(error.__traceback__)
              if str(Path(f.filename).resolve()).startswith(root)]
    message = f"{type(error).__name__}: {error}"
    if frames:
        return Problem(_relative(frames[-1].filename, repo_root), message, frames[-1].lineno)
    return Problem(relative, message)


def _relative(filename: str, repo_root: Path) -> str:
    try:
        return str(Path(filename).resolve().relative_to(repo_root.resolve()))
    except ValueError:
        return filename


def _pin_images(
    document: dict[str, Any], pins: Mapping[str, str]
) -> tuple[dict[str, str], set[str]]:
    used: dict[str, str] = {}
    unpinned: set[str] = set()
    executors = (document.get("deploymentSpec") or {}).get("executors") or {}
    for executor in executors.values():
        container = executor.get("container")
        if not container or "image" not in container:
            continue
        name = image_repository(container["image"])
        if name in pins:
            container["image"] = used[name] = pins[name]
        else:
            unpinned.add(container["image"])
    return used, unpinned


def _parameters(document: dict[str, Any]) -> dict[str, Any]:
    definitions = ((document.get("root") or {}).get("inputDefinitions") or {}).get(
        "parameters") or {}
    return {name: _typed(spec.get("defaultValue"), spec.get("parameterType"))
            for name, spec in sorted(definitions.items())}


def _typed(value: Any, parameter_type: str | None) -> Any:
    # The IR stores every number as a double; an integer parameter's default is 1.0 there.
    if parameter_type == "NUMBER_INTEGER" and isinstance(value, float) and value.is_integer():
        return int(value)
    return value
