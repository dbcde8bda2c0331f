"""Run parameters: the spec's defaults, then run.py, then mlops.yaml, then the command line."""

from __future__ import annotations

import ast
import json
from collections.abc import Mapping, Sequence
from typing import Any

from mlops_bot.errors import UsageError, UserError

__all__ = ["merge_parameters", "parse_param_options", "run_py_parameters"]


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
    pipeline: str, declared: Mapping[str, Any], *layers: tuple[str, Mapping[str, Any]]
) -> dict[str, Any]:
    """Later layers win; every name must be a parameter the pipeline declares."""
    merged = {k: v for k, v in declared.items() if v is not None}
    for source, values in layers:
        unknown = sorted(set(values) - set(declared))
        if unknown:
            raise UserError(f"{source} sets {', '.join(unknown)}, which {pipeline} does not "
                            f"declare (its parameters: {', '.join(sorted(declared)) or 'none'})")
        merged.update(values)
    return merged
