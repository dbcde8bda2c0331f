"""In-process compilation: pinned images, parameters, errors with file and line."""

from __future__ import annotations

import sys

import pytest
import yaml

from mlops_bot.compile import CompileError, compile_pipeline, image_repository
from tests.support.gitrepo import GitRepoBuilder, pipeline_files


@pytest.mark.parametrize(("reference", "name"), [
    ("wine_quality", "wine_quality"),
    ("wine_quality:latest", "wine_quality"),
    ("europe-docker.pkg.dev/p/r/wine_quality:abc", "wine_quality"),
    ("europe-docker.pkg.dev/p/r/wine_quality@sha256:00ff", "wine_quality"),
    ("localhost:5000/team/train:v1", "train"),
])
def test_image_repository(reference, name):
    assert image_repository(reference) == name


def test_compile_pins_own_images_and_leaves_others(tmp_path):
    repo = GitRepoBuilder(tmp_path / "repo")
    files = pipeline_files("alpha", components=("prepare", "train"))
    files["pipelines/alpha/components/prepare/definition.py"] = (
        "from kfp import dsl\n\n\n@dsl.component(base_image='python:3.11-slim')\n"
        "def prepare() -> None:\n    print('public image')\n")
    repo.commit(files)
    compiled = compile_pipeline(repo.path, "pipelines/alpha", {"alpha": "reg/alpha@sha256:ab"})
    images = {e["container"]["image"] for e in
              yaml.safe_load(compiled.spec)["deploymentSpec"]["executors"].values()}
    assert images == {"reg/alpha@sha256:ab", "python:3.11-slim"}
    assert compiled.images == {"alpha": "reg/alpha@sha256:ab"}
    assert compiled.unpinned == ("python:3.11-slim",)
    assert compiled.parameters == {"size": 1}
    assert not any(m == "src" or m.startswith(("src.", "components")) for m in sys.modules)


def test_compiling_twice_gives_identical_bytes(tmp_path):
    repo = GitRepoBuilder(tmp_path / "repo")
    repo.commit(pipeline_files("alpha"))
    first = compile_pipeline(repo.path, "pipelines/alpha", {"alpha": "x"}).spec
    assert compile_pipeline(repo.path, "pipelines/alpha", {"alpha": "x"}).spec == first


@pytest.mark.parametrize(("source", "where", "message"), [
    ("from kfp import dsl\nimport not_a_module_anywhere\n\n\n@dsl.pipeline\ndef a():\n    pass\n",
     "pipelines/alpha/definition.py:2",
     "ModuleNotFoundError"),
    ("from kfp import dsl\n\n\n@dsl.pipeline(name='a')\ndef a(n: int = 1):\n    print(1 / 0)\n",
     "pipelines/alpha/definition.py:6", "ZeroDivisionError"),
    ("def broken(:\n", "pipelines/alpha/definition.py:1", "syntax error"),
    ("from kfp import dsl\n", "pipelines/alpha/definition.py", "defines no pipeline"),
])
def test_compile_errors_name_file_and_line(tmp_path, source, where, message):
    repo = GitRepoBuilder(tmp_path / "repo")
    files = pipeline_files("alpha")
    files["pipelines/alpha/definition.py"] = source
    repo.commit(files)
    with pytest.raises(CompileError) as raised:
        compile_pipeline(repo.path, "pipelines/alpha", {})
    assert str(raised.value.problem).startswith(where)
    assert message in str(raised.value.problem)


def test_error_inside_a_component_module_points_at_that_file(tmp_path):
    repo = GitRepoBuilder(tmp_path / "repo")
    files = pipeline_files("alpha")
    files["pipelines/alpha/components/train/definition.py"] = "from kfp import dsl\nraise RuntimeError('no')\n"
    repo.commit(files)
    with pytest.raises(CompileError) as raised:
        compile_pipeline(repo.path, "pipelines/alpha", {})
    assert str(raised.value.problem).startswith(
        "pipelines/alpha/components/train/definition.py:2: RuntimeError: no")


def test_compile_command_writes_specs_and_reports_failures(tmp_path):
    from tests.support.cli import cli_json

    repo = GitRepoBuilder(tmp_path / "repo")
    files = {**pipeline_files("alpha"), **pipeline_files("beta")}
    files["pipelines/beta/definition.py"] = "from kfp import dsl\nimport nowhere\n\n\n@dsl.pipeline\ndef b():\n    pass\n"
    repo.commit(files)
    out = tmp_path / "out"
    document = cli_json("compile", "--out", str(out), "--image", "alpha=reg/alpha@sha256:1",
                        cwd=repo.path, expect=1)
    results = {r["pipeline"]: r for r in document["pipelines"]}
    assert results["alpha"]["ok"] and "reg/alpha@sha256:1" in (out / "alpha.yaml").read_text()
    assert results["beta"]["error"].startswith("pipelines/beta/definition.py:2: ModuleNotFoundError")
    only = cli_json("compile", "alpha", "--out", str(out), cwd=repo.path)
    assert [r["pipeline"] for r in only["pipelines"]] == ["alpha"]
