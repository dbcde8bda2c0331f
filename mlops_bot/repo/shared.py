"""Which pipelines a change to a shared library affects, by static import analysis.

A shared path (`components/` by default) holds units: its first-level folders and files. A change
taints the changed module; modules of the shared library that import a tainted module are tainted
in turn, until nothing changes. A pipeline is affected when one of its definition files (its
`definition.py` or a component's `definition.py`) imports a tainted module, or names a tainted
unit's path (`load_component_from_file("components/x/component.yaml")`).

Only files that mention a tainted unit's name as a word are parsed: `git grep` narrows thousands of
pipeline files to the few that can import it, which keeps planning fast on large monorepos.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from posixpath import dirname
from typing import TYPE_CHECKING

from mlops_bot.repo.git import GitRepo
from mlops_bot.repo.imports import References, module_name, scan
from mlops_bot.repo.sources import Sources

if TYPE_CHECKING:
    from mlops_bot.repo.import_index import ImportIndex

__all__ = ["SharedImpact", "shared_impact"]


@dataclass
class SharedImpact:
    """Pipelines affected (each with its reasons) and the shared units whose content changed."""

    pipelines: dict[str, list[str]] = field(default_factory=dict)
    units: set[str] = field(default_factory=set)


@dataclass
class _Taint:
    modules: dict[str, str] = field(default_factory=dict)  # module -> the change that taints it
    paths: dict[str, str] = field(default_factory=dict)  # unit path -> the change
    tokens: set[str] = field(default_factory=set)

    def add(self, module: str, unit_path: str, cause: str) -> bool:
        if module in self.modules:
            return False
        self.modules[module] = cause
        self.paths.setdefault(unit_path, cause)
        self.tokens.add(_unit_token(module))
        return True


def shared_impact(
    sources: Sources, head: str, changed: Iterable[str], shared_paths: list[str],
    pipelines_dir: str, index: ImportIndex | None = None,
    definitions: dict[str, str] | None = None,
) -> SharedImpact:
    """Pipelines at `head` affected by the `changed` paths (all inside `shared_paths`); `index`
    answers which definition files import what without reading them again; `definitions`
    (with `entries:`) maps each definition file to its pipeline instead of the folder rule."""
    impact = SharedImpact()
    taint = _Taint()
    for path in changed:
        root = _shared_root(path, shared_paths)
        if root is None:
            continue
        unit = _unit(path, root)
        impact.units.add(unit)
        module_path = path if path.endswith(".py") else unit.removesuffix(".py")
        taint.add(module_name(module_path, dirname(root)), unit.removesuffix(".py"), path)
    if not taint.modules:
        return impact
    _spread_within_shared(sources, head, taint, shared_paths)
    prefix = pipelines_dir.rstrip("/") + "/"
    found = (_entry_definitions(sources, head, definitions, taint) if definitions is not None
             else _definitions(sources, head, pipelines_dir, taint, index))
    for path, refs in found:
        match = refs.first_match(taint.modules, taint.paths)
        if match:
            pipeline = (definitions[path] if definitions is not None
                        else path[len(prefix):].split("/", 1)[0])
            cause = taint.modules.get(match) or taint.paths[match]
            impact.pipelines.setdefault(pipeline, []).append(
                f"{path} uses shared {match} ({cause} changed)")
    return impact


def _definitions(
    sources: Sources, head: str, pipelines_dir: str, taint: _Taint, index: ImportIndex | None
) -> Iterable[tuple[str, References]]:
    """The pipelines' definition files that can refer to a tainted module, sorted by path."""
    if index is not None and index.answers(taint.paths):
        return index.definitions(sources, head, taint.tokens)
    root = pipelines_dir.rstrip("/")
    candidates = sources.repo.grep_words(head, taint.tokens, [
        f":(glob){root}/*/definition.py", f":(glob){root}/*/components/*/definition.py"])
    found = []
    for path, sha in _blob_ids(sources.repo, head, candidates).items():
        refs = _scan(sources, sha, path, None)
        if refs is not None:
            found.append((path, refs))
    return found


def _entry_definitions(
    sources: Sources, head: str, definitions: dict[str, str], taint: _Taint
) -> Iterable[tuple[str, References]]:
    candidates = sources.repo.grep_words(head, taint.tokens, sorted(definitions)) if (
        definitions) else []
    found = []
    for path, sha in _blob_ids(sources.repo, head, candidates).items():
        refs = _scan(sources, sha, path, None)
        if refs is not None:
            found.append((path, refs))
    return found


def _spread_within_shared(sources: Sources, head: str, taint: _Taint, shared: list[str]) -> None:
    scanned: set[str] = set()
    specs = [f":(glob){root.rstrip('/')}/**/*.py" for root in shared]
    while True:
        files = [f for f in sources.repo.grep_words(head, taint.tokens, specs)
                 if f not in scanned]
        if not files:
            return
        scanned.update(files)
        grew = False
        for path, sha in _blob_ids(sources.repo, head, files).items():
            root = _shared_root(path, shared)
            assert root is not None
            module = module_name(path, dirname(root))
            match = _references(sources, sha, path, module, taint)
            if match and match != module:
                cause = taint.modules.get(match) or taint.paths[match]
                grew |= taint.add(module, _unit(path, root).removesuffix(".py"), cause)
        if not grew:
            return


def _references(
    sources: Sources, sha: str, path: str, module: str | None, taint: _Taint
) -> str | None:
    refs = _scan(sources, sha, path, module)
    return refs.first_match(taint.modules, taint.paths) if refs else None


def _scan(sources: Sources, sha: str, path: str, module: str | None) -> References | None:
    try:
        return scan(sources.parse(sha, path), sources.read(sha), path, module)
    except SyntaxError:
        return None  # reported by the definition checks of the pipeline it belongs to


def _blob_ids(repo: GitRepo, commit: str, paths: list[str]) -> dict[str, str]:
    if len(paths) <= 8:  # a few: asked of git's running cat-file, no process of their own
        found = {path: repo.entry(commit, path) for path in sorted(paths)}
        return {path: e[0] for path, e in found.items() if e and e[1] == "blob"}
    return {e.path: e.sha for e in repo.tree(commit, paths, recursive=False) if e.kind == "blob"}


def _shared_root(path: str, shared_paths: list[str]) -> str | None:
    for root in shared_paths:
        if path == root or path.startswith(root.rstrip("/") + "/"):
            return root.rstrip("/")
    return None


def _unit(path: str, root: str) -> str:
    """The first-level folder or file of `root` that `path` is in."""
    rest = path[len(root) + 1:]
    return f"{root}/{rest.split('/', 1)[0]}" if rest else root


def _unit_token(module: str) -> str:
    # Any import that can reach `a.unit.rest` spells `unit` as a word: `from a import unit`,
    # `import a.unit.rest`, `from a.unit import rest`. The root (`a`) is too common to search by.
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]
