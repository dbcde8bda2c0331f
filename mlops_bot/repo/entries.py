"""Pipelines found where `mlops.yaml` `entries:` says, or by the folder convention without it.

An entry glob whose file name has a wildcard (`pipelines/*.py`) makes one pipeline per file,
named by its stem, that owns only that file; one whose file name is literal
(`kfx/pipelines/*/pipeline.py`) makes one pipeline per folder, named by the folder, that owns
the folder (its components and image, as a `<pipelines_dir>/<name>/` folder does). A `.yaml` or
`.json` entry is a compiled spec, published as it is. A file of a one-file-per-pipeline entry
that defines no `@dsl.pipeline` (seed 003's `deploy_pipeline.py` beside its pipelines, a helper
module) is not a pipeline.
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from fnmatch import fnmatchcase
from pathlib import Path
from posixpath import basename, dirname, splitext
from typing import Any

from mlops_bot.errors import UserError
from mlops_bot.repo.git import GitRepo, TreeEntry
from mlops_bot.repo.layout import Pipeline, Problem, _pipeline, discover_pipelines

__all__ = ["discover_at", "entries_of", "looked_in", "matches", "names_in", "owner",
           "require_pipelines"]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")


def entries_of(layout: Any) -> list[str]:
    """The `entries:` globs of a configuration (none for the defaults)."""
    return list(getattr(layout, "entries", None) or [])


def looked_in(layout: Any) -> str:
    """Where pipelines are looked for, in words, for messages."""
    globs = entries_of(layout) or [f"{layout.pipelines_dir.rstrip('/')}/*/definition.py"]
    return ", ".join(globs)


def has_wildcard(part: str) -> bool:
    return bool(re.search(r"[*?\[]", part))


def matches(path: str, glob: str) -> bool:
    """Whether `path` matches `glob` folder by folder (a `*` never crosses a `/`)."""
    parts, pattern = path.split("/"), glob.split("/")
    return len(parts) == len(pattern) and all(map(fnmatchcase, parts, pattern))


def _root(glob: str) -> str:
    fixed = []
    for part in glob.split("/")[:-1]:
        if has_wildcard(part):
            break
        fixed.append(part)
    return "/".join(fixed) or "."


def discover_at(
    repo: GitRepo, commit: str, layout: Any
) -> tuple[dict[str, Pipeline], dict[str, list[Problem]]]:
    """Every pipeline at `commit`, and what looks like one but is broken."""
    globs = entries_of(layout)
    if not globs:
        return discover_pipelines(repo.tree(commit, [layout.pipelines_dir]), layout.pipelines_dir)
    listing = repo.tree(commit, sorted({_root(g) for g in globs}))
    pipelines, broken = discover_entries(listing, globs)
    return _without_scripts(repo, listing, pipelines), broken


# A decorator naming `pipeline` (`@dsl.pipeline`, `@kfp.dsl.pipeline(...)`, `@pipeline`): such a
# file is taken as it is (its compile says what is wrong); only the others are parsed.
_DECORATED = re.compile(rb"@\s*[\w.]*pipeline\b")


def _without_scripts(repo: GitRepo, listing: list[TreeEntry],
                     pipelines: dict[str, Pipeline]) -> dict[str, Pipeline]:
    """`pipelines` less the Python files of per-file entries that define no pipeline."""
    from mlops_bot.repo.checks import pipeline_functions

    per_file = {p.entry: p.name for p in pipelines.values()
                if p.entry and not p.owns_folder and not p.spec}
    if not per_file:
        return pipelines
    shas = {e.sha: e.path for e in listing if e.path in per_file}
    for sha, source in repo.read_many(shas).items():
        if _DECORATED.search(source):
            continue
        try:
            scripts = not pipeline_functions(ast.parse(source))
        except (SyntaxError, ValueError):
            continue  # its compile names the error
        if scripts:
            pipelines = {n: p for n, p in pipelines.items() if n != per_file[shas[sha]]}
    return pipelines


def discover_entries(
    listing: list[TreeEntry], globs: list[str]
) -> tuple[dict[str, Pipeline], dict[str, list[Problem]]]:
    by_folder: dict[str, dict[str, TreeEntry]] = defaultdict(dict)
    for item in listing:
        folder = dirname(item.path)
        while True:  # every folder above sees the entry, relative to it
            by_folder[folder][item.path[len(folder) + 1:] if folder else item.path] = item
            if not folder:
                break
            folder = dirname(folder)
    blobs = sorted(e.path for e in listing if e.kind == "blob")
    pipelines: dict[str, Pipeline] = {}
    broken: dict[str, list[Problem]] = {}
    for glob in globs:
        per_file = has_wildcard(basename(glob))
        for path in blobs:
            if not matches(path, glob):
                continue
            folder = dirname(path)
            name = splitext(basename(path))[0] if per_file else basename(folder)
            if name.startswith((".", "_")):
                continue  # `__init__.py`, `_helpers/`: ignored, as pipeline folders are
            if not _NAME.match(name):
                broken[name or path] = [Problem(path, f"{name!r} is not a pipeline name: use "
                                                "letters, digits, '_', '.' and '-'")]
                continue
            if per_file:
                found = Pipeline(name, folder, (), (), (), entry=path,
                                 spec=not path.endswith(".py"), owns_folder=False)
            else:
                found = _pipeline(name, folder, by_folder[folder], entry=path)
            other = pipelines.get(name)
            if other is not None and other.definition != path:
                broken[name] = [Problem(path, f"pipeline {name} is also defined by "
                                        f"{other.definition}: rename one, or narrow entries: "
                                        "in mlops.yaml")]
                continue
            pipelines.setdefault(name, found)
    for name in broken:
        pipelines.pop(name, None)
    return pipelines, broken


def names_in(root: Path, globs: list[str]) -> list[str]:
    """The names `globs` give the files of the folder `root` (a working tree), for checks."""
    found = set()
    for glob in globs:
        for path in root.glob(glob):
            name = path.stem if has_wildcard(basename(glob)) else path.parent.name
            if path.is_file() and not name.startswith((".", "_")):
                found.add(name)
    return sorted(found)


def owner(pipelines: dict[str, Pipeline], path: str) -> str | None:
    """The pipeline a changed path belongs to, if any."""
    for pipeline in pipelines.values():
        if pipeline.owns(path):
            return pipeline.name
    return None


def require_pipelines(repo: GitRepo, commit: str, layout: Any) -> None:
    """UserError naming where the tool looked when there is no pipeline at `commit`."""
    pipelines, broken = discover_at(repo, commit, layout)
    if pipelines or broken:
        return
    hint = ("" if entries_of(layout) else "; if your pipelines are elsewhere, list them in "
            "mlops.yaml, e.g. entries: [\"pipelines/*.py\", \"kfx/pipelines/*/pipeline.py\"]")
    raise UserError(f"no pipeline found at {commit[:12]}: looked for {looked_in(layout)}{hint}")
