"""A folder holding exactly the files of a commit, for building and compiling.

Plans read commits; builds and compiles read files. When the working tree is that commit with the
relevant paths untouched it is used as is; otherwise a temporary `git worktree` of the commit is
made, so local edits never leak into a published version and any commit can be pushed.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from mlops_bot.repo.git import GitRepo

__all__ = ["checkout"]


@contextlib.contextmanager
def checkout(repo: GitRepo, commit: str, paths: list[str]) -> Iterator[Path]:
    if repo.is_clean_at(commit, paths):
        yield repo.root
        return
    parent = Path(tempfile.mkdtemp(prefix="mlops-bot-checkout-"))
    tree = parent / "tree"
    repo.add_worktree(tree, commit)
    try:
        yield tree
    finally:
        repo.remove_worktree(tree)
        shutil.rmtree(parent, ignore_errors=True)
