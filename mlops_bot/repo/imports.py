"""Static import analysis: which modules and paths a Python file refers to.

Used to find the pipelines a shared-library change affects without importing (and so running)
any user code. Imports inside function bodies count: KFP components import their libraries there.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from posixpath import dirname

__all__ = ["References", "module_name", "scan"]


@dataclass(frozen=True)
class References:
    """The modules a file imports (every name it could mean) and the path-like strings it holds."""

    modules: frozenset[str]
    texts: tuple[str, ...]  # where mentioned paths are looked for

    def first_match(self, modules: Iterable[str], paths: Iterable[str]) -> str | None:
        """The first of `modules` imported, or of `paths` mentioned, if any.

        Importing a module's submodule or one of its packages (below the top level, which would
        be every shared unit at once) counts as importing it.
        """
        for module in sorted(modules):
            if any(_related(m, module) for m in self.modules):
                return module
        for path in sorted(paths):
            if any(path in text for text in self.texts):
                return path
        return None


def _related(imported: str, module: str) -> bool:
    if imported == module or imported.startswith(module + "."):
        return True
    return "." in imported and module.startswith(imported + ".")


def module_name(path: str, import_root: str) -> str:
    """The dotted module name of a `.py` file (or a folder) relative to an import root."""
    relative = path[len(import_root.rstrip("/")) + 1:] if import_root else path
    relative = relative.removesuffix(".py").removesuffix("/__init__")
    return relative.replace("/", ".")


def scan(tree: ast.Module, source: bytes, filename: str, module: str | None = None) -> References:
    """What a parsed file refers to; `module` (its dotted name) resolves relative imports.

    Imports are statements, so only statements are walked (nested ones included: KFP components
    import inside their function bodies). Paths are found in the text itself: a path a file
    names in a string or a comment errs toward planning the pipeline, never toward skipping it.
    """
    package = module if filename.endswith("__init__.py") else dirname(
        (module or "").replace(".", "/")).replace("/", ".")
    modules: set[str] = set()
    for node in _statements(tree.body):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node, package)
            if base is None:
                continue
            if base:
                modules.add(base)
            modules.update(f"{base}.{a.name}" if base else a.name for a in node.names
                           if a.name != "*")
    return References(frozenset(modules), (source.decode("utf-8", "replace"),))


def _statements(nodes: Iterable[ast.AST]) -> Iterator[ast.stmt]:
    for node in nodes:
        if isinstance(node, ast.stmt):
            yield node
        # except handlers and match cases are not statements but hold statement bodies
        for name in ("body", "orelse", "finalbody", "handlers", "cases"):
            nested = getattr(node, name, None)
            if isinstance(nested, list):
                yield from _statements(nested)


def _absolute(node: ast.ImportFrom, package: str | None) -> str | None:
    if node.level == 0:
        return node.module or ""
    if not package:
        return None  # a relative import in a file we cannot place in a package
    parts = package.split(".")
    if node.level - 1 > len(parts):
        return None
    base = parts[: len(parts) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))
