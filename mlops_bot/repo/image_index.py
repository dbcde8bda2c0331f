"""Which files name an image, cached in the state folder between plans.

A plan that rebuilds an image looks for the files that may name it (`image_users.py`): a
`git grep` for the image names over every Python and YAML file below the pipelines folder and the
library paths. On 10,000 pipelines that one search is most of the plan, and every plan that
rebuilds an image pays it again. The index keeps, for the commit tree it describes and the
pathspecs searched, each image name already searched for with the files that contain it. A later
plan asks git which of those files differ between that tree and its own (one `diff-tree`, whose
cost is the size of the difference) and rereads only those. What the grep finds is all it keeps:
`image_users` reads and matches those files as it would without the index.

The file is `<state_dir>/cache/images-<hash>.json`. It is only a cache: a file that is unreadable
or of another format is rebuilt with a warning, and it is replaced by an atomic rename.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from mlops_bot.repo.cache_files import read_cache, warn_ignored, write_cache
from mlops_bot.repo.git import GitError, GitRepo

__all__ = ["FORMAT", "ImageIndex", "image_index_file", "read_files"]

FORMAT = 1
_MAX_NAMES = 64  # image names kept, the most recently used first
_SHA = re.compile(r"[0-9a-f]{40}")
_ATTRIBUTES = ":(glob)**/.gitattributes"
# paths git prints as they are (core.quotepath quotes the rest): the only ones kept incrementally
_PLAIN = re.compile(r'[\x20\x21\x23-\x5b\x5d-\x7e]+')


def image_index_file(state_dir: Path, pipelines_dir: str, shared: list[str]) -> Path:
    import hashlib

    key = json.dumps([FORMAT, pipelines_dir.rstrip("/"), sorted(s.rstrip("/") for s in shared)])
    return state_dir / "cache" / f"images-{hashlib.sha256(key.encode()).hexdigest()[:16]}.json"


class ImageIndex:
    """Files naming image names, for one tree and one set of pathspecs (None: in memory only)."""

    def __init__(self, file: Path | None) -> None:
        self.file = file
        self._tree: str | None = None
        self._specs: list[str] = []
        self._names: dict[str, list[str]] = {}  # image name -> files containing it, sorted
        self._dirty = False
        self._loaded = file is None  # read on first use: most plans rebuild no image

    def files(self, repo: GitRepo, commit: str, names: list[str],
              specs: list[str]) -> dict[str, list[str]]:
        """Image name -> the paths at `commit` matching `specs` that may contain it: every path
        `git grep -l -F -I` lists, spelled as it spells them, and perhaps a few more (a file
        naming it in a way that is no image is read and dropped by the caller anyway)."""
        if not self._loaded:
            assert self.file is not None
            self._loaded = True
            self._load(self.file)
        root = repo.root_tree(commit)
        if root is None:
            found = repo.grep_words(commit, names, specs, whole=False)
            return {name: found for name in names}
        self._update(repo, commit, root, specs)
        missing = [n for n in names if n not in self._names]
        if missing:
            found = repo.grep_words(commit, missing, specs, whole=False)
            contents = read_files(repo, root, found)
            for name in missing:
                needle = name.encode()
                # a path git quoted is not found by ls-tree: kept for every name, as grep said
                self._names[name] = sorted(p for p in found
                                           if p not in contents or needle in contents[p])
            self._dirty = True
        for name in names:  # most recently used first
            self._names = {name: self._names.pop(name), **self._names}
        return {name: self._names[name] for name in names}

    def save(self) -> None:
        """Write the index if it changed, by an atomic rename; a failure only warns."""
        if self.file is None or not self._dirty:
            return
        document = {"format": FORMAT, "tree": self._tree, "specs": self._specs,
                    "names": dict(list(self._names.items())[:_MAX_NAMES])}
        write_cache(self.file, document, "searches for image names again")
        self._dirty = False

    def _update(self, repo: GitRepo, commit: str, tree: str, specs: list[str]) -> None:
        """Bring the index to `commit`'s tree and `specs`, searching the files that differ."""
        if tree == self._tree and specs == self._specs:
            return
        changes: list[tuple[str, str | None]] = []
        if specs != self._specs or self._tree is None:
            self._names = {}
        elif self._names:
            try:
                changes = repo.blob_changes(self._tree, tree, [*specs, _ATTRIBUTES])
            except GitError:  # the cached tree is not in this clone: start over
                self._names = {}
        self._tree, self._specs, self._dirty = tree, list(specs), True
        if any(path.endswith(".gitattributes") or not _PLAIN.fullmatch(path)
               for path, _ in changes):
            # what git takes for binary may have changed, or git grep would quote the path
            self._names, changes = {}, []
        present = [path for path, sha in changes if sha]
        if not self._names or not changes:
            return
        # git grep itself tells text from binary (.gitattributes may say so): asked of the
        # changed files only, a few thousand at a time
        found = [path for i in range(0, len(present), 2000) for path in repo.grep_words(
            commit, list(self._names), [f":(literal){p}" for p in present[i:i + 2000]],
            whole=False)]
        contents = read_files(repo, tree, found)
        changed = {path for path, _ in changes}
        for name, paths in self._names.items():
            needle = name.encode()
            kept = [p for p in paths if p not in changed]
            kept += [p for p in found if p not in contents or needle in contents[p]]
            self._names[name] = sorted(set(kept))

    def _load(self, file: Path) -> None:
        reason = read_cache(file, self._read)
        if reason is not None:
            self._tree, self._specs, self._names = None, [], {}
            self._reject(file, reason)

    def _read(self, data: dict[str, Any]) -> None:
        if data["format"] != FORMAT:
            raise ValueError("written for another format")
        tree, specs, names = data["tree"], data["specs"], data["names"]
        if not (isinstance(tree, str) and _SHA.fullmatch(tree)):
            raise ValueError(f"bad tree id {tree!r}")
        if not (isinstance(specs, list) and all(isinstance(s, str) for s in specs)):
            raise ValueError("bad pathspecs")
        for name, paths in names.items():
            if not (isinstance(paths, list) and all(isinstance(p, str) for p in paths)
                    and paths == sorted(set(paths))):
                raise ValueError(f"bad file list for {name!r}")
        self._tree, self._specs, self._names = tree, specs, dict(names)

    def _reject(self, file: Path, reason: str) -> None:
        warn_ignored(file, reason)
        self._dirty = True


def read_files(repo: GitRepo, tree: str, paths: list[str]) -> dict[str, bytes]:
    """The contents of the files `paths` at `tree` (a commit or tree; those ls-tree finds),
    listed a few thousand at a time (a command line has a length limit) and read by one
    process: a round trip per file through `show` costs a millisecond each."""
    entries = [e for i in range(0, len(paths), 2000)
               for e in repo.tree(tree, paths[i:i + 2000], recursive=False)]
    wanted = set(paths)
    blobs = {e.path: e.sha for e in entries if e.kind == "blob" and e.path in wanted}
    texts = repo.read_many(blobs.values())
    return {path: texts[sha] for path, sha in blobs.items() if sha in texts}
