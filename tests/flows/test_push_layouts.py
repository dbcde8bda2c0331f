"""`mlops-bot push` on the layouts of seeds 001-003 (entries:, a library image, compiled specs),
and every image the repository builds pinned in what it publishes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.repo.test_entries_plan import SEED_001, SEED_003, definition
from tests.support.cli import cli, cli_json
from tests.support.gitrepo import GitRepoBuilder, pipeline_files

PUBLISH_ONLY = "run_branches: ['release/*']\n"  # these tests look at what is published


@pytest.fixture
def builder(tmp_path: Path) -> GitRepoBuilder:
    return GitRepoBuilder(tmp_path / "repo")


def commit(builder: GitRepoBuilder, files: dict[str, str | None]) -> str:
    return builder.commit({".gitignore": ".mlops/\n", **files})


def images_of(builder: GitRepoBuilder, pipeline: str, version: str) -> set[str]:
    spec = (builder.path / ".mlops/registry/pipelines" / pipeline / "versions" / version
            / "pipeline.yaml").read_text()
    executors = next(yaml.safe_load_all(spec))["deploymentSpec"]["executors"]
    return {e["container"]["image"] for e in executors.values()}


def manifest(builder: GitRepoBuilder, pipeline: str) -> dict[str, Any]:
    shown: dict[str, Any] = cli_json("registry", "show", f"{pipeline}:main", cwd=builder.path)
    return dict(shown["manifest"])


def test_one_file_per_pipeline_is_found_published_and_run(builder, tmp_path):
    commit(builder, {**SEED_003, "mlops.yaml": SEED_003["mlops.yaml"]
                     + "pipelines: {fraud: {run: false}}\n"})  # one run shows they run
    listed = cli_json("pipelines", cwd=builder.path)
    assert [p["name"] for p in listed["pipelines"]] == ["churn", "fraud"]
    compiled = cli_json("compile", "--out", str(tmp_path / "out"), cwd=builder.path)
    assert (tmp_path / "out" / "churn.yaml").is_file(), compiled
    document = cli_json("push", cwd=builder.path)
    assert sorted((v["pipeline"], v["status"]) for v in document["versions"]) == [
        ("churn", "published"), ("fraud", "published")]
    assert [(r["pipeline"], r["status"]) for r in document["runs"]] == [("churn", "succeeded")]


def test_library_image_built_once_and_pinned_when_a_push_does_not_rebuild_it(builder):
    files = {**SEED_001, "mlops.yaml": SEED_001["mlops.yaml"] + PUBLISH_ONLY}
    commit(builder, files)
    first = cli_json("push", cwd=builder.path)
    [build] = first["builds"]
    assert (build["image"], build["status"]) == ("kfx", "built")
    for pipeline in ("daily", "weekly"):
        assert manifest(builder, pipeline)["images"] == {"kfx": build["ref"]}

    commit(builder, {"kfx/pipelines/daily/pipeline.py": files[
        "kfx/pipelines/daily/pipeline.py"].replace("name='daily'", "name='daily-v2'")})
    second = cli_json("push", cwd=builder.path)
    [version] = second["versions"]
    assert version["pipeline"] == "daily" and version["status"] == "published"
    assert [(b["image"], b["status"]) for b in second["builds"]] == [("kfx", "reused")]
    daily = manifest(builder, "daily")
    assert daily["images"] == {"kfx": build["ref"]} and daily["unpinned_images"] == []
    assert images_of(builder, "daily", version["version"]) == {build["ref"]}


COPY = ("from kfp import dsl\nfrom components.fmt.definition import fmt\n\n\n"
        "@dsl.component(base_image='alpha')\ndef step() -> None:\n    from src.logic import work\n"
        "    work(1)\n\n\n@dsl.pipeline(name='copy')\ndef copy():\n    step()\n    fmt()\n")
SHARED_FMT = {"components/fmt/Dockerfile": "FROM python:3.11-slim\n",
              "components/fmt/definition.py": ("from kfp import dsl\n\n\n"
                                               "@dsl.component(base_image='shared-fmt')\n"
                                               "def fmt() -> None:\n    print('fmt')\n")}


def test_a_copied_pipeline_pins_the_images_it_names_and_follows_their_changes(builder):
    commit(builder, {**pipeline_files("alpha"), **SHARED_FMT, "mlops.yaml": PUBLISH_ONLY,
                     "pipelines/copy/definition.py": COPY})
    first = {b["image"]: b["ref"] for b in cli_json("push", cwd=builder.path)["builds"]}
    assert set(first) == {"alpha", "shared-fmt"}
    assert manifest(builder, "copy")["images"] == first

    # Only the copy changes: no image is rebuilt, and each is still pinned.
    commit(builder, {"pipelines/copy/definition.py": COPY.replace("'copy'", "'copy-v2'")})
    second = cli_json("push", cwd=builder.path)
    assert [v["pipeline"] for v in second["versions"]] == ["copy"]
    assert {b["status"] for b in second["builds"]} == {"reused"}
    pinned = manifest(builder, "copy")
    assert pinned["images"] == first and pinned["unpinned_images"] == []

    commit(builder, {"pipelines/alpha/src/logic.py": "def work(x: int) -> int:\n    return x\n"})
    third = cli_json("push", cwd=builder.path)
    rebuilt = {b["image"]: b for b in third["builds"]}
    assert rebuilt["alpha"]["status"] == "built" and rebuilt["alpha"]["ref"] != first["alpha"]
    [copy_plan] = [p for p in third["plan"]["pipelines"] if p["name"] == "copy"]
    assert copy_plan["reasons"] == ["pipelines/copy/definition.py uses image alpha, whose inputs "
                                    "changed (pipelines/alpha/src/logic.py modified)"]
    assert manifest(builder, "copy")["images"] == {**first, "alpha": rebuilt["alpha"]["ref"]}


def test_a_bare_image_the_repository_does_not_build_is_a_compile_error(builder):
    commit(builder, {"pipelines/lost/definition.py": definition("lost", base_image="wine_quality"),
                     "mlops.yaml": PUBLISH_ONLY})
    document = cli_json("push", cwd=builder.path, expect=1)
    [version] = document["versions"]
    assert version["status"] == "failed"
    assert version["error"].startswith("pipelines/lost/definition.py: component step names image "
                                       "'wine_quality', which the repository does not build")


def test_nothing_found_is_an_error_naming_where_it_looked(builder):
    commit(builder, {"notebooks/train.py": "print('training')\n"})
    result = cli("push", cwd=builder.path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "no pipeline found" in result.stderr and "pipelines/*/definition.py" in result.stderr

    commit(builder, {"mlops.yaml": "entries: ['flows/*.py']\n"})
    result = cli("push", cwd=builder.path)
    assert result.returncode == 1 and "looked for flows/*.py" in result.stderr


def compiled_ir(tmp_path: Path, image: str) -> dict[str, Any]:
    """What `kfp.compiler` makes of a small pipeline whose parameter has no default (from a
    file of its own: this module's postponed annotations are not types kfp can read)."""
    source = (f"from kfp import compiler, dsl\n\n@dsl.component(base_image={image!r})\n"
              "def count(n: int) -> int:\n    return n + 1\n\n"
              "@dsl.pipeline(name='tfx-like')\ndef tfx_like(n: int):\n    count(n=n)\n\n"
              "compiler.Compiler().compile(tfx_like, 'ir.yaml')\n")
    (tmp_path / "make_ir.py").write_text(source)
    subprocess.run([sys.executable, "make_ir.py"], cwd=tmp_path, check=True)
    target = tmp_path / "ir.yaml"
    document: dict[str, Any] = yaml.safe_load(target.read_text())
    return document


def test_precompiled_specs_are_published_and_run_as_they_are(builder, tmp_path):
    ir = compiled_ir(tmp_path, "gcr.io/my-project/trainer:latest")
    job = {"displayName": "tfx", "pipelineSpec": ir,
           "runtimeConfig": {"gcsOutputDirectory": "gs://b/root", "parameterValues": {"n": 3}}}
    plain = compiled_ir(tmp_path, "python:3.11")
    plain["root"]["inputDefinitions"]["parameters"]["n"]["defaultValue"] = 1
    commit(builder, {
        "mlops.yaml": ("entries: ['tfx/*/pipeline.json', 'specs/*.yaml']\n"
                       "images:\n- {name: trainer, context: trainer}\n"),
        "trainer/Dockerfile": "FROM python:3.11-slim\n",
        "tfx/taxi/pipeline.json": json.dumps(job),
        "specs/plain.yaml": yaml.safe_dump(plain),
    })
    document = cli_json("push", cwd=builder.path)
    assert sorted((v["pipeline"], v["status"]) for v in document["versions"]) == [
        ("plain", "published"), ("taxi", "published")]
    assert sorted((r["pipeline"], r["status"]) for r in document["runs"]) == [
        ("plain", "succeeded"), ("taxi", "succeeded")]
    [trainer] = [b for b in document["builds"] if b["image"] == "trainer"]
    taxi = manifest(builder, "taxi")
    assert taxi["images"] == {"trainer": trainer["ref"]} and taxi["parameters"] == {"n": 3}
    assert manifest(builder, "plain")["unpinned_images"] == ["python:3.11"]
    out = tmp_path / "out"
    compiled = cli_json("compile", "--out", str(out), "taxi", cwd=builder.path)
    root = yaml.safe_load((out / "taxi.yaml").read_text())["root"]
    assert root["dag"] == ir["root"]["dag"], compiled
    assert root["inputDefinitions"]["parameters"]["n"]["defaultValue"] == 3  # runtimeConfig's


def test_a_file_that_is_not_a_compiled_spec_is_refused_naming_it(builder):
    commit(builder, {"mlops.yaml": "entries: ['specs/*.json']\n" + PUBLISH_ONLY,
                     "specs/notes.json": '{"displayName": "not a pipeline"}'})
    document = cli_json("push", cwd=builder.path, expect=1)
    [version] = document["versions"]
    assert version["error"].startswith("specs/notes.json: not a compiled KFP pipeline spec")


def test_config_check_knows_the_pipelines_entries_find(builder):
    commit(builder, {**SEED_003, "mlops.yaml": SEED_003["mlops.yaml"]
                     + "pipelines: {churn: {run: false}}\n"})
    assert cli("config", "check", cwd=builder.path).returncode == 0
    commit(builder, {"mlops.yaml": SEED_003["mlops.yaml"] + "pipelines: {chrun: {run: false}}\n"})
    result = cli("config", "check", cwd=builder.path)
    assert result.returncode == 1 and "did you mean 'churn'?" in result.stderr, result.stderr
