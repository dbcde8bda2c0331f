"""The few git questions the planner asks, answered by git itself.

Everything reads commits, never the working tree, so a plan is the same on any machine and in any
checkout state. Each question is one git process, or a line to the one `git cat-file --batch`
kept open for object reads, because process start-up dominates on large repositories. git is
run directly rather than through GitPython: importing GitPython costs more than a whole warm
plan (~60 ms, two `git version` processes among it), and every CLI command that plans paid it.
"""

from __future__ import annotations

import os
import re
import weakref
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from mlops_bot.errors import UserError
from mlops_bot.repo.git_process import GitError, ObjectReader, run_git, work_tree

__all__ = ["EMPTY_TREE", "Change", "GitError", "GitRepo", "TreeEntry"]

# The id of git's empty tree: diffing against it lists every file of a commit as added.
EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
_SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")


@dataclass(frozen=True)
class Change:
    """One path changed between two commits; `old_path` is set for renames."""

    status: str  # A, M, D, R, T (type change) or C (copy), as `git diff --name-status` says
    path: str
    old_path: str | None = None


@dataclass(frozen=True)
class TreeEntry:
    mode: str
    kind: str  # blob, tree or commit (a submodule)
    sha: str
    path: str


class GitRepo:
    """A git repository opened at `path` (any folder inside the work tree)."""

    def __init__(self, path: Path) -> None:
        root = work_tree(Path(path))
        if root is None:
            raise UserError(
                f"{path} is not inside a git repository: run mlops-bot from a clone, or pass "
                "--repo PATH"
            )
        self.root = root
        self._objects = ObjectReader(root)
        weakref.finalize(self, self._objects.close)

    def resolve(self, rev: str) -> str | None:
        """The full SHA of commit `rev`, or None when this clone does not have it."""
        found = self._object(f"{rev}^{{commit}}") if _SHA.fullmatch(rev) else None
        if found is not None and found[1] == "commit":
            return found[0]
        try:
            out = self._git("rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")
        except GitError:
            return None
        return out.strip() or None

    def root_tree(self, commit: str) -> str | None:
        """The id of `commit`'s root tree, or None when this clone does not have it."""
        found = self._object(f"{commit}^{{tree}}")
        if found is not None and found[1] == "tree":
            return found[0]
        return None

    def merge_base(self, a: str, b: str) -> str | None:
        try:
            out = self._git("merge-base", a, b)
        except GitError:
            return None
        return out.strip() or None

    def branch_tips(self, limit: int) -> list[str]:
        """The commits this clone's branches and remote-tracking branches point to, the most
        recently committed first, at most `limit`."""
        out = self._git("for-each-ref", "--sort=-committerdate", "--format=%(objectname)",
                        "refs/heads", "refs/remotes")
        return list(dict.fromkeys(out.split()))[:limit]

    def parent(self, commit: str) -> str:
        """The first parent of `commit`, or the empty tree for a root commit."""
        return self.resolve(f"{commit}~1") or EMPTY_TREE

    def current_branch(self) -> str | None:
        """The checked-out branch, or None when HEAD is detached."""
        try:
            out = self._git("symbolic-ref", "--quiet", "--short", "HEAD")
        except GitError:
            return None
        return out.strip() or None

    def is_clean_at(self, commit: str, paths: list[str]) -> bool:
        """Whether the working tree has `commit` checked out with `paths` unmodified."""
        if self.resolve("HEAD") != commit:
            return False
        status = self._git("status", "--porcelain", "--untracked-files=no", "--", *paths)
        return status.strip() == ""

    def add_worktree(self, path: Path, commit: str) -> None:
        self._git("worktree", "add", "--detach", "--quiet", str(path), commit)

    def remove_worktree(self, path: Path) -> None:
        self._git("worktree", "remove", "--force", str(path))

    def fetch(self, commit: str) -> None:
        """Make sure `commit` is in the clone (a PR head is not in a default-branch checkout).

        In the action the checkout keeps no token (`persist-credentials: false`): the action's
        own token (`INPUT_GITHUB-TOKEN`) is handed to this one git process, through its
        environment, as the header actions/checkout would have stored, scoped to the GitHub
        server, and never written to .git/config where other code could read it. A fetch that
        fails is a UserError with git's own last words (which never hold the token)."""
        if self.resolve(commit) is not None:
            return
        try:
            self._git("fetch", "--no-tags", "--quiet", "origin", commit, env=_auth_env())
        except GitError as error:
            raise UserError(f"could not fetch commit {commit} from the clone's `origin` remote "
                            f"({error}): check that it exists there and that the action's "
                            "`github-token` may read the repository") from None

    def default_branch(self) -> str | None:
        """The branch new branches come from: origin/HEAD, else main, else master."""
        try:
            ref = self._git("symbolic-ref", "--quiet", "refs/remotes/origin/HEAD")
            return ref.strip().removeprefix("refs/remotes/")
        except GitError:
            pass
        for candidate in ("origin/main", "main", "origin/master", "master"):
            if self.resolve(candidate):
                return candidate
        return None

    def changes(self, base: str, head: str) -> list[Change]:
        """Paths changed from `base` to `head`, with renames detected."""
        out = self._git("diff", "--name-status", "-M", "-z", "--no-ext-diff", "--no-color",
                        base, head)
        fields = iter(out.split("\0"))
        changes = []
        for status in fields:
            if not status:
                continue
            kind = status[0]
            if kind in "RC":
                old, new = next(fields), next(fields)
                changes.append(Change(kind, new, old))
            else:
                changes.append(Change(kind, next(fields)))
        return changes

    def tree(self, commit: str, paths: Iterable[str], recursive: bool = True) -> list[TreeEntry]:
        """Entries below `paths` at `commit` (trees included, with their ids)."""
        wanted = sorted(set(paths))
        if not wanted:
            return []
        flags = ["-r", "-t"] if recursive else []
        out = self._git("ls-tree", *flags, "-z", "--full-tree", commit, "--", *wanted)
        return list(_parse_ls_tree(out))

    def read(self, sha: str) -> bytes:
        """The content of blob `sha`."""
        found = self._object(sha)
        if found is not None:
            return found[2]
        data = self.read_many([sha]).get(sha)  # the reader is gone: a process of its own
        if data is None:
            raise GitError(["cat-file", sha], 128, f"object {sha} is missing")
        return data

    def read_many(self, shas: Iterable[str]) -> dict[str, bytes]:
        """The contents of many blobs, read by one `git cat-file --batch` fed them all at once
        (a round trip each through the persistent one costs a millisecond)."""
        wanted = sorted(set(shas))
        if not wanted:
            return {}
        out = run_git(self.root, ["cat-file", "--batch"], "\n".join(wanted).encode() + b"\n")
        found, at = {}, 0
        for sha in wanted:
            header_end = out.index(b"\n", at)
            header = out[at:header_end].split()
            if header[-1] == b"missing":
                at = header_end + 1
                continue
            size = int(header[2])
            found[sha] = out[header_end + 1:header_end + 1 + size]
            at = header_end + 1 + size + 1  # the content, then a line feed
        return found

    def show(self, commit: str, path: str) -> str | None:
        """The text of `path` at `commit`, or None if it does not exist there."""
        if _SHA.fullmatch(commit):
            found = self._object(f"{commit}:{path}")
            if found is not None:
                return found[2].decode("utf-8", "replace") if found[1] == "blob" else None
            if self._object(commit) is not None:
                return None  # the commit answers, the path is not in it
        entries = self.tree(commit, [path], recursive=False)
        blob = next((e for e in entries if e.path == path and e.kind == "blob"), None)
        return self.read(blob.sha).decode("utf-8", "replace") if blob else None

    def entry(self, commit: str, path: str) -> tuple[str, str] | None:
        """(sha, type) of `path` at `commit`, or None if it does not exist there."""
        if _SHA.fullmatch(commit):
            found = self._object(f"{commit}:{path}")
            if found is not None:
                return found[0], found[1]
            if self._object(commit) is not None:
                return None  # the commit answers, the path is not in it
        entries = self.tree(commit, [path], recursive=False)
        return next(((e.sha, e.kind) for e in entries if e.path == path), None)

    def _object(self, name: str) -> tuple[str, str, bytes] | None:
        """(sha, type, content) of object `name` (`<commit>^{commit}`, `<commit>:<path>`) read
        through the persistent `cat-file --batch`: no git process of its own. None when it
        cannot say; callers then ask git as before, which tells a missing object from a
        refused repository."""
        return self._objects.get(name)

    def _git(self, *args: str, env: dict[str, str] | None = None) -> str:
        return run_git(self.root, list(args), env=env).decode("utf-8", "surrogateescape")

    def grep_words(
        self, commit: str, words: Iterable[str], pathspecs: list[str], whole: bool = True
    ) -> list[str]:
        """Paths at `commit` (or in a tree) matching `pathspecs` that contain any of `words` as a
        word (as any substring when not `whole`)."""
        args = ["-l", "-w", "-F", "-I"] if whole else ["-l", "-F", "-I"]
        for word in sorted(set(words)):
            args += ["-e", word]
        try:
            out = self._git("grep", *args, commit, "--", *pathspecs)
        except GitError as error:
            if error.status == 1:  # git grep exits 1 when nothing matches
                return []
            raise
        prefix = f"{commit}:"
        return [line.removeprefix(prefix) for line in out.splitlines() if line]


    def blob_changes(
        self, old_tree: str, new_tree: str, pathspecs: list[str]
    ) -> list[tuple[str, str | None]]:
        """Files of `new_tree` (paths relative to it) that differ from `old_tree`, with their
        new blob ids (None when deleted); renames are a deletion and an addition."""
        out = self._git("diff-tree", "-r", "--no-renames", "-z", old_tree, new_tree, "--",
                        *pathspecs)
        fields = out.split("\0")
        found: list[tuple[str, str | None]] = []
        for meta, path in zip(fields[0::2], fields[1::2], strict=False):
            parts = meta.split(" ")
            if len(parts) == 5 and path:
                found.append((path, None if parts[4] == "D" else parts[3]))
        return found


def _auth_env() -> dict[str, str]:
    import base64

    token = os.environ.get("INPUT_GITHUB-TOKEN") or os.environ.get("INPUT_GITHUB_TOKEN")
    if not token:
        return {}
    server = os.environ.get("GITHUB_SERVER_URL") or "https://github.com"
    basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
    given = int(os.environ.get("GIT_CONFIG_COUNT") or 0)  # keep settings passed this way already
    return {"GIT_CONFIG_COUNT": str(given + 1),
            f"GIT_CONFIG_KEY_{given}": f"http.{server.rstrip('/')}/.extraheader",
            f"GIT_CONFIG_VALUE_{given}": f"AUTHORIZATION: basic {basic}"}


def _parse_ls_tree(out: str) -> Iterator[TreeEntry]:
    for record in out.split("\0"):
        if not record:
            continue
        meta, _, path = record.partition("\t")
        mode, kind, sha = meta.split(" ")
        yield TreeEntry(mode, kind, sha, path)
