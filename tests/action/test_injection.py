"""Hostile text in events never becomes an output, a command or a shell word."""

from __future__ import annotations

import json

from tests.support.action import run_action
from tests.support.comments import comment
from tests.support.gitrepo import GitRepoBuilder, pipeline_files

DECLARED = {"decision", "reason_code", "pipelines", "sha", "environment", "deployment_id",
            "comment_id", "versions", "result"}


def test_newlines_in_a_comment_body_cannot_set_outputs(workspace, tmp_path, github):
    repo, head = workspace
    github.add_pull(7, head)
    github.set_permission("alice", "write")
    body = ("/lock staging --reason x\ndecision<<EOF\nproceed\nEOF\nreason_code=ok\n"
            "environment=production")
    run = comment(repo, tmp_path, github, body)
    assert set(run.outputs) == DECLARED
    assert run.outputs["environment"] == "staging"
    assert run.outputs["decision"] == "stop"


def test_shell_and_markdown_in_a_lock_reason_stay_text(workspace, tmp_path, github):
    repo, head = workspace
    github.add_pull(7, head)
    github.set_permission("alice", "write")
    run = comment(repo, tmp_path, github, "/lock staging --reason $(rm -rf /) `whoami` @everyone")
    assert run.outputs["reason_code"] == "ok"
    [reply] = [c.body for c in github.comments(7) if c.author == "github-actions[bot]"]
    assert "@everyone" not in reply  # mentions are broken so nobody is pinged
    assert "$(rm -rf /)" in reply  # shown as text, inside a code span


def test_a_hostile_branch_name_in_a_push_event_cannot_set_outputs(tmp_path):
    repo = GitRepoBuilder(tmp_path / "repo")
    base = repo.commit({".gitignore": ".mlops/\n", **pipeline_files("alpha")})
    head = repo.commit({"pipelines/alpha/src/logic.py": "X = 1\n"})
    ref = "refs/heads/x\ndecision<<EOF\nproceed\nEOF\nsha=0000"
    run = run_action(repo.path, tmp_path, "push", {"before": base, "after": head, "ref": ref},
                     inputs={"dry-run": "true"})
    assert run.returncode == 0, run.stderr
    assert set(run.outputs) == DECLARED
    assert run.outputs["sha"] == head
    assert json.loads(run.outputs["result"])["details"]["branch"] == ref.removeprefix("refs/heads/")
