"""`mlops-bot push` on the local backend with `local.builder: docker`: real images, real containers.

The images are built by the local engine from the pipelines' Dockerfiles and the tasks run in them
with kfp.local's DockerRunner. Builds are cached by content hash, so after the first run of the
suite only the images whose inputs a test changes are built again.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.support.cli import cli, cli_json
from tests.support.docker import docker
from tests.support.gitrepo import GitRepoBuilder

pytestmark = [pytest.mark.docker, pytest.mark.usefixtures("docker_engine")]

EXAMPLE = Path(__file__).parents[2] / "pipelines" / "wine_quality"
DOCKER = {"MLOPS_BOT_LOCAL_BUILDER": ""}  # mlops.yaml decides, not the tests' venv default
CONFIG = "local:\n  builder: docker\n"

# Seed 003's layout: container components, each with component.yaml, Dockerfile,
# requirements.txt and src/; the pipeline loads them from their component.yaml.
TOY_DEFINITION = """\
from pathlib import Path

from kfp import components, dsl

HERE = Path(__file__).parent
prepare = components.load_component_from_file(str(HERE / "components/prepare/component.yaml"))
train = components.load_component_from_file(str(HERE / "components/train/component.yaml"))


@dsl.pipeline(name="toy")
def toy(rows: int = 4):
    data = prepare(rows=rows)
    train(data=data.outputs["data"])
"""
PREPARE_YAML = """\
name: prepare
inputs:
- {name: rows, type: Integer}
outputs:
- {name: data, type: Dataset}
implementation:
  container:
    image: toy-prepare
    command: [python, /app/src/main.py]
    args: [--rows, {inputValue: rows}, --data, {outputPath: data}]
"""
TRAIN_YAML = """\
name: train
inputs:
- {name: data, type: Dataset}
outputs:
- {name: model, type: Model}
implementation:
  container:
    image: toy-train
    command: [python, /app/src/main.py]
    args: [--data, {inputPath: data}, --model, {outputPath: model}]
"""
PREPARE_MAIN = """\
import argparse
import os
from pathlib import Path

