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

from mlops_bot.errors import UserError
from mlops_bot.repo.checks import choose_pipeline, configured_function
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
                    cli_parameters: Mapping[str, Any]) -> list[str]:
    """One note per planned pipeline a run could not start for (parameters without a default
    and no value); UsageError (from `checked_value`) when a `--param` value is not of its
    parameter's type. Reads every definition.py and run.py of the plan with two git processes."""
    runs = {e.name: f"{e.pipeline.path}/run.py" for e in plan.pipelines}
    wanted = [e.pipeline.definition for e in plan.pipelines] + list(runs.values())
    blobs = {e.path: e.sha for e in git.tree(plan.head, wanted) if e.kind == "blob"}
    sources = git.read_many(blobs.values())
    notes = []
    for entry in plan.pipelines:
        name, definition = entry.name, entry.pipeline.definition
        if definition not in blobs:
            continue
        declared = declared_parameters(sources[blobs[definition]].decode("utf-8", "replace"),
                                       definition, configured_function(config, name))
        for parameter in declared:
            if parameter.name in cli_parameters:
                checked_value(name, "--param", parameter.name, cli_parameters[parameter.name],
                              parameter.type)
        settings = (getattr(config, "pipelines", None) or {}).get(name)
        given = dict(_run_py(sources.get(blobs.get(runs[name], "")), runs[name]))
        given.update(getattr(settings, "parameters", None) or {})
        given.update(cli_parameters)
        missing = [p.name for p in declared if not p.has_default and given.get(p.name) is None]
        if missing:
            notes.append(missing_sentence(name, missing, [
                f"{runs[name]} (PARAMETERS)", f"mlops.yaml pipelines.{name}.parameters"])
                + " (it is published, and its run is not started)")
    return notes


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

