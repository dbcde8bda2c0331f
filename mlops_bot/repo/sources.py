"""Blobs and their syntax trees, each read and parsed once per plan.

The shared-library scan and the definition checks look at the same definition files; on a large
monorepo reading and parsing them twice is a noticeable share of planning time.
"""

from __future__ import annotations

import ast

from mlops_bot.repo.git import GitRepo

__all__ = ["Sources"]


class Sources:
    def __init__(self, repo: GitRepo) -> None:
        self.repo = repo
        self._texts: dict[str, bytes] = {}
        self._trees: dict[str, ast.Module | SyntaxError] = {}

    def read(self, sha: str) -> bytes:
        if sha not in self._texts:
            self._texts[sha] = self.repo.read(sha)
        return self._texts[sha]

    def parse(self, sha: str, path: str) -> ast.Module:
        """The syntax tree of blob `sha`; raises SyntaxError (naming `path`) when it has none."""
        if sha not in self._trees:
            try:
                self._trees[sha] = ast.parse(self.read(sha), filename=path)
            except SyntaxError as error:
                self._trees[sha] = error
        tree = self._trees[sha]
        if isinstance(tree, SyntaxError):
            raise SyntaxError(tree.msg, (path, tree.lineno, tree.offset, tree.text))
        return tree
