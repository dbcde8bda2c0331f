"""`plan` and `push` on pipeline shapes real teams write: nested pipelines, platform config
(workspaces), notebook components, parameters without defaults, mistyped `--param`."""

from __future__ import annotations

import json

import pytest

from tests.support.cli import cli, cli_json
from tests.support.gitrepo import GitRepoBuilder
from tests.test_pipeline_shapes import AMBIGUOUS, notebook_files

WORKSPACE = """\
from kfp import dsl


@dsl.component(base_image='python:3.11-slim')
def write(workspace: str) -> str:
    import os
    path = os.path.join(workspace, 'note.txt')
    with open(path, 'w') as handle:
        handle.write('shared')
    return path


@dsl.pipeline(name='shared', pipeline_config=dsl.PipelineConfig(
    workspace=dsl.WorkspaceConfig(size='1Gi')))
def shared():
    write(workspace=dsl.WORKSPACE_PATH_PLACEHOLDER)
"""

NEEDS = """\
from kfp import dsl


@dsl.component(base_image='python:3.11-slim')
def show(size: int, name: str) -> None:
    print(size, name)


@dsl.pipeline(name='needs')
def needs(size: int, name: str, ratio: float = 0.5):
    show(size=size, name=name)
"""


@pytest.fixture
def builder(tmp_path) -> GitRepoBuilder:
    return GitRepoBuilder(tmp_path / "repo")


def commit(builder: GitRepoBuilder, files: dict[str, str]) -> str:
    return builder.commit({".gitignore": ".mlops/\n", **files})


def test_a_pipeline_with_a_workspace_runs_locally_and_is_recorded_succeeded(builder):
    commit(builder, {"pipelines/shared/definition.py": WORKSPACE})
    document = cli_json("push", cwd=builder.path)
    [run] = document["runs"]
    assert run["status"] == "succeeded", run["error"]
    [record] = cli_json("runs", "list", cwd=builder.path)["runs"]
    assert (record["run_id"], record["status"]) == (run["run_id"], "succeeded")


def test_two_outermost_pipelines_are_refused_until_mlops_yaml_names_one(builder):
    commit(builder, {"pipelines/two/definition.py": AMBIGUOUS})
    refused = cli("plan", "--all", "--head", "HEAD", "--json", cwd=builder.path)
    assert refused.returncode == 1
    [broken] = json.loads(refused.stdout)["broken"]
    assert "2 pipelines that no other pipeline calls (training (line 10), scoring (line 15))" \
        in broken["errors"][0]["message"]
    commit(builder, {"mlops.yaml": "pipelines:\n  two:\n    function: scoring\n    run: false\n"})
    [version] = cli_json("push", cwd=builder.path)["versions"]
    assert version["status"] == "published"
    shown = cli_json("registry", "show", f"two@{version['version']}", cwd=builder.path)
    assert shown["version"] == version["version"]
    spec = (builder.path / ".mlops/registry/pipelines/two/versions" / version["version"]
            / "pipeline.yaml").read_text()
    assert "name: scoring" in spec and "name: training" not in spec


def test_a_notebook_pipeline_pushed_twice_is_one_version(builder):
    commit(builder, {**notebook_files(), "mlops.yaml": "pipelines:\n  nb:\n    run: false\n"})
    first = cli_json("push", cwd=builder.path)["versions"]
    second = cli_json("push", cwd=builder.path)["versions"]
    assert [v["status"] for v in first] == ["published"]
    assert [(v["version"], v["status"]) for v in second] == [(first[0]["version"], "unchanged")]


def test_parameters_without_a_value_are_named_by_the_plan_and_the_run_is_not_started(builder):
    commit(builder, {"pipelines/needs/definition.py": NEEDS,
                     "pipelines/needs/run.py": "PARAMETERS = {'name': 'a'}\n"})
    planned = cli_json("plan", "--all", "--head", "HEAD", cwd=builder.path)
    sentence = ("needs cannot run: parameter size has no default and no value: set it in "
                "pipelines/needs/run.py (PARAMETERS), mlops.yaml pipelines.needs.parameters or "
                "with --param size=VALUE")
    assert any(note.startswith(sentence) for note in planned["notes"])
    result = cli("push", "--json", cwd=builder.path)
    assert result.returncode == 1
    document = json.loads(result.stdout)
    assert any(note.startswith(sentence) for note in document["plan"]["notes"])
    assert [v["status"] for v in document["versions"]] == ["published"]
    [run] = document["runs"]
    assert (run["status"], run["run_id"]) == ("failed", "")
    assert "needs cannot run: parameter size has no default and no value" in run["error"]
    assert cli_json("runs", "list", cwd=builder.path)["runs"] == []


def test_a_param_of_the_wrong_type_is_refused_before_anything_is_built(builder):
    commit(builder, {"pipelines/needs/definition.py": NEEDS})
    result = cli("push", "--param", "size=abc", "--param", "name=x", "--json",
                 cwd=builder.path)
    assert result.returncode == 2
    message = json.loads(result.stdout)["error"]["message"]
    assert message == ("--param size=abc: needs's parameter size is NUMBER_INTEGER (a whole "
                       "number), not 'abc'")
    assert cli_json("registry", "list", cwd=builder.path)["versions"] == []
    # A text parameter takes what looks like a number as text.
    document = cli_json("push", "--param", "size=3", "--param", "name=2024", cwd=builder.path)
    [run] = document["runs"]
    assert run["status"] == "succeeded", run["error"]
    assert run["parameters"] == {"size": 3, "name": "2024", "ratio": 0.5}
    # `mlops-bot run` checks against the published spec's types before it starts anything.
    again = cli("run", "needs", "--param", "size=1.5", "--json", cwd=builder.path)
    assert again.returncode == 2
    assert json.loads(again.stdout)["error"]["message"] == (
        "--param size=1.5: needs's parameter size is NUMBER_INTEGER (a whole number), not 1.5")
    lacking = cli("run", "needs", "--json", cwd=builder.path)
    assert lacking.returncode == 1
    assert json.loads(lacking.stdout)["error"]["message"].startswith(
        "needs cannot run: parameters name, size have no default and no value")
    assert len(cli_json("runs", "list", cwd=builder.path)["runs"]) == 1