parser = argparse.ArgumentParser()
parser.add_argument("--rows", type=int)
parser.add_argument("--data")
args = parser.parse_args()
Path(args.data).parent.mkdir(parents=True, exist_ok=True)
Path(args.data).write_text("".join(f"{i},{i * i}\\n" for i in range(args.rows)))
print("prepare ran as uid", os.getuid())
"""
TRAIN_MAIN = """\
import argparse
from pathlib import Path
{imports}
parser = argparse.ArgumentParser()
parser.add_argument("--data")
parser.add_argument("--model")
args = parser.parse_args()
rows = [line.split(",") for line in Path(args.data).read_text().split()]
slope = sum(int(y) for _, y in rows) / max(1, sum(int(x) for x, _ in rows))
Path(args.model).parent.mkdir(parents=True, exist_ok=True)
Path(args.model).write_text(f"slope={{slope}}\\n")
"""
# A non-root USER, as images should have: it must be able to write the run's artifacts.
COMPONENT_DOCKERFILE = """\
FROM python:3.11-slim
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY src ./src
USER 10001
"""


def toy_files(train_imports: str = "") -> dict[str, str | None]:
    root = "pipelines/toy"
    files: dict[str, str | None] = {".gitignore": ".mlops/\n", "mlops.yaml": CONFIG,
                                    f"{root}/definition.py": TOY_DEFINITION}
    for name, spec, main in (("prepare", PREPARE_YAML, PREPARE_MAIN),
                             ("train", TRAIN_YAML, TRAIN_MAIN.format(imports=train_imports))):
        folder = f"{root}/components/{name}"
        files.update({f"{folder}/component.yaml": spec, f"{folder}/Dockerfile": COMPONENT_DOCKERFILE,
                      f"{folder}/requirements.txt": "# the standard library is enough\n",
                      f"{folder}/src/main.py": main})
    return files


@pytest.fixture
def builder(tmp_path: Path) -> GitRepoBuilder:
    return GitRepoBuilder(tmp_path / "repo")


def test_container_components_are_built_and_run_in_their_images(builder):
    builder.commit(toy_files())
    result = cli("push", "--json", cwd=builder.path, env=DOCKER)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "builder: docker (engine " in result.stderr
    document = json.loads(result.stdout)
    builds = {b["image"]: b for b in document["builds"]}
    assert sorted(builds) == ["toy-prepare", "toy-train"]
    for name, build in builds.items():
        assert build["ref"].startswith(f"mlops-local/{name}:id-")
        image_id = "sha256:" + build["ref"].split(":id-")[1]
        assert docker("image", "inspect", "--format", "{{.Id}}", build["ref"]).stdout.strip() == image_id
        tags = docker("image", "inspect", "--format", "{{json .RepoTags}}", image_id).stdout
        assert f"mlops-local/{name}:{builder.head()}" in tags and f"mlops-local/{name}:ch-" in tags

    [run] = document["runs"]
    assert run["status"] == "succeeded", run["error"]
    [record] = cli_json("runs", "list", cwd=builder.path)["runs"]
    artifacts = {a["name"]: a for a in record["artifacts"]}
    assert Path(artifacts["data"]["uri"]).read_text().splitlines() == ["0,0", "1,1", "2,4", "3,9"]
    assert Path(artifacts["model"]["uri"]).read_text() == "slope=2.3333333333333335\n"
    assert artifacts["model"]["type"] == "system.Model" and artifacts["model"]["task"] == "train"
    log = (Path(record["url"]) / "log.txt").read_text()
    assert "prepare ran as uid 10001" in log  # in the image, as its USER

    again = cli_json("push", cwd=builder.path, env=DOCKER)
    assert [b["status"] for b in again["builds"]] == ["reused", "reused"]
    assert [v["status"] for v in again["versions"]] == ["unchanged"]


def test_an_image_that_lacks_an_import_fails_the_run_naming_the_component(builder):
    builder.commit(toy_files(train_imports="import sklearn  # not in the image\n"))
    result = cli("push", "--json", cwd=builder.path, env=DOCKER)
    assert result.returncode == 1
    [run] = json.loads(result.stdout)["runs"]
    assert run["status"] == "failed"
    assert "train" in run["error"].splitlines()[0]
    assert "ModuleNotFoundError: No module named 'sklearn'" in run["error"]


def test_a_public_base_image_that_cannot_be_pulled_refuses_the_run(builder):
    files = toy_files()
    files["pipelines/toy/components/prepare/component.yaml"] = PREPARE_YAML.replace(
        "image: toy-prepare", "image: registry.invalid/nobody/python:3.11")
    files["pipelines/toy/components/prepare/Dockerfile"] = None
    builder.commit({k: v for k, v in files.items() if v is not None})
    result = cli("push", "--json", cwd=builder.path, env=DOCKER)
    assert result.returncode == 1
    [run] = json.loads(result.stdout)["runs"]
    assert run["status"] == "failed"
    assert run["error"].startswith("image registry.invalid/nobody/python:3.11, which a component "
                                   "of toy runs in, is not in the local Docker engine and could "
                                   "not be pulled")


def test_builder_docker_without_an_engine_names_the_setting(builder):
    builder.commit(toy_files())
    result = cli("push", cwd=builder.path,
                 env={**DOCKER, "DOCKER_HOST": f"unix://{builder.path}/no-such.sock"})
    assert result.returncode != 0
    assert "mlops.yaml local.builder is docker, but no Docker engine answered" in result.stderr
    assert "set local.builder: venv" in result.stderr


@pytest.mark.slow
def test_example_pipeline_runs_in_its_real_image(builder):
    shutil.copytree(EXAMPLE, builder.path / "pipelines" / "wine_quality")
    builder.commit({".gitignore": ".mlops/\n", "mlops.yaml": CONFIG})
    document = cli_json("push", cwd=builder.path, env=DOCKER)
    [build] = document["builds"]
    assert build["image"] == "wine_quality" and build["status"] in ("built", "reused")
    assert build["ref"].startswith("mlops-local/wine_quality:id-")
    [run] = document["runs"]
    assert run["status"] == "succeeded", run["error"]
    assert run["metrics"]["accuracy"] > 0.8 and run["metrics"]["f1"] > 0.8
    [record] = cli_json("runs", "list", cwd=builder.path)["runs"]
    [model] = [a for a in record["artifacts"] if a["type"] == "system.Model"]
    assert Path(model["uri"]).is_file() and model["metadata"]["framework"] == "scikit-learn"

    second = cli_json("push", cwd=builder.path, env=DOCKER)
    assert [b["status"] for b in second["builds"]] == ["reused"]  # builds nothing
    assert second["builds"][0]["ref"] == build["ref"]
    assert [v["status"] for v in second["versions"]] == ["unchanged"]
    assert [r["status"] for r in second["runs"]] == ["existing"]
