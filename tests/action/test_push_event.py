"""The action on push events, end to end: the entry point as the runner starts it."""

from __future__ import annotations

import json

from tests.support.action import run_action
from tests.support.gitrepo import GitRepoBuilder, pipeline_files


def test_push_event_builds_publishes_runs_and_sets_outputs(tmp_path):
    repo = GitRepoBuilder(tmp_path / "repo")
    base = repo.commit({".gitignore": ".mlops/\n", **pipeline_files("alpha"), **pipeline_files("beta")})
    head = repo.commit({"pipelines/beta/src/logic.py": "def work(x):\n    return 5\n"})
    run = run_action(repo.path, tmp_path, "push",
                     {"before": base, "after": head, "ref": "refs/heads/main"})
    assert run.returncode == 0, run.stderr
    assert run.outputs["decision"] == "proceed" and run.outputs["reason_code"] == "ok"
    assert run.outputs["sha"] == head
    assert json.loads(run.outputs["pipelines"]) == {"include": [{"pipeline": "beta"}]}
    [version] = json.loads(run.outputs["versions"])
    assert version["pipeline"] == "beta" and version["status"] == "published"
    result = json.loads(run.outputs["result"])
    assert result["schema_version"] == 1 and result["details"]["runs"][0]["status"] == "succeeded"
    assert "| beta | v-" in run.summary


def test_dry_run_plans_without_building(tmp_path):
    repo = GitRepoBuilder(tmp_path / "repo")
    base = repo.commit({".gitignore": ".mlops/\n", **pipeline_files("alpha")})
    head = repo.commit({"pipelines/alpha/src/logic.py": "X = 1\n"})
    run = run_action(repo.path, tmp_path, "push", {"before": base, "after": head,
                                                     "ref": "refs/heads/main"},
                     inputs={"dry-run": "true"})
    assert run.returncode == 0, run.stderr
    assert json.loads(run.outputs["pipelines"]) == {"include": [{"pipeline": "alpha"}]}
    assert json.loads(run.outputs["versions"]) == []
    assert not (repo.path / ".mlops").exists()


def test_push_touching_no_pipeline_stops_with_nothing_changed(tmp_path):
    repo = GitRepoBuilder(tmp_path / "repo")
    base = repo.commit(pipeline_files("alpha"))
    head = repo.commit({"README.md": "docs\n"})
    run = run_action(repo.path, tmp_path, "push", {"before": base, "after": head,
                                                     "ref": "refs/heads/main"})
    assert run.returncode == 0
    assert (run.outputs["decision"], run.outputs["reason_code"]) == ("stop", "nothing_changed")


def test_unhandled_event_exits_0_with_stop_and_a_reason(tmp_path):
    repo = GitRepoBuilder(tmp_path / "repo")
    repo.commit(pipeline_files("alpha"))
    run = run_action(repo.path, tmp_path, "release", {"action": "published"})
    assert run.returncode == 0
    assert (run.outputs["decision"], run.outputs["reason_code"]) == ("stop", "no_trigger")


def test_invalid_config_fails_with_config_invalid(tmp_path):
    repo = GitRepoBuilder(tmp_path / "repo")
    base = repo.commit(pipeline_files("alpha"))
    head = repo.commit({"mlops.yaml": "backend: nope\n"})
    run = run_action(repo.path, tmp_path, "push", {"before": base, "after": head,
                                                     "ref": "refs/heads/main"})
    assert run.returncode == 1
    assert run.outputs["reason_code"] == "config_invalid"
    assert "backend" in json.loads(run.outputs["result"])["message"]


def test_config_input_points_at_another_configuration_file(tmp_path):
    repo = GitRepoBuilder(tmp_path / "repo")
    base = repo.commit({**pipeline_files("alpha"), "ci/mlops.yaml": "pipelines_dir: pipelines\n"})
    head = repo.commit({"ci/mlops.yaml": "backend: nope\n"})
    run = run_action(repo.path, tmp_path, "push", {"before": base, "after": head,
                                                     "ref": "refs/heads/main"},
                     inputs={"config": "ci/mlops.yaml"})
    assert run.returncode == 1 and run.outputs["reason_code"] == "config_invalid"
    assert "ci/mlops.yaml at" in json.loads(run.outputs["result"])["message"]
