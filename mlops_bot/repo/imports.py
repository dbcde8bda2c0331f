"""Static import analysis: which modules and paths a Python file refers to.

Used to find the pipelines a shared-library change affects without importing (and so running)
any user code. Imports inside function bodies count: KFP components import their libraries there.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from dataclasses import dataclass
from posixpath import dirname

__all__ = ["References", "module_name", "scan"]


@dataclass(frozen=True)
class References:
    """The modules a file imports (every name it could mean) and the path-like strings it holds."""

    modules: frozenset[str]
    paths: tuple[str, ...]

    def first_match(self, modules: Iterable[str], paths: Iterable[str]) -> str | None:
        """The first of `modules` imported, or of `paths` mentioned, if any.

        Importing a module's submodule or one of its packages (below the top level, which would
        be every shared unit at once) counts as importing it.
        """
        for module in sorted(modules):
            if any(_related(m, module) for m in self.modules):
                return module
        for path in sorted(paths):
            if any(path in text for text in self.paths):
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


def scan(source: bytes, filename: str, module: str | None = None) -> References:
    """Parse `source`; `module` (its dotted name) resolves relative imports.

    Raises SyntaxError with the file name and line, for the caller to report.
    """
    tree = ast.parse(source, filename=filename)
    package = module if filename.endswith("__init__.py") else dirname(
        (module or "").replace(".", "/")).replace("/", ".")
    modules: set[str] = set()
    paths: list[str] = []
    for node in ast.walk(tree):
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
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and "/" in node.value:
            paths.append(node.value)
    return References(frozenset(modules), tuple(paths))


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
