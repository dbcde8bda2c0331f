"""A repository owned by another user: git refuses it, and mlops-bot says so instead of reporting
a missing commit (self-hosted runners, root-owned checkouts read by a non-root container)."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from mlops_bot.errors import UserError
from mlops_bot.github.action import trust_workspace
from mlops_bot.repo.git import GitRepo
from mlops_bot.repo.planner import ChangePlanner
from tests.support.gitrepo import GitRepoBuilder, pipeline_files

OTHER_UID = 4321


@pytest.fixture
def foreign(builder: GitRepoBuilder, monkeypatch: pytest.MonkeyPatch) -> tuple[GitRepoBuilder, str]:
    """A repository owned by another uid, read with no safe.directory in any configuration."""
    if os.geteuid() != 0:
        pytest.skip("handing a repository to another uid needs root")
    head = builder.commit(pipeline_files("alpha"))
    for folder, dirs, files in os.walk(builder.path):
        for name in [folder, *(os.path.join(folder, n) for n in dirs + files)]:
            os.lchown(name, OTHER_UID, OTHER_UID)
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    return builder, head


def test_a_repository_owned_by_another_user_is_named_with_the_fix(foreign):
    builder, head = foreign
    with pytest.raises(UserError) as caught:
        ChangePlanner(GitRepo(builder.path)).plan(head, head)
    message = str(caught.value)
    assert "owned by another user" in message and "not a commit" not in message
    assert f"git config --global --add safe.directory {builder.path}" in message


def test_the_action_trusts_its_workspace_and_keeps_git_settings_given_before(foreign, monkeypatch):
    builder, head = foreign
    for name in ("GIT_CONFIG_COUNT", *(f"GIT_CONFIG_{kind}_{i}" for kind in ("KEY", "VALUE")
                                       for i in range(4))):
        monkeypatch.delenv(name, raising=False)  # restored after the test
    monkeypatch.setenv("GIT_CONFIG_COUNT", "1")  # a setting the workflow passed already
    monkeypatch.setenv("GIT_CONFIG_KEY_0", "core.abbrev")
    monkeypatch.setenv("GIT_CONFIG_VALUE_0", "9")
    trust_workspace(builder.path)
    repo = GitRepo(builder.path)
    assert repo.resolve("HEAD") == head
    short = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=builder.path,
                           capture_output=True, text=True, check=True).stdout.strip()
    assert short == head[:9]  # the setting given before still applies
    # Only that workspace: a copy elsewhere, owned by the same other user, is still refused.
    other = builder.path.parent / "other"
    shutil.copytree(builder.path, other, symlinks=True)
    for folder, _, files in os.walk(other):
        for name in [folder, *(os.path.join(folder, n) for n in files)]:
            os.lchown(name, OTHER_UID, OTHER_UID)
    with pytest.raises(UserError, match="owned by another user"):
        GitRepo(other).resolve("HEAD")
