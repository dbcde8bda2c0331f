"""The shipped workflows keep the planning cache between runs (their actions/cache step), under
act.

GitHub's cache service is the actions/cache stand-in's folder (tests/act/actions/cache/cache.js,
mounted by tests/support/act.py), with GitHub's branch scopes: a push to main saves main's
entry; the first push of a new branch, which has none of its own, restores main's and plans
with it; `/plan` (the comment job, on main) restores main's and saves nothing; a pull request's
plan saves in its own scope only. The state folder is where a hosted runner has it (no
MLOPS_BOT_STATE_DIR): `.mlops` in the workspace, which the action's container sees as
/github/workspace.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import pytest

from tests.act.test_workflows_under_act import (
    PUSH,
    REPOSITORY,
    TOKEN,
    Project,
    init_project,
    new_github,
    push_event,
    repository_json,
)
from tests.support.act import Act, ActRun
from tests.support.docker import require_docker

pytestmark = [pytest.mark.docker, pytest.mark.act, pytest.mark.usefixtures("docker_engine")]

PLAN = ".github/workflows/mlops-plan.yml"
# What the state folder's cache/ holds (README.md's layout of `.mlops/`).
CACHE_FILE = re.compile(r"\.gitignore|parameters\.json|(imports|images)-[0-9a-f]{16}\.json")


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    require_docker()
    tmp, github = tmp_path_factory.mktemp("act-cache"), new_github()
    act = Act(tmp, github.url, TOKEN, repository=REPOSITORY)
    yield init_project(tmp, github, act)
    github.stop()


def saved(act: Act, ref: str, key: str) -> Path:
    """The files the stand-in saved under `key` in `ref`'s scope, as GitHub would keep them."""
    entry = act.actions_cache / quote(ref, safe="") / quote(key, safe="")
    assert json.loads((entry / "meta.json").read_text())["key"] == key
    return entry / "data"


def tokens(cache: Path) -> set[str]:
    """The unit names the import index (`imports-<hash>.json`) has searched the definitions for."""
    [index] = cache.glob("imports-*.json")
    return set(json.loads(index.read_text())["tokens"])


@dataclass
class Pushes:
    main: str  # a commit on main, pushed first
    beta: str  # the first commit of branch beta (from main), pushed second
    first: ActRun
    second: ActRun


@pytest.fixture(scope="module")
def pushes(project: Project) -> Pushes:
    # A shared unit no pipeline imports: the plan searches the definition files for it, keeps
    # that in the import index, and finds nothing to rebuild (nothing to build or run here).
    main = project.on_branch("main", {"components/alpha_unit/util.py": "A = 1\n"}, "alpha")
    first = project.act.run(project.repo.path, PUSH, "push",
                            push_event("main", project.main, main))
    project.repo.git("branch", "beta", main)
    beta = project.on_branch("beta", {"components/beta_unit/util.py": "B = 1\n"}, "beta")
    second = project.act.run(project.repo.path, PUSH, "push", push_event("beta", "0" * 40, beta))
    return Pushes(main, beta, first, second)


def test_a_new_branch_plans_with_the_cache_the_default_branch_saved(
        project: Project, pushes: Pushes) -> None:
    pushes.first.assert_ok()
    assert pushes.first.jobs["push"].outputs["reason_code"] == "nothing_changed"
    assert "Cache not found for input keys: mlops-plan-cache-main-" in pushes.first.log
    on_main = saved(project.act, "refs/heads/main", f"mlops-plan-cache-main-{pushes.main}")
    # Only the state folder's cache/, not the folder itself (registry, runs...).
    assert all(CACHE_FILE.fullmatch(p.name) for p in on_main.iterdir()), list(on_main.iterdir())
    assert tokens(on_main) == {"alpha_unit"}

    pushes.second.assert_ok()
    assert pushes.second.jobs["push"].outputs["reason_code"] == "nothing_changed"
    assert f"Cache restored from key: mlops-plan-cache-main-{pushes.main}" in pushes.second.log
    # The plan started from main's index (a cold plan of this push would know beta_unit only)
    # and brought it to its own commit: the entry this branch now has.
    on_beta = saved(project.act, "refs/heads/beta", f"mlops-plan-cache-beta-{pushes.beta}")
    assert tokens(on_beta) == {"alpha_unit", "beta_unit"}
    assert "warning: ignored the planning cache" not in pushes.second.log


def test_plan_from_a_comment_restores_the_default_branchs_cache_and_saves_none(
        project: Project, pushes: Pushes) -> None:
    project.github.add_pull(7, pushes.beta, head_ref="beta", author="alice", repo=REPOSITORY)
    before = entries(project.act)

    run = project.comment(7, "alice", "/plan")

    run.assert_ok()
    assert run.jobs["command"].outputs["reason_code"] == "ok", run.tail()
    # The comment job runs on main: main's entry of this very commit.
    assert f"Cache restored from key: mlops-plan-cache-main-{pushes.main}" in run.log
    assert entries(project.act) == before  # actions/cache/restore saves nothing


def test_a_pull_requests_plan_saves_only_in_its_own_scope(
        project: Project, pushes: Pushes) -> None:
    project.github.add_pull(8, pushes.beta, head_ref="beta", author="alice", repo=REPOSITORY)
    before = entries(project.act)

    run = project.act.run(project.repo.path, PLAN, "pull_request",
                          pull_request_event(8, pushes.main, pushes.beta))

    run.assert_ok()
    assert run.jobs["plan"].outputs["reason_code"] == "nothing_changed", run.tail()
    # No entry of its own yet: the base branch's newest.
    assert f"Cache restored from key: mlops-plan-cache-main-{pushes.main}" in run.log
    added = entries(project.act) - before
    assert [scope for scope, _ in added] == ["refs/pull/8/merge"], added
    assert tokens(saved(project.act, *added.pop())) == {"alpha_unit", "beta_unit"}


def entries(act: Act) -> set[tuple[str, str]]:
    """(scope, key) of every entry the stand-in keeps."""
    return {(unquote(scope.name), unquote(entry.name))
            for scope in act.actions_cache.iterdir() if scope.is_dir()
            and not scope.name.startswith(".") for entry in scope.iterdir()}


def pull_request_event(number: int, base: str, head: str) -> dict[str, Any]:
    """A pull request of branch beta into main, as GitHub sends `synchronize`."""
    return {"action": "synchronize", "number": number, "repository": repository_json(),
            "pull_request": {"number": number, "base": {"sha": base, "ref": "main"},
                             "head": {"sha": head, "ref": "beta"}}}
