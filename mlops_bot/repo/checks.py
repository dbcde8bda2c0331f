"""Static checks that catch a broken pipeline before anything is built."""

from __future__ import annotations

import ast
from collections.abc import Callable

from mlops_bot.repo.layout import Problem

__all__ = ["check_definition", "check_syntax", "parser_of", "pipeline_functions"]

_PIPELINE_DECORATORS = frozenset({"pipeline", "dsl.pipeline", "kfp.dsl.pipeline"})


def check_syntax(parse: Callable[[], ast.Module], path: str) -> list[Problem]:
    try:
        parse()
    except SyntaxError as error:
        return [_syntax_problem(error, path)]
    return []


def check_definition(parse: Callable[[], ast.Module], path: str) -> list[Problem]:
    """A pipeline's definition.py must parse and define exactly one @dsl.pipeline.

    `parse` returns its syntax tree (or raises SyntaxError), so callers can share parses.
    """
    try:
        tree = parse()
    except SyntaxError as error:
        return [_syntax_problem(error, path)]
    functions = pipeline_functions(tree)
    if not functions:
        return [Problem(path, "defines no pipeline: decorate one function with @dsl.pipeline")]
    if len(functions) > 1:
        where = ", ".join(f"{f.name} (line {f.lineno})" for f in functions)
        return [Problem(path, f"defines {len(functions)} pipelines ({where}): keep one "
                        "@dsl.pipeline per definition.py, one pipeline folder each",
                        functions[1].lineno)]
    return []


def parser_of(source: bytes, path: str) -> Callable[[], ast.Module]:
    """A `parse` argument for the checks, from source text."""
    return lambda: ast.parse(source, filename=path)


def pipeline_functions(tree: ast.Module) -> list[ast.FunctionDef]:
    """Top-level functions decorated with @dsl.pipeline (called or bare)."""
    found = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and any(
            _dotted(d.func if isinstance(d, ast.Call) else d) in _PIPELINE_DECORATORS
            for d in node.decorator_list
        ):
            found.append(node)
    return found


def _dotted(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return ""


def _syntax_problem(error: SyntaxError, path: str) -> Problem:
    return Problem(path, f"syntax error: {error.msg}", error.lineno)
