"""The imports inside mlops_bot go one way: no module reaches, however indirectly, a module that
reaches it back, and the lower folders never import the ones above them.

Every import statement counts, read with ast as a reviewer reads the code:
- at module level, inside functions (the lazy imports that keep `mlops-bot --help` light still
  run, and are how the action reaches its flows), and under `if TYPE_CHECKING:`. A type named in
  a signature is a dependency too: the reader follows it, mypy loads it, and a flow that names
  the action's context type from the module that dispatches to it was one of the circles this
  test was written to end. So there is one graph, the real one, and it must be acyclic.
- `from a.b import c` is an edge to the module a.b.c when there is one, else to a.b.
- Importing a.b.c also runs the package a/b/__init__.py, but that is not drawn as an edge:
  packages and their submodules would all be circles. An __init__.py's own imports are edges.

A circle is printed with the file and line of each import in it, and whether the import is in a
function or under TYPE_CHECKING, so the fix starts from the message: move the shared type or
helper into a module below both, where both can import it.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from mlops_bot.serving_image import _SERVER_FILES

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    where: str  # path:line of the import
    kind: str  # "", "in a function" or "TYPE_CHECKING"

    def __str__(self) -> str:
        how = f", {self.kind}" if self.kind else ""
        return f"{self.source} -> {self.target}  ({self.where}{how})"


def modules(root: Path, package: str) -> dict[str, tuple[Path, bool]]:
    """Every module of `package` under `root`, by dotted name: its file, and whether a package."""
    found = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        found[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return ((isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
            or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"))


def _imported(node: ast.Import | ast.ImportFrom, name: str, is_package: bool,
              known: dict[str, tuple[Path, bool]]) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:  # relative: from the package this module is in, up level - 1
        here = name.split(".") if is_package else name.split(".")[:-1]
        base = ".".join(here[:len(here) - node.level + 1] + ([base] if base else []))
    return [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base
            for alias in node.names]


def _imports_in(nodes: list[ast.stmt] | list[ast.AST], kind: str = ""
                ) -> Iterator[tuple[ast.Import | ast.ImportFrom, str]]:
    """Every import statement among `nodes` and inside them, with how it is reached."""
    for node in nodes:
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node, kind
        elif isinstance(node, ast.If) and _is_type_checking(node.test):
            yield from _imports_in(node.body, "TYPE_CHECKING")
            yield from _imports_in(node.orelse, kind)
        else:
            inner = kind or ("in a function" if isinstance(
                node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) else "")
            yield from _imports_in(list(ast.iter_child_nodes(node)), inner)


def edges(root: Path, package: str) -> list[Edge]:
    """Each import of a module of `package` by another, once per statement and target."""
    known = modules(root, package)
    found = []
    for name, (path, is_package) in known.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node, kind in _imports_in(tree.body):
            where = f"{path.relative_to(root).as_posix()}:{node.lineno}"
            found += [Edge(name, target, where, kind)
                      for target in dict.fromkeys(_imported(node, name, is_package, known))
                      if target in known and target != name]
    return found


def cycles(graph_edges: list[Edge]) -> list[list[Edge]]:
    """Circles as their edges: the shortest from each module that is on one and not yet on one
    found, so every module of a group that reaches itself is shown on some circle."""
    out: dict[str, dict[str, Edge]] = {}
    for edge in graph_edges:
        out.setdefault(edge.source, {}).setdefault(edge.target, edge)
    found: list[list[Edge]] = []
    seen: set[str] = set()
    for start in sorted(out):
        if start in seen:
            continue
        path = _shortest_path_back(out, start)
        if path:
            found.append(path)
            seen.update(edge.source for edge in path)
    return found


def _reachable(out: dict[str, dict[str, Edge]], start: str) -> set[str]:
    seen, todo = {start}, [start]
    while todo:
        for target in out.get(todo.pop(), {}):
            if target not in seen:
                seen.add(target)
                todo.append(target)
    return seen


def _shortest_path_back(out: dict[str, dict[str, Edge]], start: str) -> list[Edge]:
    """Breadth first from `start` until an edge leads back to it: the circle's edges, or []."""
    came: dict[str, Edge] = {}
    frontier = [start]
    while frontier:
        following = []
        for module in frontier:
            for target, edge in sorted(out.get(module, {}).items()):
                if target == start:
                    path = [edge]
                    while path[0].source != start:
                        path.insert(0, came[path[0].source])
                    return path
                if target not in came:
                    came[target] = edge
                    following.append(target)
        frontier = following
    return []


def _described(found: list[list[Edge]]) -> str:
    return "\n\n".join("\n".join(f"  {edge}" for edge in circle) for circle in found)


def test_no_import_circles_inside_mlops_bot() -> None:
    graph = edges(ROOT, "mlops_bot")
    assert len(graph) > 500, "the walk found too few imports to be reading the package"
    found = cycles(graph)
    if found:
        pytest.fail(f"{len(found)} import circle(s) inside mlops_bot; move what both sides need "
                    f"into a module below them:\n{_described(found)}", pytrace=False)


