"""What a plan knows of run parameters before anything is built: read from the source.

The pipeline function's signature in definition.py says which parameters have no default and of
what type each is; run.py and mlops.yaml say which values are given. So the plan names the
parameters a run would lack (and where to set them), and a `--param` value of the wrong type is
refused before anything is built, published or run. The compiled spec is checked again before
each run (`merge_parameters` with its types): the source cannot say everything (a type alias).
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlops_bot.config_location import state_folder
from mlops_bot.errors import UserError
from mlops_bot.repo.checks import choose_pipeline, configured_function
from mlops_bot.repo.parameter_cache import ParameterCache, parameter_cache_file
from mlops_bot.repo.parameters import checked_value, missing_sentence, run_py_parameters

if TYPE_CHECKING:
    from mlops_bot.repo.git import GitRepo
    from mlops_bot.repo.plan import Plan

__all__ = ["Declared", "declared_parameters", "parameter_notes"]

# Annotations -> the IR type kfp compiles them to.
_IR_TYPES = {"int": "NUMBER_INTEGER", "float": "NUMBER_DOUBLE", "str": "STRING",
             "bool": "BOOLEAN", "list": "LIST", "List": "LIST", "dict": "STRUCT",
             "Dict": "STRUCT"}


@dataclass(frozen=True)
class Declared:
    name: str
    type: str  # NUMBER_INTEGER, NUMBER_DOUBLE, STRING, BOOLEAN, LIST or STRUCT
    has_default: bool


def declared_parameters(source: str, path: str, function: str | None = None) -> list[Declared]:
    """The parameters of the pipeline function definition.py compiles, those whose annotation
    names an IR type (others, artifacts or aliases, are left to the compiled spec)."""
    try:
        chosen = choose_pipeline(ast.parse(source, filename=path), path, function)
    except SyntaxError:
        return []  # the plan reports it as broken
    if not isinstance(chosen, ast.FunctionDef):
        return []
    arguments = chosen.args
    positional = arguments.posonlyargs + arguments.args
    defaults: list[ast.expr | None] = [None] * (len(positional) - len(arguments.defaults))
    pairs = list(zip(positional, defaults + list(arguments.defaults), strict=True))
    pairs += list(zip(arguments.kwonlyargs, arguments.kw_defaults, strict=True))
    found = []
    for argument, default in pairs:
        ir_type = _IR_TYPES.get(_base_name(argument.annotation))
        if ir_type:
            found.append(Declared(argument.arg, ir_type, default is not None))
    return found


def parameter_notes(git: GitRepo, plan: Plan, config: Any,
                    cli_parameters: Mapping[str, Any], cache: bool = True) -> list[str]:
    """One note per planned pipeline a run could not start for (parameters without a default
    and no value); UsageError (from `checked_value`) when a `--param` value is not of its
    parameter's type. Reads every definition.py and run.py of the plan with two git processes,
    and parses only those the cache in the state folder does not know by blob id."""
    runs = {e.name: f"{e.pipeline.path}/run.py" for e in plan.pipelines}
    wanted = [e.pipeline.definition for e in plan.pipelines] + list(runs.values())
    blobs = {e.path: e.sha for e in git.tree(plan.head, wanted) if e.kind == "blob"} if (
        plan.pipelines) else {}
    known = ParameterCache(parameter_cache_file(state_folder(
        git.root, getattr(config, "state_dir", ".mlops"))) if cache else None)
    functions = {e.name: configured_function(config, e.name) for e in plan.pipelines}
    keys = {e.pipeline.definition: f"def:{blobs.get(e.pipeline.definition)}:{functions[e.name]}"
            for e in plan.pipelines} | {run: f"run:{blobs.get(run)}" for run in runs.values()}
    sources = git.read_many([s for p, s in blobs.items() if not known.has(keys[p])])
    notes = []
    for entry in plan.pipelines:
        name, definition = entry.name, entry.pipeline.definition
        if definition not in blobs:
            continue
        declared = _declared(known, keys[definition], sources.get(blobs[definition]),
                             definition, functions[name])
        for parameter in declared:
            if parameter.name in cli_parameters:
                checked_value(name, "--param", parameter.name, cli_parameters[parameter.name],
                              parameter.type)
        settings = (getattr(config, "pipelines", None) or {}).get(name)
        given = set(_run_py_given(known, keys[runs[name]], sources.get(blobs.get(runs[name], "")),
                                  runs[name]))
        for key, value in [*(getattr(settings, "parameters", None) or {}).items(),
                           *cli_parameters.items()]:  # later values override earlier ones
            if value is None:
                given.discard(key)
            else:
                given.add(key)
        missing = [p.name for p in declared if not p.has_default and p.name not in given]
        if missing:
            notes.append(missing_sentence(name, missing, [
                f"{runs[name]} (PARAMETERS)", f"mlops.yaml pipelines.{name}.parameters"])
                + " (it is published, and its run is not started)")
    known.save()
    return notes


def _declared(known: ParameterCache, key: str, source: bytes | None, path: str,
              function: str | None) -> list[Declared]:
    def compute() -> list[Any]:
        assert source is not None  # read because the cache did not know it
        return [[d.name, d.type, d.has_default] for d in declared_parameters(
            source.decode("utf-8", "replace"), path, function)]

    return [Declared(*d) for d in known.get(key, compute)]


def _run_py_given(known: ParameterCache, key: str, source: bytes | None,
                  relative: str) -> list[str]:
    """The names run.py gives a value other than None (none without a run.py)."""
    if key == "run:None":
        return []
    return known.get(key, lambda: [k for k, v in _run_py(source, relative).items()
                                   if v is not None])


def _run_py(source: bytes | None, relative: str) -> dict[str, Any]:
    try:
        return run_py_parameters(source, relative)
    except UserError:
        return {}  # said again, as that pipeline's error, when its run is prepared


def _base_name(annotation: ast.expr | None) -> str:
    """`int`, `typing.List[str]` -> `List`, `list[int]` -> `list`; '' for anything else."""
    if isinstance(annotation, ast.Subscript):
        annotation = annotation.value
    if isinstance(annotation, ast.Attribute):
        return annotation.attr
    return annotation.id if isinstance(annotation, ast.Name) else ""

