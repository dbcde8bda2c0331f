"""This repository's own workflows under nektos/act, on a copy of the checkout as it is: the
dogfood push workflow (`uses: ./`, the action built from this Dockerfile) and `ci.yml`.

What act does not model (approvals, token permissions, OIDC claims, concurrency, trigger filters)
is listed in test_workflows_under_act.py with what checks it instead. `ci.yml`'s test job runs
only with MLOPS_BOT_ACT_CI=1 (`.ci/run` sets it; its lint job runs every time): the whole
install, Docker set-up, ruff and mypy as GitHub's runner runs them, and of the suite the tests
that need the engine (what differs as the runner's user, uid 1001), since the rest of the suite
has just run on the host; the whole suite again would double CI's time.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.act.test_workflows_under_act import REPOSITORY, TOKEN, new_github, push_event
from tests.support.act import Act
from tests.support.docker import require_docker
from tests.support.fake_github import FakeGitHub
from tests.support.gitrepo import GitRepoBuilder

pytestmark = [pytest.mark.docker, pytest.mark.act, pytest.mark.usefixtures("docker_engine")]

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def github() -> Iterator[FakeGitHub]:
    fake = new_github()
    yield fake
    fake.stop()


def copy_of_this_checkout(path: Path, github: FakeGitHub) -> GitRepoBuilder:
    """The files of this checkout that git would commit (tracked or new, not ignored), as they
    are now, committed on main of a new repository: what the action image is built from too."""
    repo = GitRepoBuilder(path)
    tracked = subprocess.run(["git", "ls-files", "-z", "--cached", "--others",
                              "--exclude-standard"], cwd=ROOT, capture_output=True,
                             check=True).stdout.decode().split("\0")
    for name in filter(None, tracked):
        source = ROOT / name
        if source.is_file():  # a file deleted in the working tree is not copied
            (repo.path / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, repo.path / name)
    github.repo(REPOSITORY).commits.add(repo.commit(message="this checkout"))
    return repo


@pytest.fixture(scope="module")
def checkout(tmp_path_factory: pytest.TempPathFactory, github: FakeGitHub) -> GitRepoBuilder:
    require_docker()
    return copy_of_this_checkout(tmp_path_factory.mktemp("own") / "repo", github)


@pytest.fixture(scope="module")
def act(tmp_path_factory: pytest.TempPathFactory, github: FakeGitHub) -> Act:
    tmp = tmp_path_factory.mktemp("own-act")
    return Act(tmp, github.url, TOKEN, repository=REPOSITORY, state_dir=tmp / "state")


def test_the_own_push_workflow_runs_the_action_from_this_dockerfile(
        checkout: GitRepoBuilder, act: Act, github: FakeGitHub) -> None:
    base = checkout.head()
    checkout.git("checkout", "-q", "-b", "docs")
    head = checkout.commit({"docs-note.md": "A note.\n"}, "a note")
    checkout.git("checkout", "-q", "main")
    github.repo(REPOSITORY).commits.add(head)

    run = act.run(checkout.path, ".github/workflows/mlops-push.yml", "push",
                  push_event("docs", base, head))

    run.assert_ok()
    push = run.jobs["push"]
    assert (push.outputs["decision"], push.outputs["reason_code"]) == ("stop", "nothing_changed")
    assert push.outputs["sha"] == head


def test_ci_lints_the_dockerfile_and_validates_workflows_and_action(
        checkout: GitRepoBuilder, act: Act) -> None:
    run = act.run(checkout.path, ".github/workflows/ci.yml", "push",
                  push_event("main", "0" * 40, checkout.head()), job="lint-action")

    run.assert_ok()
    assert run.jobs["lint-action"].result == "success"
    assert run.jobs["test"].result == "skipped"  # not asked for


@pytest.mark.skipif(os.environ.get("MLOPS_BOT_ACT_CI") != "1",
                    reason="runs ci.yml's test job under act (~5 minutes): MLOPS_BOT_ACT_CI=1")
def test_ci_test_job_passes_as_github_runs_it(tmp_path: Path, github: FakeGitHub) -> None:
    # The job shares the host's /tmp (its tests bind-mount folders there into containers), so its
    # workspace is where the runner's user can reach it, not under pytest's private folder.
    folder = Path(tempfile.mkdtemp(prefix="mlops-bot-act-ci-"))
    folder.chmod(0o755)
    try:
        repo = copy_of_this_checkout(folder / "repo", github)
        # No state folder: the suite in the job makes its own.
        act = Act(tmp_path, github.url, TOKEN, repository=REPOSITORY)
        run = act.run(repo.path, ".github/workflows/ci.yml", "push",
                      push_event("main", "0" * 40, repo.head()), job="test", share_tmp=True,
                      job_env={"PYTEST_ADDOPTS": '-m "docker and not act"'}, timeout=2400)
    finally:
        shutil.rmtree(folder, ignore_errors=True)

    run.assert_ok()
    assert run.jobs["test"].result == "success"
