from __future__ import annotations

from pathlib import Path

import pytest

from mlops_bot.repo.git import GitRepo
from mlops_bot.repo.plan import Plan
from mlops_bot.repo.planner import ChangePlanner
from tests.support.gitrepo import GitRepoBuilder


@pytest.fixture
def builder(tmp_path: Path) -> GitRepoBuilder:
    return GitRepoBuilder(tmp_path / "repo")


def plan(builder: GitRepoBuilder, base: str, head: str, default_branch: str | None = None) -> Plan:
    return ChangePlanner(GitRepo(builder.path), default_branch).plan(base, head)
