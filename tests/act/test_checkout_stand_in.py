"""The actions/checkout stand-in, without act: a fresh clone at the event's commit or at `ref`,
as deep as asked, and the job's token in .git/config exactly when persist-credentials is true
(what the act tests' "no token in .git/config" checks rely on)."""

from __future__ import annotations

import base64
import os
import subprocess
from pathlib import Path

import pytest

from tests.support.gitrepo import GitRepoBuilder

SCRIPT = Path(__file__).parent / "actions" / "checkout" / "checkout.sh"
TOKEN = "ghs_theJobsToken"


@pytest.fixture
def origin(tmp_path: Path) -> GitRepoBuilder:
    repo = GitRepoBuilder(tmp_path / "origin")
    repo.commit({"a.txt": "1\n"}, "one")
    repo.commit({"a.txt": "2\n"}, "two")
    repo.git("checkout", "-q", "-b", "feature")
    repo.commit({"b.txt": "3\n"}, "three")
    repo.git("checkout", "-q", "main")
    return repo


def checkout(origin: GitRepoBuilder, tmp: Path, *, ref: str = "", depth: str = "1",
             persist: str = "true", repository: str = "octo/models",
             event_ref: str = "refs/heads/feature") -> subprocess.CompletedProcess[str]:
    workspace = tmp / "workspace"
    workspace.mkdir(exist_ok=True)
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp / "home"),
           "MLOPS_ACT_ORIGIN": str(origin.path), "GITHUB_REPOSITORY": "octo/models",
           "GITHUB_WORKSPACE": str(workspace), "CHECKOUT_REPOSITORY": repository,
           "CHECKOUT_REF": ref, "CHECKOUT_TOKEN": TOKEN, "CHECKOUT_DEPTH": depth,
           "CHECKOUT_PERSIST": persist, "CHECKOUT_PATH": "",
           "CHECKOUT_EVENT_SHA": origin.git("rev-parse", "feature"),
           "CHECKOUT_EVENT_REF": event_ref}
    (tmp / "home").mkdir(exist_ok=True)
    return subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True,
                          timeout=60)


def git(tmp: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(tmp / "workspace"), *args], capture_output=True,
                          text=True, check=True).stdout.strip()


def test_the_event_commit_shallow_with_the_token_kept_by_default(
        origin: GitRepoBuilder, tmp_path: Path) -> None:
    result = checkout(origin, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert git(tmp_path, "rev-parse", "HEAD") == origin.git("rev-parse", "feature")
    assert git(tmp_path, "rev-list", "--count", "HEAD") == "1"
    basic = base64.b64encode(f"x-access-token:{TOKEN}".encode()).decode()
    assert basic in (tmp_path / "workspace" / ".git" / "config").read_text()
    assert "token is kept in .git/config" in result.stdout


def test_ref_with_history_and_no_token(origin: GitRepoBuilder, tmp_path: Path) -> None:
    result = checkout(origin, tmp_path, ref="main", depth="0", persist="false")
    assert result.returncode == 0, result.stdout + result.stderr
    assert git(tmp_path, "rev-parse", "HEAD") == origin.git("rev-parse", "main")
    assert git(tmp_path, "rev-list", "--count", "HEAD") == "2"
    assert "origin/feature" in git(tmp_path, "branch", "-r")
    assert "extraheader" not in (tmp_path / "workspace" / ".git" / "config").read_text()
    assert "token is kept" not in result.stdout


def test_another_repository_cannot_be_cloned(origin: GitRepoBuilder, tmp_path: Path) -> None:
    result = checkout(origin, tmp_path, repository="someone/else")
    assert result.returncode != 0
    assert "only octo/models" in result.stdout
