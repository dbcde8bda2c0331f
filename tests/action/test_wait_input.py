"""The action's `wait` input and `command: status`, through the entry point as the runner starts
it (the no-wait flow itself, with check runs on a fake GitHub: tests/flows/test_push_no_wait.py)."""

from __future__ import annotations

import json

from tests.support.action import run_action
from tests.support.gitrepo import GitRepoBuilder, pipeline_files


def test_a_wait_input_other_than_true_or_false_fails_naming_it(tmp_path):
    repo = GitRepoBuilder(tmp_path / "repo")
    base = repo.commit({".gitignore": ".mlops/\n"})
    head = repo.commit(pipeline_files("alpha"))
    run = run_action(repo.path, tmp_path, "push", {"before": base, "after": head,
                                                     "ref": "refs/heads/main"},
                     inputs={"wait": "no thanks"})
    assert run.returncode == 1
    assert run.outputs["reason_code"] == "failed"
    assert "action input wait is 'no thanks': use true" in json.loads(run.outputs["result"])[
        "message"]
    assert not (repo.path / ".mlops").exists()  # refused before anything was built


def test_status_with_no_recent_run_has_nothing_to_complete(tmp_path):
    repo = GitRepoBuilder(tmp_path / "repo")
    head = repo.commit({".gitignore": ".mlops/\n"})
    run = run_action(repo.path, tmp_path, "workflow_dispatch", {}, inputs={"command": "status"})
    assert run.returncode == 0, run.stderr
    assert (run.outputs["decision"], run.outputs["reason_code"]) == ("stop", "nothing_changed")
    details = json.loads(run.outputs["result"])["details"]
    assert details["commits"] == [head] and details["checks"] == []  # the branch's tip
    assert "no check run in progress on the 1 commit(s)" in details["notes"][0]
