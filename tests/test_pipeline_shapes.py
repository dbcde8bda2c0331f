"""Every KFP pipeline shape compiles as kfp.compiler compiles it: nested pipelines (the outermost),
pipelines defined in blocks, platform config documents, embedded archives made deterministic."""

from __future__ import annotations

import base64
import gzip
import io
import re
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest
import yaml

from mlops_bot.compile import CompileError, compile_pipeline
from mlops_bot.compile_normalise import normalise_archive
from mlops_bot.repo.checks import check_definition, parser_of
from tests.support.cli import cli_json
from tests.support.gitrepo import GitRepoBuilder

NESTED = """\
from kfp import dsl


@dsl.component(base_image='nested')
def add(a: int, b: int) -> int:
    return a + b


@dsl.pipeline(name='inner')
def inner(x: int) -> int:
    return add(a=x, b=1).output


@dsl.pipeline(name='middle')
def middle(x: int) -> int:
    first = inner(x=x)
    return inner(x=first.output).output


@dsl.pipeline(name='nested')
def outer(size: int = 2):
    middle(x=size)
    add(a=size, b=size)
"""

AMBIGUOUS = """\
from kfp import dsl


@dsl.component(base_image='python:3.11-slim')
def hello() -> None:
    print('hello')


@dsl.pipeline(name='training')
def training():
    hello()


@dsl.pipeline(name='scoring')
def scoring():
    hello()
"""


def kfp_compiled(repo: Path, pipeline: str, function: str) -> list[dict]:
    """What kfp.compiler writes for `function`, in a process of its own."""
    target = repo.parent / f"{pipeline}-{function}.yaml"
    program = (f"import sys; sys.path[:0] = [{str(repo / 'pipelines' / pipeline)!r}]\n"
               "import importlib.util\nfrom kfp import compiler\n"
               f"spec = importlib.util.spec_from_file_location('d', "
               f"{str(repo / 'pipelines' / pipeline / 'definition.py')!r})\n"
               "module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module)\n"
               f"compiler.Compiler().compile(module.{function}, {str(target)!r})\n")
    subprocess.run([sys.executable, "-c", program], check=True, capture_output=True)
    return [d for d in yaml.safe_load_all(target.read_text()) if d is not None]


def images_of(document: dict) -> set[str]:
    return {e["container"]["image"] for e in document["deploymentSpec"]["executors"].values()}


def test_nested_pipelines_compile_the_outermost_as_kfp_does(tmp_path):
    repo = GitRepoBuilder(tmp_path / "repo")
    repo.commit({"pipelines/nested/definition.py": NESTED})
    compiled = compile_pipeline(repo.path, "pipelines/nested", {"nested": "reg/nested@sha256:ab"})
    [published] = list(yaml.safe_load_all(compiled.spec))
    [expected] = kfp_compiled(repo.path, "nested", "outer")
    assert images_of(published) == {"reg/nested@sha256:ab"} and images_of(expected) == {"nested"}
    for executor in expected["deploymentSpec"]["executors"].values():
        executor["container"]["image"] = "reg/nested@sha256:ab"
    assert published == expected
    assert published["pipelineInfo"]["name"] == "nested"
    assert compiled.parameters == {"size": 2}


def test_two_outermost_pipelines_are_refused_naming_them_and_the_key_that_chooses():
    parse = parser_of(AMBIGUOUS.encode(), "pipelines/two/definition.py")
    [problem] = check_definition(parse, "pipelines/two/definition.py")
    assert "2 pipelines that no other pipeline calls (training (line 10), scoring (line 15))" \
        in problem.message
    assert "`function: training` under pipelines.<pipeline> in mlops.yaml" in problem.message
    assert check_definition(parse, "pipelines/two/definition.py", "scoring") == []
    [unknown] = check_definition(parse, "pipelines/two/definition.py", "scorin")
    assert "has no @dsl.pipeline or component function 'scorin'" in unknown.message
    assert "its pipelines: training (line 10), scoring (line 15); its components: hello (line 5)" \
        in unknown.message


def test_the_configured_function_is_the_one_compiled(tmp_path):
    repo = GitRepoBuilder(tmp_path / "repo")
    repo.commit({"pipelines/two/definition.py": AMBIGUOUS})
    with pytest.raises(CompileError, match="no other pipeline calls"):
        compile_pipeline(repo.path, "pipelines/two", {})
    compiled = compile_pipeline(repo.path, "pipelines/two", {}, function="scoring")
    assert yaml.safe_load(compiled.spec)["pipelineInfo"]["name"] == "scoring"


COMPONENTS_ONLY = """\
from kfp import dsl
from kfp.dsl import Output, OutputPath, Dataset


@dsl.component(base_image='python:3.11-slim')
def add(a: int, b: int = 2) -> int:
    return a + b


@dsl.container_component
def echo(text: str, out: OutputPath(str)):
    return dsl.ContainerSpec(image='alpine', command=['sh', '-c', 'echo "$0" > "$1"'],
                             args=[text, out])
"""


def test_a_file_of_components_only_is_refused_naming_them_and_the_key_that_compiles_one():
    path = "pipelines/add/definition.py"
    [problem] = check_definition(parser_of(COMPONENTS_ONLY.encode(), path), path)
    assert "defines no pipeline, only components (add (line 6), echo (line 11))" in problem.message
    assert "`function: add` under pipelines.<pipeline> in mlops.yaml" in problem.message
    assert check_definition(parser_of(COMPONENTS_ONLY.encode(), path), path, "echo") == []


