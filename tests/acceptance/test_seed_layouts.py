"""Acceptance of issue 13: repositories laid out as the seed documents describe (000 folders per
pipeline, 001 a `kfx/` library with GCPC, 003 container components one file per pipeline, 004 an
Airflow/MLflow lifecycle as a KFP pipeline) taken through `plan`, `push` and, where a model
results, `deploy` and `serve`, with the real CLI and no edits beyond what the README documents.

Each repository is pushed once per module; environments (compile workers' and the venv
builder's) live in the machine's test cache, so only the first run installs GCPC from PyPI.
"""

from __future__ import annotations

import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.acceptance.seeds import IRIS, seed_000, seed_001, seed_003, seed_004
from tests.serving.helpers import Client
from tests.support.cli import cli_json
from tests.support.gitrepo import GitRepoBuilder
from tests.support.processes import Process

ENVS = Path(tempfile.gettempdir()) / "mlops-bot-test-cache" / "envs"
DOCKER = {"MLOPS_BOT_LOCAL_BUILDER": ""}  # mlops.yaml decides, not the tests' venv default


@dataclass(frozen=True)
class Pushed:
    repo: Path
    env: dict[str, str]
    plan: dict[str, Any]
    push: dict[str, Any]

    def run(self, *args: str, expect: int = 0) -> dict[str, Any]:
        return cli_json(*args, cwd=self.repo, env=self.env, expect=expect)

    def spec(self, pipeline: str) -> list[dict[str, Any]]:
        [version] = [v for v in self.push["versions"] if v["pipeline"] == pipeline]
        path = (Path(self.env["MLOPS_BOT_STATE_DIR"]) / "registry/pipelines" / pipeline
                / "versions" / version["version"] / "pipeline.yaml")
        return list(yaml.safe_load_all(path.read_text()))


def pushed(root: Path, files: dict[str, str], env: dict[str, str] | None = None) -> Pushed:
    """`plan --all` then `push` of a fresh repository's first commit on main (GitHub's
    all-zero `before`: everything), in a state folder sharing the machine's environments."""
    repo = GitRepoBuilder(root / "repo")
    repo.commit(files)
    state = root / "state"
    state.mkdir()
    ENVS.mkdir(parents=True, exist_ok=True)
    (state / "envs").symlink_to(ENVS)
    environment = {"MLOPS_BOT_STATE_DIR": str(state), **(env or {})}
    plan = cli_json("plan", "--all", "--head", "HEAD", cwd=repo.path, env=environment)
    push = cli_json("push", "--base", "0" * 40, cwd=repo.path, env=environment)
    return Pushed(repo.path, environment, plan, push)


def names(items: list[dict[str, Any]], key: str = "pipeline") -> list[str]:
    return sorted(str(i[key]) for i in items)


def statuses(push: dict[str, Any]) -> dict[str, str]:
    return {v["pipeline"]: v["status"] for v in push["versions"]}


def images(spec: list[dict[str, Any]]) -> set[str]:
    return {e["container"]["image"] for e in spec[0]["deploymentSpec"]["executors"].values()
            if "container" in e}


@pytest.fixture(scope="module")
def seed_000_repo(tmp_path_factory: pytest.TempPathFactory) -> Pushed:
    return pushed(tmp_path_factory.mktemp("seed000"), seed_000())


@pytest.fixture(scope="module")
def seed_004_repo(tmp_path_factory: pytest.TempPathFactory) -> Pushed:
    return pushed(tmp_path_factory.mktemp("seed004"), seed_004())


def served_predictions(project: Pushed, instances: list[Any]) -> dict[str, Any]:
    """`mlops-bot serve staging`, asked over HTTP as a client would."""
    server = Process([sys.executable, "-m", "mlops_bot", "serve", "staging", "--port", "0"],
                     project.repo, {**os.environ, **project.env})
    try:
        url = server.wait_for(r"Serving staging at (http://127\.0\.0\.1:\d+)").group(1)
        client = Client(url)
        try:
            status, answer = client.predict({"instances": instances})
        finally:
            client.close()
        assert status == 200, answer
        return answer
    finally:
        server.stop()


def deploy_and_serve(project: Pushed, pipeline: str, instances: list[Any]) -> dict[str, Any]:
    deployed = project.run("deploy", "staging", "--pipeline", pipeline)
    assert deployed["status"] == "promoted", deployed
    answer = served_predictions(project, instances)
    assert len(answer["predictions"]) == len(instances)
    return deployed


@pytest.mark.slow
def test_seed_000_folders_per_pipeline_plan_push_deploy_serve(seed_000_repo):
    project = seed_000_repo
    assert names(project.plan["pipelines"], "name") == ["wine_quality"]
    assert statuses(project.push) == {"wine_quality": "published"}
    [run] = project.push["runs"]
    assert run["status"] == "succeeded", run
    [build] = project.push["builds"]
    assert images(project.spec("wine_quality")) == {build["ref"]}
    sample = (project.repo / "pipelines/wine_quality/serving/sample_instances.json").read_text()
    deployed = deploy_and_serve(project, "wine_quality", yaml.safe_load(sample)["instances"])
    assert deployed["gate"]["metrics"][0]["name"] == "accuracy"


@pytest.mark.slow  # the first run on a machine installs GCPC and aiplatform 1.x (~60 s)
def test_seed_001_kfx_library_with_gcpc(tmp_path):
    project = pushed(tmp_path, seed_001())
    assert names(project.plan["pipelines"], "name") == ["bq_preprocess_train_pipeline"]
    assert statuses(project.push) == {"bq_preprocess_train_pipeline": "published"}, project.push["versions"]
    [build] = project.push["builds"]
    assert (build["image"], build["status"]) in {("kfx", "built"), ("kfx", "reused")}
    spec = project.spec("bq_preprocess_train_pipeline")
    assert build["ref"] in images(spec)  # the library image, pinned, never a tag
    assert not any(i == "kfx" or i.endswith(":latest") for i in images(spec))
    shown = project.run("registry", "show", "bq_preprocess_train_pipeline")
    assert shown["manifest"]["images"] == {"kfx": build["ref"]}
    assert "exit-handler-1" in spec[0]["root"]["dag"]["tasks"]


@pytest.mark.docker
@pytest.mark.usefixtures("docker_engine")
def test_seed_003_container_components_one_file_per_pipeline(tmp_path):
    project = pushed(tmp_path, seed_003(), env=DOCKER)
    assert names(project.plan["pipelines"], "name") == ["churn", "fraud"]
    assert statuses(project.push) == {"churn": "published", "fraud": "published"}
    builds = {b["image"]: b["ref"] for b in project.push["builds"]}
    assert sorted(builds) == ["shared-prepare", "shared-train"]
    for pipeline in ("churn", "fraud"):
        assert images(project.spec(pipeline)) == set(builds.values())
    [run] = project.push["runs"]
    assert (run["pipeline"], run["status"]) == ("churn", "succeeded"), run


@pytest.mark.slow
def test_seed_004_lifecycle_with_an_mlflow_model_folder(seed_004_repo):
    project = seed_004_repo
    assert names(project.plan["pipelines"], "name") == ["lifecycle"]
    assert statuses(project.push) == {"lifecycle": "published"}
    [run] = project.push["runs"]
    assert run["status"] == "succeeded", run
    deployed = deploy_and_serve(project, "lifecycle", IRIS)
    [accuracy] = [m for m in deployed["gate"]["metrics"] if m["name"] == "accuracy"]
    assert accuracy["candidate"] > 0.9 and "evaluate" in accuracy["source"]