# (importer, imported): no module under the first prefix imports one under the second.
FORBIDDEN = [
    # Backends and the repository reader are the bottom: they know no flow, no GitHub, no CLI
    # and no renderer, so any of those can use them.
    *((low, high) for low in ("mlops_bot.backends", "mlops_bot.repo")
      for high in ("mlops_bot.flows", "mlops_bot.github", "mlops_bot.cli", "mlops_bot.report")),
    ("mlops_bot.repo", "mlops_bot.backends"),
    # Reports word results; they never act, so they never hold a backend implementation.
    *(("mlops_bot.report", impl) for impl in ("mlops_bot.backends.local", "mlops_bot.backends.gcp",
                                               "mlops_bot.backends.factory")),
    # The two entry points, the CLI and the GitHub Action, call flows; nothing calls them.
    *((low, entry) for low in ("mlops_bot.flows", "mlops_bot.report", "mlops_bot.backends",
                               "mlops_bot.repo", "mlops_bot.serving", "mlops_bot.github")
      for entry in ("mlops_bot.cli", "mlops_bot.github.action")),
]
# The serving container gets only these files of mlops_bot (__init__.py, errors.py, serving/):
# the server may import nothing else of it, even in a function it seldom calls.
SERVER_FILES = ("mlops_bot", *(f"mlops_bot.{name.removesuffix('.py')}"
                               for name in _SERVER_FILES if name != "__init__.py"))
# The GitHub ports and records (forge, locks, check runs, context) sit below the flows that use
# them; only the Action's entry point dispatches to flows.
GITHUB_ENTRY = "mlops_bot.github.action"


def _under(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def crossings(graph_edges: list[Edge]) -> list[str]:
    """The imports that go against FORBIDDEN or reach flows from a GitHub module."""
    wrong = [f"{edge.source} may not import {high}: {edge}" for edge in graph_edges
             for low, high in FORBIDDEN if _under(edge.source, low) and _under(edge.target, high)]
    wrong += [f"only {GITHUB_ENTRY} may import flows: {edge}" for edge in graph_edges
              if _under(edge.source, "mlops_bot.github") and edge.source != GITHUB_ENTRY
              and _under(edge.target, "mlops_bot.flows")]
    wrong += [f"the serving container has no {edge.target}: {edge}" for edge in graph_edges
              if _under(edge.source, "mlops_bot.serving") and not any(
                  edge.target == kept or (kept != "mlops_bot" and _under(edge.target, kept))
                  for kept in SERVER_FILES)]
    return wrong


def test_lower_folders_never_import_higher_ones() -> None:
    wrong = crossings(edges(ROOT, "mlops_bot"))
    if wrong:
        pytest.fail("imports against the one-way flow:\n" + "\n".join(wrong), pytrace=False)


def test_a_circle_is_found_through_any_kind_of_import_and_printed(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("from pkg import a\n")
    (package / "a.py").write_text("def f():\n    from pkg.sub import b\n")
    (package / "sub" / "__init__.py").write_text("")
    (package / "sub" / "b.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..c import C\n")
    (package / "c.py").write_text("import pkg.a as a\nfrom pkg import sub\n")
    (package / "d.py").write_text("from pkg.c import C\n")  # reaches the circle, not in it
    found = cycles(edges(tmp_path, "pkg"))
    assert _described(found) == (
        "  pkg.a -> pkg.sub.b  (pkg/a.py:2, in a function)\n"
        "  pkg.sub.b -> pkg.c  (pkg/sub/b.py:3, TYPE_CHECKING)\n"
        "  pkg.c -> pkg.a  (pkg/c.py:1)")


def test_an_import_against_the_flow_is_named(tmp_path: Path) -> None:
    package = tmp_path / "mlops_bot"
    for folder in ("backends/gcp", "flows", "github", "report"):
        (package / folder).mkdir(parents=True, exist_ok=True)
    (package / "backends" / "gcp" / "runner.py").write_text(
        "def run():\n    from mlops_bot.flows import push\n")
    (package / "flows" / "push.py").write_text("from mlops_bot.github.action import run\n")
    (package / "github" / "action.py").write_text("from mlops_bot.flows.push import push\n")
    (package / "github" / "locks.py").write_text("from mlops_bot.flows import push\n")
    (package / "report" / "push_report.py").write_text("from mlops_bot.backends.gcp import runner\n")
    (package / "serving").mkdir()
    (package / "serving" / "app.py").write_text(
        "from mlops_bot import errors\nfrom mlops_bot.serving import state\n"
        "def load():\n    from mlops_bot.repo import layout\n")
    for kept in ("__init__.py", "errors.py", "serving/state.py", "repo/layout.py"):
        (package / kept).parent.mkdir(exist_ok=True)
        (package / kept).write_text("")
    assert crossings(edges(tmp_path, "mlops_bot")) == [
        "mlops_bot.backends.gcp.runner may not import mlops_bot.flows: mlops_bot.backends.gcp."
        "runner -> mlops_bot.flows.push  (mlops_bot/backends/gcp/runner.py:2, in a function)",
        "mlops_bot.flows.push may not import mlops_bot.github.action: mlops_bot.flows.push -> "
        "mlops_bot.github.action  (mlops_bot/flows/push.py:1)",
        "mlops_bot.report.push_report may not import mlops_bot.backends.gcp: mlops_bot.report."
        "push_report -> mlops_bot.backends.gcp.runner  (mlops_bot/report/push_report.py:1)",
        "only mlops_bot.github.action may import flows: mlops_bot.github.locks -> "
        "mlops_bot.flows.push  (mlops_bot/github/locks.py:1)",
        "the serving container has no mlops_bot.repo.layout: mlops_bot.serving.app -> "
        "mlops_bot.repo.layout  (mlops_bot/serving/app.py:4, in a function)",
    ]