@pytest.mark.parametrize("function", ["add", "echo"])
def test_a_component_named_by_function_compiles_as_a_pipeline_of_one_task_as_kfp_does(
        tmp_path, function):
    repo = GitRepoBuilder(tmp_path / "repo")
    repo.commit({"pipelines/add/definition.py": COMPONENTS_ONLY})
    compiled = compile_pipeline(repo.path, "pipelines/add", {}, function=function)
    [published] = list(yaml.safe_load_all(compiled.spec))
    [expected] = kfp_compiled(repo.path, "add", function)
    assert published == expected
    assert published["pipelineInfo"]["name"] == function
    assert compiled.parameters == ({"a": None, "b": 2} if function == "add" else {"text": None})


def test_a_component_named_by_function_is_pushed_and_runs_with_its_plan_noting_what_it_needs(
        tmp_path):
    repo = GitRepoBuilder(tmp_path / "repo")
    repo.commit({"mlops.yaml": "pipelines:\n  add:\n    function: add\n",
                 "pipelines/add/definition.py": COMPONENTS_ONLY})
    plan = cli_json("plan", "--all", "--head", "HEAD", cwd=repo.path)
    assert "add cannot run: parameter a has no default" in " ".join(plan["notes"]), plan
    pushed = cli_json("push", "--all", "--param", "a=40", cwd=repo.path)
    [run] = pushed["runs"]
    assert run["status"] == "succeeded", run
    assert pushed["versions"][0]["status"] == "published"


BLOCKS = """\
import contextlib
from kfp import dsl


@dsl.component(base_image='python:3.11-slim')
def hello(n: int) -> None:
    print(n)


with contextlib.suppress(ImportError):
    if True:
        @dsl.pipeline(name='blocked')
        def blocked(n: int = 3):
            hello(n=n)
"""


def test_a_pipeline_defined_in_module_level_blocks_compiles(tmp_path):
    repo = GitRepoBuilder(tmp_path / "repo")
    repo.commit({"pipelines/blocked/definition.py": BLOCKS})
    compiled = compile_pipeline(repo.path, "pipelines/blocked", {})
    assert yaml.safe_load(compiled.spec)["pipelineInfo"]["name"] == "blocked"
    assert compiled.parameters == {"n": 3}
    inside_a_function = "from kfp import dsl\n\ndef make():\n    @dsl.pipeline\n    def p():\n" \
        "        pass\n    return p\n"
    [problem] = check_definition(parser_of(inside_a_function.encode(), "d.py"), "d.py")
    assert "defines no pipeline" in problem.message


NOTEBOOK = """\
from kfp import dsl


@dsl.notebook_component(notebook_path='pipelines/nb/analysis.ipynb', base_image='python:3.11-slim')
def analyse(n: int):
    dsl.run_notebook(n=n)


@dsl.component(embedded_artifact_path='pipelines/nb/assets', base_image='python:3.11-slim')
def uses_assets(n: int):
    print(n)


@dsl.pipeline(name='nb', pipeline_config=dsl.PipelineConfig(
    workspace=dsl.WorkspaceConfig(size='1Gi')))
def nb(n: int = 1):
    analyse(n=n)
    uses_assets(n=n)
"""

NOTEBOOK_FILE = ('{"cells": [{"cell_type": "code", "metadata": {}, "source": ["print(n)"], '
                 '"outputs": [], "execution_count": null}], "metadata": {}, "nbformat": 4, '
                 '"nbformat_minor": 5}\n')


def notebook_files() -> dict[str, str]:
    return {"pipelines/nb/definition.py": NOTEBOOK, "pipelines/nb/analysis.ipynb": NOTEBOOK_FILE,
            "pipelines/nb/assets/data.txt": "x,y\n1,2\n"}


def archives(spec: bytes) -> list[bytes]:
    return [base64.b64decode(b) for b in
            re.findall(r"__KFP_EMBEDDED_ARCHIVE_B64 = '([A-Za-z0-9+/=]+)'", spec.decode())]


def test_embedded_archives_compile_to_the_same_bytes_whatever_the_time_and_file_dates(tmp_path):
    # The notebook paths are relative to the working directory, as kfp reads them.
    repo = GitRepoBuilder(tmp_path / "repo")
    repo.commit(notebook_files())
    first = compile_pipeline(repo.path, "pipelines/nb", {})
    time.sleep(1.1)  # gzip records the second it compressed in
    for path in (repo.path / "pipelines/nb").rglob("*"):
        path.touch()  # what a fresh checkout of the same commit does to the files
    assert compile_pipeline(repo.path, "pipelines/nb", {}).spec == first.spec
    found = archives(first.spec)
    assert len(found) == 2
    for archive in found:
        assert normalise_archive(archive) == archive
        with tarfile.open(fileobj=io.BytesIO(gzip.decompress(archive))) as tar:
            assert {m.mtime for m in tar.getmembers()} == {0}
            contents = {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}
        assert contents in ({"analysis.ipynb": NOTEBOOK_FILE.encode()},
                            {"./data.txt": b"x,y\n1,2\n"})
    [_, platform] = list(yaml.safe_load_all(first.spec))
    assert platform["platforms"]["kubernetes"]["pipelineConfig"]["workspace"]["size"] == "1Gi"


@pytest.fixture(autouse=True)
def _in_repo(tmp_path, monkeypatch):
    # kfp reads notebook and embedded paths from the working directory.
    (tmp_path / "repo").mkdir()
    monkeypatch.chdir(tmp_path / "repo")


def test_the_function_key_must_be_a_function_name():
    from mlops_bot.config import parse_config
    from mlops_bot.errors import ConfigError

    assert parse_config("pipelines:\n  two:\n    function: scoring\n", "mlops.yaml").pipelines[
        "two"].function == "scoring"
    with pytest.raises(ConfigError, match=r"pipelines\.two\.function: 'scoring\(\)' is not "
                       r"allowed: a function name"):
        parse_config("pipelines:\n  two:\n    function: scoring()\n", "mlops.yaml")
