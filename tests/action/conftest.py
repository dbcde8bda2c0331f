"""Fixtures of the action tests: a repository pushed once per module through the action, whose
check runs each test's fake GitHub (tests/conftest.py) is given."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.support.fake_github import FakeGitHub
from tests.support.gitrepo import GitRepoBuilder, pipeline_files
from tests.support.run_checks import give_checks, pushed_with_checks

CONFIG = """
environments:
  staging:
    endpoint: alpha-staging
  production:
    endpoint: alpha-production
    deployers: {permission: maintain}
"""

Pushed = tuple[Path, str, list[dict[str, Any]]]


@pytest.fixture(scope="module")
def pushed(tmp_path_factory: pytest.TempPathFactory) -> Pushed:
    """A repository whose head was pushed by the push job (published and run on the local
    backend, check runs written), once."""
    folder = tmp_path_factory.mktemp("pushed")
    repo = GitRepoBuilder(folder / "repo")
    base = repo.commit({".gitignore": ".mlops/\n", "mlops.yaml": CONFIG})
    head = repo.commit(pipeline_files("alpha"))
    return repo.path, head, pushed_with_checks(repo.path, folder, base, head)


@pytest.fixture
def workspace(pushed: Pushed, tmp_path: Path, github: FakeGitHub) -> tuple[GitRepoBuilder, str]:
    """A copy of the pushed repository, with its runs, for one test to change; the test's fake
    GitHub holds the push job's check runs."""
    source, head, checks = pushed
    shutil.copytree(source, tmp_path / "repo", symlinks=True)
    give_checks(github, checks)
    return GitRepoBuilder(tmp_path / "repo"), head
