"""`mlops-bot push` on the local backend, end to end on real git repositories."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from mlops_bot.backends.versions import tag_for_branch
from tests.support.cli import cli, cli_json
from tests.support.gitrepo import GitRepoBuilder, pipeline_files

EXAMPLE = Path(__file__).parents[2] / "pipelines" / "wine_quality"


def repo_with(builder: GitRepoBuilder, files: dict[str, str | None]) -> str:
    return builder.commit({".gitignore": ".mlops/\n", **files})


@pytest.fixture
def builder(tmp_path: Path) -> GitRepoBuilder:
    return GitRepoBuilder(tmp_path / "repo")


@pytest.mark.slow
def test_example_pipeline_is_built_published_and_run(builder):
    shutil.copytree(EXAMPLE, builder.path / "pipelines" / "wine_quality")
    head = repo_with(builder, {})
    document = cli_json("push", cwd=builder.path)

    [build] = document["builds"]
    assert (build["image"], build["status"]) == ("wine_quality", "built")
    [version] = document["versions"]
    assert version["status"] == "published" and version["tags"] == ["latest", "main"]
    [run] = document["runs"]
    assert run["status"] == "succeeded", run["error"]
    assert run["metrics"]["accuracy"] > 0.8 and run["metrics"]["f1"] > 0.8

    shown = cli_json("registry", "show", "wine_quality:main", cwd=builder.path)
    manifest = shown["manifest"]
    assert shown["version"] == version["version"] and manifest["git_sha"] == head
    assert manifest["images"] == {"wine_quality": build["ref"]}
    assert manifest["parameters"] == {"max_depth": 0, "n_estimators": 100, "random_state": 42,
                                      "test_size": 0.2}
    spec_path = (builder.path / ".mlops/registry/pipelines/wine_quality/versions"
                 / version["version"] / "pipeline.yaml")
    executors = yaml.safe_load(spec_path.read_text())["deploymentSpec"]["executors"]
    assert {e["container"]["image"] for e in executors.values()} == {build["ref"]}

    runs = cli_json("runs", "list", "--sha", head[:7], cwd=builder.path)["runs"]
    [record] = runs
    models = [a for a in record["artifacts"] if a["type"] == "system.Model"]
    assert len(models) == 1 and Path(models[0]["uri"]).is_file()
    assert models[0]["metadata"]["feature_names"][0] == "alcohol"


def test_second_push_of_the_same_range_does_nothing_new(builder):
    repo_with(builder, {**pipeline_files("alpha")})
    first = cli_json("push", cwd=builder.path)
    assert [r["status"] for r in first["runs"]] == ["succeeded"]
    second = cli_json("push", cwd=builder.path)
    assert [b["status"] for b in second["builds"]] == ["reused"]
    assert [v["status"] for v in second["versions"]] == ["unchanged"]
    assert [(r["status"], r["run_id"]) for r in second["runs"]] == [
        ("existing", first["runs"][0]["run_id"])]


def test_component_change_in_one_of_two_pipelines_publishes_one_new_version(builder):
    repo_with(builder, {**pipeline_files("alpha"), **pipeline_files("beta")})
    cli_json("push", cwd=builder.path)
    builder.commit({"pipelines/alpha/components/train/definition.py": (
        "from kfp import dsl\n\n\n@dsl.component(base_image='alpha')\n"
        "def train() -> None:\n    from src.logic import work\n    print(work(2))\n")})
    document = cli_json("push", cwd=builder.path)
    assert [(v["pipeline"], v["status"]) for v in document["versions"]] == [("alpha", "published")]
    assert [b["status"] for b in document["builds"]] == ["reused"]  # the image did not change
    listed = cli_json("registry", "list", cwd=builder.path)["versions"]
    assert sorted(v["pipeline"] for v in listed) == ["alpha", "alpha", "beta"]


def test_pipelines_with_clashing_src_and_component_names_compile_apart(builder):
    files: dict[str, str | None] = {}
    for name in ("alpha", "beta"):
        files.update(pipeline_files(name, components=("train",)))
        files[f"pipelines/{name}/src/logic.py"] = f"NAME = '{name}-logic'\n\ndef work(x):\n    return x\n"
        files[f"pipelines/{name}/definition.py"] = (
            "from kfp import dsl\nfrom src.logic import NAME\n"
            "from components.train.definition import train\n\n\n"
            f"@dsl.pipeline(name='{name}', description=NAME)\ndef {name}(size: int = 1):\n    train()\n")
    repo_with(builder, files)
    document = cli_json("push", cwd=builder.path)
    assert [v["status"] for v in document["versions"]] == ["published", "published"]
    for name in ("alpha", "beta"):
        version = next(v["version"] for v in document["versions"] if v["pipeline"] == name)
        spec = yaml.safe_load((builder.path / f".mlops/registry/pipelines/{name}/versions/"
                               f"{version}/pipeline.yaml").read_text())
        assert spec["pipelineInfo"]["description"] == f"{name}-logic"
        [executor] = spec["deploymentSpec"]["executors"].values()
        assert executor["container"]["image"].startswith(f"mlops-local/{name}:")


def test_a_pipeline_that_fails_to_compile_does_not_stop_the_others(builder):
    files = {**pipeline_files("alpha"), **pipeline_files("beta")}
    files["pipelines/alpha/definition.py"] = (
        "from kfp import dsl\n\n\n@dsl.pipeline(name='alpha')\ndef alpha(size: int = 1):\n"
        "    missing_component()\n")
    repo_with(builder, files)
    result = cli("push", "--json", cwd=builder.path)
    assert result.returncode == 1
    document = json.loads(result.stdout)
    outcome = {v["pipeline"]: v for v in document["versions"]}
    assert outcome["beta"]["status"] == "published"
    assert outcome["alpha"]["status"] == "failed"
    assert outcome["alpha"]["error"].startswith("pipelines/alpha/definition.py:6: NameError")
    assert [(r["pipeline"], r["status"]) for r in document["runs"]] == [("beta", "succeeded")]


def test_a_broken_pyproject_reports_the_install_error(builder):
    files = {**pipeline_files("alpha"), **pipeline_files("beta")}
    files["pipelines/alpha/pyproject.toml"] = "[project\nname = 'alpha'\n"
    repo_with(builder, files)
    result = cli("push", "--json", cwd=builder.path)
    assert result.returncode == 1
    document = json.loads(result.stdout)
    failed = next(b for b in document["builds"] if b["image"] == "alpha")
    assert failed["status"] == "failed"
    assert failed["error"].startswith("alpha: installing pipelines/alpha failed: `")
    assert "-m pip" in failed["error"] and "TOMLDecodeError" in failed["error"]
    assert "failed with exit code" in failed["error"]
    outcome = {v["pipeline"]: v["status"] for v in document["versions"]}
    assert outcome == {"alpha": "failed", "beta": "published"}
    assert "Failures:" in cli("push", cwd=builder.path).stdout


def test_a_failing_task_fails_the_run_and_names_the_task(builder):
    files = pipeline_files("alpha")
    files["pipelines/alpha/components/train/definition.py"] = (
        "from kfp import dsl\n\n\n@dsl.component(base_image='alpha')\n"
        "def train() -> None:\n    raise ValueError('bad data')\n")
    repo_with(builder, files)
    result = cli("push", "--json", cwd=builder.path)
    assert result.returncode == 1
    [run] = json.loads(result.stdout)["runs"]
    assert run["status"] == "failed"
    assert "Inner task failed: 'train'" in run["error"] and "ValueError: bad data" in run["error"]


def test_parameters_come_from_run_py_config_and_command_line(builder):
    repo_with(builder, {**pipeline_files("alpha"),
                        "mlops.yaml": "pipelines:\n  alpha:\n    parameters: {size: 5}\n"})
    document = cli_json("push", "--param", "size=7", cwd=builder.path)
    [run] = document["runs"]
    record = cli_json("runs", "list", cwd=builder.path)["runs"][0]
    assert record["run_id"] == run["run_id"] and record["parameters"] == {"size": 7}
    unknown = cli("push", "--param", "sizee=1", "--json", cwd=builder.path)
    assert unknown.returncode == 1
    assert "--param sets sizee, which alpha does not declare (its parameters: size)" in unknown.stdout


def test_push_event_sets_the_range_and_the_job_summary(builder, tmp_path):
    base = repo_with(builder, {**pipeline_files("alpha"), **pipeline_files("beta")})
    head = builder.commit({"pipelines/beta/src/logic.py": "def work(x):\n    return 2\n"})
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"before": base, "after": head, "ref": "refs/heads/feature/x"}))
    summary = tmp_path / "summary.md"
    env = {"GITHUB_EVENT_NAME": "push", "GITHUB_EVENT_PATH": str(event),
           "GITHUB_STEP_SUMMARY": str(summary)}
    document = cli_json("push", cwd=builder.path, env=env)
    assert document["branch"] == "feature/x"
    assert [(v["pipeline"], v["tags"]) for v in document["versions"]] == [
        ("beta", [tag_for_branch("feature/x")])]  # latest moves only on the default branch
    markdown = summary.read_text()
    # Each run as it ended, then the push's report.
    runs, report = markdown.split("\n### mlops-bot: push feature/x @ ")
    assert runs.startswith("### mlops-bot: runs, as each ended\n\n- `beta`: run `beta-")
    assert runs.rstrip().endswith(" succeeded")
    assert "| beta | v-" in report


def test_pushing_an_older_commit_compiles_that_commit_not_the_working_tree(builder):
    first = repo_with(builder, {**pipeline_files("alpha")})
    second = builder.commit({"pipelines/alpha/src/logic.py": "def work(x):\n    return 3\n"})
    builder.commit({"pipelines/alpha/definition.py": "broken(\n"})
    (builder.path / "pipelines/alpha/src/logic.py").write_text("uncommitted(\n")
    document = cli_json("push", "--base", first, "--head", second, cwd=builder.path)
    assert [v["status"] for v in document["versions"]] == ["published"]
    assert [r["status"] for r in document["runs"]] == ["succeeded"]
    assert document["plan"]["head"] == second
    assert (builder.path / "pipelines/alpha/src/logic.py").read_text() == "uncommitted(\n"


def test_local_runs_of_two_pipelines_overlap(builder):
    repo_with(builder, {"mlops.yaml": "run:\n  max_parallel: 2\n", **pipeline_files("alpha"),
                        **pipeline_files("beta")})
    document = cli_json("push", cwd=builder.path)
    assert [(r["pipeline"], r["status"]) for r in document["runs"]] == [
        ("alpha", "succeeded"), ("beta", "succeeded")]
    a, b = sorted(cli_json("runs", "list", cwd=builder.path)["runs"],
                  key=lambda r: r["pipeline"])
    # Each kfp.local run is its own worker process: the two ran at the same time.
    assert b["started_at"] < a["finished_at"] and a["started_at"] < b["finished_at"], (a, b)
