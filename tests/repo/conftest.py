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
    """The plan with the planning cache, after checking that it equals the plan without it (the
    cache kept by this test's earlier plans in the repository's state folder)."""
    repo = GitRepo(builder.path)
    expected = ChangePlanner(repo, default_branch, cache=False).plan(base, head).to_dict()
    cached = ChangePlanner(repo, default_branch).plan(base, head)
    assert cached.to_dict() == expected, f"cached plan differs for {base[:8]}..{head[:8]}"
    return cached
