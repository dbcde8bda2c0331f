"""Fixtures of the action tests: a repository pushed once per module (the fake GitHub is in
tests/conftest.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.support.cli import cli_json
from tests.support.gitrepo import GitRepoBuilder, pipeline_files

CONFIG = """
environments:
  staging:
    endpoint: alpha-staging
  production:
    endpoint: alpha-production
    deployers: {permission: maintain}
"""


@pytest.fixture(scope="module")
def pushed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A repository whose head was pushed (published and run on the local backend), once."""
    repo = GitRepoBuilder(tmp_path_factory.mktemp("pushed") / "repo")
    head = repo.commit({".gitignore": ".mlops/\n", "mlops.yaml": CONFIG, **pipeline_files("alpha")})
    cli_json("push", cwd=repo.path)
    return repo.path, head


@pytest.fixture
def workspace(pushed: tuple[Path, str], tmp_path: Path) -> tuple[GitRepoBuilder, str]:
    """A copy of the pushed repository, with its runs and locks, for one test to change."""
    source, head = pushed
    shutil.copytree(source, tmp_path / "repo", symlinks=True)
    return GitRepoBuilder(tmp_path / "repo"), head
