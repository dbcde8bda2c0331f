"""Errors of `mlops.yaml` in words: each pydantic error becomes the key path, what is wrong and
what is allowed (the valid keys, with a did-you-mean, or the pattern's rule in words)."""

from __future__ import annotations

import difflib
import types
import typing
from typing import Any

from pydantic import BaseModel
from pydantic_core import ErrorDetails

__all__ = ["ALLOWED", "choices", "describe", "kind_of", "rule"]

ALLOWED: dict[str, str] = {}  # pattern -> what it allows, in words, for error messages


def rule(pattern: str, allowed: str) -> str:
    """`pattern`, remembered with `allowed` so a value that does not match is told the rule."""
    ALLOWED[pattern] = allowed
    return pattern


def choices(value: str, allowed: list[str]) -> str:
    if not allowed:
        return "none are defined"
    close = difflib.get_close_matches(value, allowed, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return f"{hint}allowed: {', '.join(sorted(allowed))}"


def kind_of(value: Any) -> str:
    names = {str: "text", int: "a number", float: "a number", bool: "true/false",
             list: "a list", dict: "a mapping", type(None): "empty"}
    return names.get(type(value), type(value).__name__)


def _key_path(location: tuple[int | str, ...]) -> str:
    out = ""
    for part in location:
        if part == "[key]":
            out += " (the key)"
        elif isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out or "(top level)"


_WANTED = dict.fromkeys(("int_parsing", "int_type", "int_from_float"), "a whole number") | {
    "float_parsing": "a number", "float_type": "a number", "bool_parsing": "true or false",
    "bool_type": "true or false", "string_type": "text (quote it)", "list_type": "a list (- item)",
} | dict.fromkeys(("dict_type", "model_type", "model_attributes_type"), "a mapping (key: value)")


def describe(error: ErrorDetails, root: type[BaseModel]) -> str:
    """One problem of a document validated as `root`, in words."""
    location, kind = tuple(error["loc"]), error["type"]
    ctx: dict[str, Any] = dict(error.get("ctx") or {})
    value, where = error.get("input"), _key_path(location)
    if kind == "extra_forbidden":
        known = _walk(root, location[:-1])[0]
        return f"{where}: unknown key; {choices(str(location[-1]), known)}"
    if kind == "missing":
        info = _walk(root, location)[1]
        return f"{where}: is required" + (f": {info.rstrip('.')}" if info else "")
    got = f", got {kind_of(value)} {value!r}" if value is not None else ", got nothing"
    if kind in _WANTED:
        return f"{where}: must be {_WANTED[kind]}{got}"
    messages = {
        "literal_error": f"{value!r} is not allowed; use {ctx.get('expected')}",
        "string_pattern_mismatch": f"{value!r} is not allowed: "
        + ALLOWED.get(ctx.get("pattern", ""), f"must match {ctx.get('pattern')}"),
        "greater_than_equal": f"must be at least {ctx.get('ge')}, got {value!r}",
        "less_than_equal": f"must be at most {ctx.get('le')}, got {value!r}",
        "string_too_short": "must not be empty",
        "invalid_key": "keys must be text (quote it)",
        "invalid-json-value": f"{value!r} is not allowed: use text, a number, true/false, a list "
        "or a mapping",
        "value_error": str(ctx.get("error", error["msg"])),
    }
    return f"{where}: {messages.get(kind, error['msg'])}"


def _walk(root: type[BaseModel],
          location: tuple[int | str, ...]) -> tuple[list[str], str | None]:
    """The valid keys of the model at `location`, and the description of the field there."""
    annotation: Any = root
    description: str | None = None
    for part in (*location, None):
        if typing.get_origin(annotation) in (typing.Union, types.UnionType):  # X | None
            annotation = typing.get_args(annotation)[0]
        if part is None:
            break
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            field = annotation.model_fields.get(str(part))
            if field is None:
                return [], None
            annotation, description = field.annotation, field.description
        elif typing.get_origin(annotation) in (dict, list):
            annotation = typing.get_args(annotation)[-1]
        else:
            return [], description
    is_model = isinstance(annotation, type) and issubclass(annotation, BaseModel)
    return (list(annotation.model_fields) if is_model else []), description
