"""What the pipelines' definition files import, cached in the state folder between plans.

A shared-library change greps the definition files for the changed units' names (`shared.py`)
and parses the ones that match: on 10,000 pipelines that is most of the plan, and it is paid
again by every plan. The index keeps, for the pipelines folder's tree id it describes, each unit
name already searched for (its token) with the definition files that contain it as a word, and
what those files refer to: the shared modules they import and the lines where they name a shared
path. A later plan asks git which definition files differ between that tree and its own (one
`diff-tree`, whose cost is the size of the difference, not of the repository) and rereads those
only. The checks of definition files (`mlops_bot.repo.checks`) are kept too, by blob id.

The file is `<state_dir>/cache/imports-<hash>.json` (the hash of the layout settings it depends
on). It is only a cache: a file that is unreadable or of another format is rebuilt with a
warning, and it is replaced by an atomic rename, so concurrent plans never read half of one.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from posixpath import dirname
from typing import Any

from mlops_bot.repo.cache_files import read_cache, warn_ignored, write_cache
from mlops_bot.repo.git import EMPTY_TREE, GitError
from mlops_bot.repo.imports import References, module_name, scan
from mlops_bot.repo.layout import Problem
from mlops_bot.repo.sources import Sources

__all__ = ["DEFINITION_GLOBS", "FORMAT", "ImportIndex", "index_file"]

FORMAT = 1
# Definition files, relative to the pipelines folder: the shared scan reads these, no others.
DEFINITION_GLOBS = [":(glob)*/definition.py", ":(glob)*/components/*/definition.py"]
_MAX_TOKENS = 64  # unit names kept, the most recently used first
_MAX_CHECKS = 50_000  # check results kept; past that only the last plan's are kept
_SHA = re.compile(r"[0-9a-f]{40}")


def index_file(state_dir: Path, pipelines_dir: str, shared: list[str]) -> Path:
    import hashlib  # here: a plan that keeps no cache need not pay for importing it

    key = json.dumps([FORMAT, pipelines_dir.rstrip("/"), sorted(s.rstrip("/") for s in shared)])
    return state_dir / "cache" / f"imports-{hashlib.sha256(key.encode()).hexdigest()[:16]}.json"


class ImportIndex:
    """The index of one repository layout, loaded from `file` (None: kept in memory only)."""

    def __init__(self, file: Path | None, pipelines_dir: str, shared: list[str]) -> None:
        self.file = file
        self._dir = pipelines_dir.rstrip("/")
        self._roots = [s.rstrip("/") for s in shared]
        # every module a shared change taints starts with one of these (see shared.py)
        self._firsts = {module_name(r, dirname(r)).split(".")[0] for r in self._roots}
        self._needles = {r.removesuffix(".py") for r in self._roots}
        self._tree: str | None = None
        self._tokens: dict[str, list[str]] = {}  # unit name -> files containing it as a word
        self._files: dict[str, References] = {}  # path below pipelines_dir -> its references
        self._checks: dict[str, list[list[Any]]] = {}
        self._used: set[str] = set()
        self._dirty = False
        if file is not None:
            self._load(file)

    def answers(self, paths: Iterable[str]) -> bool:
        """Whether the index can tell which files name these unit paths: each starts with a
        shared root and has no line break (the index keeps the lines from a root on)."""
        return all("\n" not in p and (p in self._needles or any(
            p.startswith(r + "/") for r in self._roots)) for p in paths)

    def definitions(self, sources: Sources, head: str,
                    tokens: Iterable[str]) -> list[tuple[str, References]]:
        """Definition files at `head` that contain one of `tokens` as a word, sorted by path (from
        the repository root), with the shared modules they import and where they name shared
        paths: what `git grep -w` and parsing them would find."""
        wanted = sorted(set(tokens))
        self._update(sources, head)
        missing = [t for t in wanted if t not in self._tokens]
        if missing:
            self._search(sources, missing)
        for token in wanted:  # most recently used first
            self._tokens = {token: self._tokens.pop(token), **self._tokens}
        found = {rel for t in wanted for rel in self._tokens[t]}
        return [(f"{self._dir}/{rel}", self._files[rel]) for rel in sorted(found)
                if rel in self._files]

    def check(self, sha: str, kind: str, path: str,
              compute: Callable[[], list[Problem]]) -> list[Problem]:
        """The problems of blob `sha` by check `kind`, computed once per blob."""
        key = f"{sha}:{kind}"
        self._used.add(key)
        if key not in self._checks:
            self._checks[key] = [[p.message, p.line] for p in compute()]
            self._dirty = True
        return [Problem(path, message, line) for message, line in self._checks[key]]

    def save(self) -> None:
        """Write the index if it changed, by an atomic rename; a failure only warns."""
        if self.file is None or not self._dirty:
            return
        if len(self._checks) > _MAX_CHECKS:
            self._checks = {k: v for k, v in self._checks.items() if k in self._used}
        tokens = dict(list(self._tokens.items())[:_MAX_TOKENS])
        kept = {rel for files in tokens.values() for rel in files}
        document = {"format": FORMAT, "pipelines_dir": self._dir, "shared": self._roots,
                    "tree": self._tree, "tokens": tokens, "checks": self._checks,
                    "files": {rel: [sorted(refs.modules), list(refs.texts)]
                              for rel, refs in self._files.items() if rel in kept}}
        write_cache(self.file, document, "searches the definition files again")
        self._dirty = False

    def _update(self, sources: Sources, head: str) -> None:
        """Bring the index from its tree to `head`'s, rereading the files that differ."""
        repo = sources.repo
        found = repo.entry(head, self._dir)
        tree = found[0] if found and found[1] == "tree" else EMPTY_TREE
        if tree == self._tree:
            return
        changes: list[tuple[str, str | None]] = []
        if self._tree is not None and self._tokens:
            try:
                changes = repo.blob_changes(self._tree, tree, DEFINITION_GLOBS)
            except GitError:  # the cached tree is not in this clone: start over
                self._tokens, self._files = {}, {}
        self._tree, self._dirty = tree, True
        if not self._tokens:
            self._files = {}
            return
        for rel, _ in changes:
            self._files.pop(rel, None)
            for files in self._tokens.values():
                if rel in files:
                    files.remove(rel)
        self._add(sources, [(rel, sha) for rel, sha in changes if sha], list(self._tokens))

    def _search(self, sources: Sources, tokens: list[str]) -> None:
        """Index `tokens` at the current tree: one `git grep`, then the files it finds."""
        assert self._tree is not None
        for token in tokens:
            self._tokens[token] = []
        if self._tree == EMPTY_TREE:
            return
        found = sources.repo.grep_words(self._tree, tokens, DEFINITION_GLOBS)
        blobs = sources.repo.tree(self._tree, found, recursive=False)
        self._add(sources, [(e.path, e.sha) for e in blobs if e.kind == "blob"], tokens)
        self._dirty = True

    def _add(self, sources: Sources, files: list[tuple[str, str]], tokens: list[str]) -> None:
        patterns = {t: re.compile(rb"(?<![A-Za-z0-9_])" + re.escape(t.encode()) +
                                  rb"(?![A-Za-z0-9_])") for t in tokens}
        for rel, sha in files:
            source = sources.read(sha)
            if b"\0" in source[:8000]:
                continue  # git grep skips binary files (as git tells them), so did the scan
            hits = [t for t, pattern in patterns.items() if pattern.search(source)]
            for token in hits:
                self._tokens[token].append(rel)
            if hits and rel not in self._files:
                self._files[rel] = self._scan(sources, sha, f"{self._dir}/{rel}")
        for token in tokens:
            self._tokens[token].sort()

    def _scan(self, sources: Sources, sha: str, path: str) -> References:
        """What `References.first_match` needs of a file to find a shared change: the imports
        of shared modules, the rest of each line from a `<root>/`, each root-level unit named."""
        try:
            refs = scan(sources.parse(sha, path), sources.read(sha), path, None)
        except SyntaxError:
            return References(frozenset(), ())  # reported by the definition checks
        text = refs.texts[0]
        texts = [n for n in sorted(self._needles) if n in text]
        for root in self._roots:
            start = text.find(root + "/")
            while start != -1:
                end = text.find("\n", start)
                texts.append(text[start:] if end == -1 else text[start:end])
                start = text.find(root + "/", start + 1)
        modules = frozenset(m for m in refs.modules if m.split(".")[0] in self._firsts)
        return References(modules, tuple(dict.fromkeys(texts)))

    def _load(self, file: Path) -> None:
        reason = read_cache(file, self._read)
        if reason is not None:
            self._tree, self._tokens, self._files, self._checks = None, {}, {}, {}
            self._reject(file, reason)

    def _read(self, data: dict[str, Any]) -> None:
        if data["format"] != FORMAT or data["pipelines_dir"] != self._dir or (
                data["shared"] != self._roots):
            raise ValueError("written for another format or layout")
        tree = data["tree"]  # None: the plans so far only checked files (no shared change)
        if tree is not None and not _SHA.fullmatch(tree):
            raise ValueError(f"bad tree id {tree!r}")
        files = {}
        for rel, (modules, texts) in data["files"].items():
            if not all(isinstance(x, str) for x in [rel, *modules, *texts]):
                raise ValueError(f"bad entry for {rel!r}")
            files[rel] = References(frozenset(modules), tuple(texts))
        tokens = data["tokens"]
        for token, paths in tokens.items():
            if not isinstance(paths, list) or any(p not in files for p in paths):
                raise ValueError(f"bad file list for {token!r}")
        checks = data["checks"]
        for key, problems in checks.items():
            if not all(isinstance(m, str) and (line is None or type(line) is int)
                       for m, line in problems):
                raise ValueError(f"bad check result {key!r}")
        self._tree, self._tokens, self._files, self._checks = tree, tokens, files, checks

    def _reject(self, file: Path, reason: str) -> None:
        warn_ignored(file, reason)
        self._dirty = True

