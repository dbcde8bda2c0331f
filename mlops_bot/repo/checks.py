"""Static checks that catch a broken pipeline before anything is built."""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator
from functools import partial

from mlops_bot.repo.layout import Problem

__all__ = ["check_definition", "check_syntax", "choose_pipeline", "configured_function",
           "definition_check", "parser_of", "pipeline_functions"]

_PIPELINE_DECORATORS = frozenset({"pipeline", "dsl.pipeline", "kfp.dsl.pipeline"})
# Components kfp.compiler also compiles, as a pipeline of one task: only when `function` names one.
_COMPONENT_DECORATORS = frozenset(f"{prefix}{kind}" for prefix in ("", "dsl.", "kfp.dsl.")
                                  for kind in ("component", "container_component",
                                               "notebook_component"))
_BLOCKS = (ast.With, ast.If, ast.Try, ast.TryStar)  # module-level blocks a pipeline may sit in

Parse = Callable[[], ast.Module]


def check_syntax(parse: Parse, path: str) -> list[Problem]:
    try:
        parse()
    except SyntaxError as error:
        return [_syntax_problem(error, path)]
    return []


def check_definition(parse: Parse, path: str, function: str | None = None) -> list[Problem]:
    """A pipeline's definition.py must parse and define the pipeline to compile: the one
    @dsl.pipeline no other pipeline of the file calls, or `function` (mlops.yaml
    `pipelines.<name>.function`) when it names one (a pipeline or a component).

    `parse` returns its syntax tree (or raises SyntaxError), so callers can share parses.
    """
    try:
        tree = parse()
    except SyntaxError as error:
        return [_syntax_problem(error, path)]
    chosen = choose_pipeline(tree, path, function)
    return [chosen] if isinstance(chosen, Problem) else []


def definition_check(function: str | None) -> tuple[str, Callable[[Parse, str], list[Problem]]]:
    """`check_definition` for a pipeline configured with `function`, and the name its results
    are cached under (the planning cache keeps them by file and name: the name changes with
    the function, and with what the check accepts)."""
    return f"check_definition/3:{function or ''}", partial(check_definition, function=function)


def configured_function(config: object, pipeline: str) -> str | None:
    """`pipelines.<pipeline>.function` of a Config (None for the defaults' layout)."""
    settings = (getattr(config, "pipelines", None) or {}).get(pipeline)
    return getattr(settings, "function", None)


def choose_pipeline(tree: ast.Module, path: str,
                    function: str | None = None) -> ast.FunctionDef | Problem:
    """The pipeline function to compile, or the problem that says why there is none.

    Pipelines may compose pipelines (KFP's nested pipelines): the one to compile is the
    outermost, the one no other pipeline of the file calls (read from the source, not run).
    `function` may also name a component: kfp.compiler compiles it as a pipeline of one task.
    """
    functions = pipeline_functions(tree)
    components = _decorated(tree, _COMPONENT_DECORATORS)
    if function is not None:
        for node in functions + components:
            if node.name == function:
                return node
        found = "; ".join(f"its {kind}: {_listed(nodes)}" for kind, nodes in (
            ("pipelines", functions), ("components", components)) if nodes)
        return Problem(path, f"has no @dsl.pipeline or component function {function!r}, which "
                       "mlops.yaml names (pipelines.<name>.function); "
                       f"{found or 'it defines neither'}")
    if not functions and components:
        return Problem(path, f"defines no pipeline, only components ({_listed(components)}): "
                       "decorate one function with @dsl.pipeline, or compile a component as a "
                       f"pipeline of one task, as kfp.compiler does, with `function: "
                       f"{components[0].name}` under pipelines.<pipeline> in mlops.yaml")
    if not functions:
        return Problem(path, "defines no pipeline: decorate one function with @dsl.pipeline")
    names = _listed(functions)
    outer = _outermost(functions)
    if len({f.name for f in outer}) == 1:  # one name (defined in both arms of an `if`, say)
        return outer[0]
    if not outer:
        return Problem(path, f"its pipelines all call one another ({names}): name the one to "
                       "compile with `function: <name>` under pipelines.<pipeline> in mlops.yaml")
    return Problem(path, f"defines {len(outer)} pipelines that no other pipeline calls "
                   f"({_listed(outer)}): name the one to compile with `function: {outer[0].name}` "
                   "under pipelines.<pipeline> in mlops.yaml, or call the others from it",
                   outer[1].lineno)


def parser_of(source: bytes, path: str) -> Parse:
    """A `parse` argument for the checks, from source text."""
    return lambda: ast.parse(source, filename=path)


def pipeline_functions(tree: ast.Module) -> list[ast.FunctionDef]:
    """Functions decorated with @dsl.pipeline (called or bare) that the module defines: at
    its top level or in its top-level `with`, `if` and `try` blocks (not inside functions)."""
    return _decorated(tree, _PIPELINE_DECORATORS)


def _decorated(tree: ast.Module, decorators: frozenset[str]) -> list[ast.FunctionDef]:
    return [node for node in _module_level(tree.body) if isinstance(node, ast.FunctionDef)
            and any(_dotted(d.func if isinstance(d, ast.Call) else d) in decorators
                    for d in node.decorator_list)]


def _listed(functions: list[ast.FunctionDef]) -> str:
    return ", ".join(f"{f.name} (line {f.lineno})" for f in functions)


def _module_level(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    for node in body:
        yield node
        if isinstance(node, _BLOCKS):
            for field in ("body", "orelse", "finalbody"):
                yield from _module_level(getattr(node, field, []))
            for handler in getattr(node, "handlers", []):
                yield from _module_level(handler.body)


def _outermost(functions: list[ast.FunctionDef]) -> list[ast.FunctionDef]:
    """The pipeline functions no other one calls by name."""
    if len(functions) == 1:  # the usual file: nothing else to call it (walking it is slow)
        return functions
    names = {f.name for f in functions}
    called = {call.func.id for f in functions for call in ast.walk(f)
              if isinstance(call, ast.Call) and isinstance(call.func, ast.Name)
              and call.func.id in names and call.func.id != f.name}
    return [f for f in functions if f.name not in called]


def _dotted(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return ""


def _syntax_problem(error: SyntaxError, path: str) -> Problem:
    return Problem(path, f"syntax error: {error.msg}", error.lineno)
