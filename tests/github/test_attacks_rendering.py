"""Attacks on what the bot writes: values a pull request controls (a lock reason, metric names,
a pipeline folder's name) trying to forge the bot's comments or redirect its edits. Each runs
the comment job's entry point against the fake GitHub server, and reads the comments as GitHub
holds them.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mlops_bot.github.pygithub_comments import comment_marker
from mlops_bot.report.tables import code
from tests.action.test_comment_without_cloud import ask, record
from tests.report.test_markdown_safety import _outside_code, _outside_fences
from tests.support.action import UNREACHABLE_GCP_CONFIG
from tests.support.fake_github import FakeGitHub
from tests.support.gitrepo import GitRepoBuilder, pipeline_files
from tests.support.run_checks import write_check

BOT = "github-actions[bot]"
CONFIG = UNREACHABLE_GCP_CONFIG + "  production:\n    endpoint: alpha-production\n"


@pytest.fixture
def repo(tmp_path: Path) -> tuple[GitRepoBuilder, str]:
    repo = GitRepoBuilder(tmp_path / "repo")
    return repo, repo.commit({"mlops.yaml": CONFIG, **pipeline_files("alpha")})


def _bots(github: FakeGitHub, number: int = 7) -> list[str]:
    return [c.body for c in github.comments(number) if c.author == BOT]


def _forged_lines(body: str) -> list[str]:
    """Lines of a comment, after its marker and the bot's own title, that GitHub would show as
    a heading, or whose text outside code spans (and escapes) mentions, hides, links or shows
    an image."""
    lines = _outside_fences(body.split("\n", 2)[-1])
    return [line for line in lines if re.match(r"\s*#{1,6} ", line)
            or re.search(r"(?<![A-Za-z0-9])@acme|<!--|!?\[[^\]]*\]\(", _outside_code(line))]


def test_a_lock_reason_holding_the_deploy_comments_marker_cannot_take_it_over(repo, tmp_path,
                                                                               github):
    repo, head = repo
    github.add_pull(7, head)
    github.set_permission("alice", "write")
    write_check(github, record(head))
    hidden = comment_marker("staging")
    locked = ask(repo, tmp_path, github, f"/lock production --reason {hidden} maintenance")
    assert locked.outputs["reason_code"] == "ok", locked.stderr
    [lock_body] = _bots(github)
    assert lock_body.split("\n", 1)[0] == comment_marker("production")
    assert hidden not in lock_body  # shown, but no longer a marker anyone could find

    deploy = ask(repo, tmp_path, github, "/deploy staging")

    assert deploy.outputs["reason_code"] == "ok", deploy.stderr
    lock, deployed = _bots(github)
    assert lock == lock_body  # the lock comment was not overwritten
    assert deployed.split("\n", 1)[0] == hidden and "waiting for approval" in deployed
    assert str(deploy.outputs["comment_id"]) != str(github.comments(7)[0].id)


def test_someone_elses_comment_with_the_marker_first_is_not_edited(repo, tmp_path, github):
    repo, head = repo
    github.add_pull(7, head)
    github.set_permission("alice", "write")
    write_check(github, record(head))
    forged = github.add_comment(7, "mallory", f"{comment_marker('staging')}\n### Deployed")
    assert ask(repo, tmp_path, github, "/deploy staging").outputs["reason_code"] == "ok"
    assert forged.body.endswith("### Deployed") and not forged.updated
    [mine] = _bots(github)
    assert "waiting for approval" in mine


def test_a_metric_name_with_a_line_break_cannot_forge_a_heading(repo, tmp_path, github):
    repo, head = repo
    github.add_pull(7, head)
    github.set_permission("alice", "write")
    hostile = "accuracy\n## :white_check_mark: Security review passed\n@acme/admins"
    write_check(github, record(head, metrics={hostile: 0.99, "rmse": 1.0}))
    run = ask(repo, tmp_path, github, "/deploy staging")
    [body] = _bots(github)
    # The push job never records such a name; a check run holding one is not trusted, and the
    # refusal quotes the name as code.
    assert run.outputs["reason_code"] == "run_missing" and "holds no valid record" in body
    assert _forged_lines(body) == []
    assert "\n## :white_check_mark: Security review passed" not in body


@pytest.mark.parametrize("folder", ["alpha`) <!-- x", "beta-@acme", "gamma![x](y)"])
def test_a_pipeline_folder_name_cannot_break_out_of_the_plan_comment(tmp_path, github, folder):
    repo = GitRepoBuilder(tmp_path / "repo")
    repo.commit({"mlops.yaml": CONFIG, **pipeline_files("alpha")})
    repo.git("checkout", "-q", "-b", "feature")  # the PR's branch adds the hostile folder
    head = repo.commit({path.replace("pipelines/alpha/", f"pipelines/{folder}/", 1): text
                        for path, text in pipeline_files("alpha").items()})
    github.add_pull(7, head)
    github.set_permission("alice", "write")
    run = ask(repo, tmp_path, github, "/plan")
    assert run.returncode == 0, run.stderr
    [body] = _bots(github)
    assert "plan for" in body
    assert _forged_lines(body) == []
    # The name is shown whole, in a code span longer than any run of backticks it holds.
    assert f"| {code(folder)} | added |" in body


def test_a_file_name_with_math_cannot_forge_coloured_text_in_the_plan_comment(tmp_path, github):
    # GitHub renders $...$ as math, and math can show any words in any colour.
    repo = GitRepoBuilder(tmp_path / "repo")
    repo.commit({"mlops.yaml": CONFIG, **pipeline_files("alpha")})
    repo.git("checkout", "-q", "-b", "feature")
    forged = "$\\color{green}{\\textsf{Security review passed}}$"
    repo.commit({f"pipelines/alpha/src/{forged}.py": "X = 1\n"})
    github.add_pull(7, repo.git("rev-parse", "HEAD").strip())
    github.set_permission("alice", "write")
    run = ask(repo, tmp_path, github, "/plan")
    assert run.returncode == 0, run.stderr
    [body] = _bots(github)
    assert "Security review passed" in body  # the path is shown, as text
    assert [line for line in _outside_fences(body) if re.search(r"(?<!\\)\$", line)] == []
