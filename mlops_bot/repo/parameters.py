"""Run parameters: the spec's defaults, then run.py, then mlops.yaml, then the command line."""

from __future__ import annotations

import ast
import json
from collections.abc import Mapping, Sequence
from typing import Any

from mlops_bot.errors import UsageError, UserError

__all__ = ["checked_value", "document_inputs", "merge_parameters", "missing_sentence",
           "parse_param_options", "run_py_parameters", "spec_inputs"]


def run_py_parameters(source: bytes | None, relative: str) -> dict[str, Any]:
    """`PARAMETERS = {...}` from run.py's source, read as a literal: run.py is never executed."""
    if source is None:
        return {}
    try:
        tree = ast.parse(source, filename=relative)
    except SyntaxError as error:
        raise UserError(f"{relative}:{error.lineno}: syntax error: {error.msg}") from None
    for node in tree.body:
        if (isinstance(node, ast.Assign) and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name) and node.targets[0].id == "PARAMETERS"):
            try:
                value = ast.literal_eval(node.value)
            except ValueError:
                raise UserError(
                    f"{relative}:{node.lineno}: PARAMETERS must be a literal dict (numbers, "
                    "strings, booleans, lists, dicts), not computed") from None
            if not isinstance(value, dict):
                raise UserError(f"{relative}:{node.lineno}: PARAMETERS must be a dict")
            return value
    return {}


def parse_param_options(options: Sequence[str]) -> dict[str, Any]:
    """`--param k=v` options; values are read as JSON when they parse (3, 0.5, true, [1])."""
    parsed: dict[str, Any] = {}
    for option in options:
        key, sep, raw = option.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--param {option!r} must look like name=value")
        try:
            parsed[key.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            parsed[key.strip()] = raw
    return parsed


def merge_parameters(
    pipeline: str, declared: Mapping[str, Any], *layers: tuple[str, Mapping[str, Any]],
    types: Mapping[str, str] | None = None, required: Sequence[str] = (),
) -> dict[str, Any]:
    """Later layers win; every name must be a parameter the pipeline declares, each value of
    its type in the spec (`types`: NUMBER_INTEGER...), and every `required` one given."""
    merged = {k: v for k, v in declared.items() if v is not None}
    for source, values in layers:
        unknown = sorted(set(values) - set(declared))
        if unknown:
            raise UserError(f"{source} sets {', '.join(unknown)}, which {pipeline} does not "
                            f"declare (its parameters: {', '.join(sorted(declared)) or 'none'})")
        merged.update({name: checked_value(pipeline, source, name, value, (types or {}).get(name))
                       for name, value in values.items()})
    missing = [name for name in required if merged.get(name) is None]
    if missing:
        raise UserError(missing_sentence(pipeline, missing, [source for source, _ in layers]))
    return merged


def spec_inputs(spec: bytes) -> tuple[dict[str, str], tuple[str, ...]]:
    """A compiled spec's parameter types (name -> NUMBER_INTEGER...) and the parameters a run
    must be given (no default, not optional); the first YAML document is the pipeline's."""
    import yaml

    return document_inputs(next(yaml.safe_load_all(spec), {}) or {})


def document_inputs(document: Mapping[str, Any]) -> tuple[dict[str, str], tuple[str, ...]]:
    """`spec_inputs` of the pipeline spec's document, parsed."""
    inputs = ((document.get("root") or {}).get("inputDefinitions") or {}).get("parameters") or {}
    return ({name: p.get("parameterType", "") for name, p in inputs.items()},
            tuple(name for name, p in inputs.items()
                  if "defaultValue" not in p and not p.get("isOptional")))


# What each IR parameter type accepts, and how a sentence names it.
_TYPES: dict[str, tuple[tuple[type, ...], str]] = {
    "NUMBER_INTEGER": ((int,), "a whole number"), "NUMBER_DOUBLE": ((int, float), "a number"),
    "STRING": ((str,), "text"), "BOOLEAN": ((bool,), "true or false"),
    "LIST": ((list,), "a list"), "STRUCT": ((dict,), "a mapping"),
}


def checked_value(pipeline: str, source: str, name: str, value: Any,
                  expected: str | None) -> Any:
    """`value` as the parameter's type takes it; UsageError (for --param) or UserError when
    it is not of that type. A `--param` value read as JSON goes back to its text for a text
    parameter (`--param tag=2024` is the text "2024")."""
    if expected not in _TYPES or value is None:
        return value
    accepted, words = _TYPES[expected]
    if source == "--param" and expected == "STRING" and not isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, accepted) and not (isinstance(value, bool) and bool not in accepted):
        return value
    error = UsageError if source == "--param" else UserError
    shown = f"--param {name}={value}" if source == "--param" else f"{source} sets {name}={value!r}"
    raise error(f"{shown}: {pipeline}'s parameter {name} is {expected} ({words}), not "
                f"{value!r}")


def missing_sentence(pipeline: str, names: Sequence[str], sources: Sequence[str]) -> str:
    """Which parameters a run of `pipeline` lacks, and where each can be set."""
    listed = ", ".join(names)
    where = ", ".join(s for s in sources if s != "--param")
    return (f"{pipeline} cannot run: parameter{'s' if len(names) > 1 else ''} {listed} "
            f"{'have' if len(names) > 1 else 'has'} no default and no value: set "
            f"{'them' if len(names) > 1 else 'it'} in {where} or with --param "
            f"{names[0]}=VALUE")
