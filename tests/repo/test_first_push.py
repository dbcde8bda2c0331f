"""The default branch's first push and `--all`: every pipeline is planned, with the reason; a new
branch with no commits of its own still plans nothing."""

from __future__ import annotations

import json
from pathlib import Path

from mlops_bot.repo.git import GitRepo
from mlops_bot.repo.planner import ChangePlanner
from tests.support.cli import cli, cli_json
from tests.support.gitrepo import GitRepoBuilder, pipeline_files

ZEROS = "0" * 40


def two_pipelines(builder: GitRepoBuilder) -> str:
    builder.commit({".gitignore": ".mlops/\n", **pipeline_files("alpha")}, "alpha")
    return builder.commit(pipeline_files("beta"), "beta")


def test_first_push_of_the_default_branch_plans_every_pipeline(tmp_path: Path):
    builder = GitRepoBuilder(tmp_path / "repo")
    head = two_pipelines(builder)
    planner = ChangePlanner(GitRepo(builder.path), cache=False, pushed_default_branch="main")
    result = planner.plan(ZEROS, head)
    assert sorted(p.name for p in result.pipelines) == ["alpha", "beta"]
    assert "first push of the default branch main" in (result.everything_reason or "")


def test_a_new_branch_without_commits_of_its_own_plans_nothing(tmp_path: Path):
    builder = GitRepoBuilder(tmp_path / "repo")
    head = two_pipelines(builder)
    builder.git("checkout", "-q", "-b", "feature")
    result = ChangePlanner(GitRepo(builder.path), cache=False).plan(ZEROS, head)
    assert result.pipelines == []


def test_the_first_push_event_of_main_builds_and_publishes_everything(tmp_path: Path):
    builder = GitRepoBuilder(tmp_path / "repo")
    head = two_pipelines(builder)
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"before": ZEROS, "after": head, "ref": "refs/heads/main",
                                 "repository": {"default_branch": "main"}}))
    env = {"GITHUB_EVENT_NAME": "push", "GITHUB_EVENT_PATH": str(event)}
    document = cli_json("push", cwd=builder.path, env=env)
    assert sorted(v["pipeline"] for v in document["versions"]) == ["alpha", "beta"]
    assert all(v["tags"] == ["latest", "main"] for v in document["versions"])


def test_plan_all_and_push_all_take_every_pipeline_at_head(tmp_path: Path):
    builder = GitRepoBuilder(tmp_path / "repo")
    head = two_pipelines(builder)
    planned = cli_json("plan", "--all", "--head", head, cwd=builder.path)
    assert sorted(p["name"] for p in planned["pipelines"]) == ["alpha", "beta"]
    assert "--all" in planned["everything_reason"]

    pushed = cli_json("push", "--all", cwd=builder.path)  # HEAD~1..HEAD alone touches beta
    assert sorted(v["pipeline"] for v in pushed["versions"]) == ["alpha", "beta"]


def test_plan_without_base_or_all_is_a_usage_error(tmp_path: Path):
    builder = GitRepoBuilder(tmp_path / "repo")
    head = two_pipelines(builder)
    result = cli("plan", "--head", head, cwd=builder.path)
    assert result.returncode == 2
    assert "--base" in result.stderr and "--all" in result.stderr
