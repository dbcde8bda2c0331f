"""Each pipeline compiles in a worker process in its own environment, from the clean checkout."""

from __future__ import annotations

import importlib.util
import tempfile
from pathlib import Path

import pytest
import yaml

from mlops_bot.compile import CompiledPipeline
from mlops_bot.compile_pool import CompileJob, compile_in_environments
from mlops_bot.repo.layout import Problem
from tests.support.cli import cli_json
from tests.support.gitrepo import GitRepoBuilder, pipeline_files

TINYLIB = {  # a package no environment has until a pipeline's requirements install it
    "pipelines/alpha/vendor/tinylib/pyproject.toml": (
        "[build-system]\nrequires = ['setuptools']\nbuild-backend = 'setuptools.build_meta'\n\n"
        "[project]\nname = 'mlops-bot-tinylib'\nversion = '1.0'\n\n"
        "[tool.setuptools]\npackages = ['mlops_bot_tinylib']\n"),
    "pipelines/alpha/vendor/tinylib/mlops_bot_tinylib/__init__.py": "GREETING = 'from tinylib'\n",
    "pipelines/alpha/requirements.txt": "./vendor/tinylib\n",
}


def _definition(body: str, default: str = "'x'") -> str:
    return ("from kfp import dsl\n" + body + "\n\n@dsl.component(base_image='python:3.11')\n"
            "def echo(text: str) -> None:\n    print(text)\n\n\n"
            f"@dsl.pipeline\ndef p(text: str = {default}):\n    echo(text=text)\n")


def _compile(repo: GitRepoBuilder, envs: Path, *names: str) -> dict[str, object]:
    jobs = [CompileJob(n, f"pipelines/{n}") for n in names]
    return dict(compile_in_environments(repo.path, jobs, {}, envs))


def _default(compiled: object) -> object:
    assert isinstance(compiled, CompiledPipeline), compiled
    return compiled.parameters["text"]


def test_a_definition_imports_a_package_installed_only_in_its_environment(tmp_path):
    assert importlib.util.find_spec("mlops_bot_tinylib") is None  # not in mlops-bot's env
    repo = GitRepoBuilder(tmp_path / "repo")
    files = {**pipeline_files("alpha"), **pipeline_files("beta"), **TINYLIB}
    files["pipelines/alpha/definition.py"] = _definition(
        "from mlops_bot_tinylib import GREETING", "GREETING")
    files["pipelines/beta/definition.py"] = _definition("import mlops_bot_tinylib")
    repo.commit(files)
    outcomes = _compile(repo, tmp_path / "envs", "alpha", "beta")
    assert _default(outcomes["alpha"]) == "from tinylib"
    assert [p.name for p in (tmp_path / "envs").glob("compile-*") if p.is_dir()] != []
    # beta declares nothing of the kind: the error names the import and where to declare it
    problem = outcomes["beta"]
    assert isinstance(problem, Problem)
    assert (problem.file, problem.line) == ("pipelines/beta/definition.py", 2)
    assert "`mlops_bot_tinylib` is not installed" in problem.message
    assert "declare it in pipelines/beta/pyproject.toml" in problem.message


def test_team_code_cannot_end_or_fool_the_batch(tmp_path):
    repo = GitRepoBuilder(tmp_path / "repo")
    files = {**pipeline_files("a_args"), **pipeline_files("b_exit"), **pipeline_files("c_ok")}
    files["pipelines/a_args/definition.py"] = _definition(
        "import argparse, os\nos.chdir('/')\nparser = argparse.ArgumentParser()\n"
        "parser.add_argument('--project', required=True)\nargs = parser.parse_args()")
    files["pipelines/b_exit/definition.py"] = _definition("import os\nprint('bye')\nos._exit(3)")
    files["pipelines/c_ok/definition.py"] = _definition(
        "import os, sys\nassert sys.argv == [__file__], sys.argv\nprint('to stdout')\n"
        "assert 'mlops_bot' not in sys.modules  # the worker is self-contained\n"
        "WHERE = open('pipelines/c_ok/run.py').read().strip()", "WHERE")
    repo.commit(files)
    outcomes = _compile(repo, tmp_path / "envs", "a_args", "b_exit", "c_ok")
    args = outcomes["a_args"]
    assert isinstance(args, Problem) and (args.file, args.line) == (
        "pipelines/a_args/definition.py", 6)
    assert "SystemExit(2)" in args.message and "--project" in args.message
    crashed = outcomes["b_exit"]
    assert isinstance(crashed, Problem) and crashed.file == "pipelines/b_exit/definition.py"
    assert "ended the compile worker (exit code 3; it printed:\n    bye)" in crashed.message
    # after a chdir and a crash in the same batch, the next pipeline still reads the checkout
    assert _default(outcomes["c_ok"]) == "PARAMETERS = {'size': 1}"


def test_repository_folders_never_shadow_installed_packages(tmp_path):
    repo = GitRepoBuilder(tmp_path / "repo")
    files = pipeline_files("alpha")
    files["docker/__init__.py"] = "raise ImportError('the repository folder was imported')\n"
    files["pipelines/alpha/kfp/__init__.py"] = "raise ImportError('the pipeline folder won')\n"
    files["pipelines/alpha/definition.py"] = _definition(
        "import docker\nfrom components.prepare.definition import prepare",
        "docker.from_env.__module__")
    files.update(pipeline_files("beta"))
    files["pipelines/beta/docker/helpers.py"] = "HELP = 1\n"
    files["pipelines/beta/definition.py"] = _definition("from docker.helpers import HELP")
    repo.commit(files)
    outcomes = _compile(repo, tmp_path / "envs", "alpha", "beta")
    assert _default(outcomes["alpha"]) == "docker.client"
    problem = outcomes["beta"]
    assert isinstance(problem, Problem) and problem.line == 2
    assert "the repository's pipelines/beta/docker has the name of the installed package docker" \
        in problem.message and "is not installed" not in problem.message


def _push_repo(tmp_path: Path) -> GitRepoBuilder:
    repo = GitRepoBuilder(tmp_path / "repo")
    files = {".gitignore": ".mlops/\n", "mlops.yaml": "run_branches: []\n",
             **pipeline_files("alpha"), **pipeline_files("beta"),
             "components/echo/component.yaml": (
                 "name: echo\nimplementation:\n  container:\n    image: alpine:3.19\n"
                 "    command: [echo, committed]\n")}
    files["pipelines/alpha/definition.py"] = (
        "from kfp import components, dsl\n\n"
        "echo = components.load_component_from_file('components/echo/component.yaml')\n\n\n"
        "@dsl.pipeline\ndef alpha():\n    echo()\n")
    files["pipelines/beta/definition.py"] = _definition(
        "import argparse\nparser = argparse.ArgumentParser()\n"
        "parser.add_argument('--project', required=True)\nargs = parser.parse_args()")
    repo.commit(files)
    return repo


def test_push_from_a_subfolder_publishes_the_commit_and_reports_a_module_level_exit(tmp_path):
    repo = _push_repo(tmp_path)
    component = repo.path / "components/echo/component.yaml"
    component.write_text(component.read_text().replace("committed", "uncommitted"))
    document = cli_json("push", "--all", cwd=repo.path / "pipelines" / "alpha", expect=1)
    versions = {v["pipeline"]: v for v in document["versions"]}
    assert versions["alpha"]["status"] == "published"
    assert versions["beta"]["status"] == "failed"
    assert versions["beta"]["error"].startswith("pipelines/beta/definition.py:5: the module "
                                                "exited (SystemExit(2))")
    shown = cli_json("registry", "show", "alpha", cwd=repo.path)
    spec = (repo.path / ".mlops/registry/pipelines/alpha/versions" / shown["version"]
            / "pipeline.yaml").read_text()
    command = yaml.safe_load(spec)["deploymentSpec"]["executors"]["exec-echo"]["container"]
    assert command["command"] == ["echo", "committed"]
    assert shown["manifest"]["kfp_version"]


# Shared by every test run on this machine: installing GCPC from PyPI takes about a minute.
GCPC_ENVS = Path(tempfile.gettempdir()) / "mlops-bot-test-cache" / "envs"
GCPC = "google-cloud-pipeline-components==2.22.0"


@pytest.mark.slow  # the first run installs GCPC and google-cloud-aiplatform 1.x from PyPI (~60 s)
def test_a_pipeline_using_gcpc_compiles_and_publishes(tmp_path):
    assert importlib.util.find_spec("google_cloud_pipeline_components") is None
    repo = GitRepoBuilder(tmp_path / "repo")
    repo.commit({
        "mlops.yaml": "run_branches: []\n",
        "pipelines/gcpc/requirements.txt": GCPC + "\n",
        "pipelines/gcpc/definition.py": (
            "from google_cloud_pipeline_components.v1.custom_job import (\n"
            "    create_custom_training_job_from_component)\nfrom kfp import dsl\n\n\n"
            "@dsl.component(base_image='python:3.11')\ndef train() -> None:\n    print('x')\n\n\n"
            "custom_train = create_custom_training_job_from_component(train, display_name='t')\n\n\n"
            "@dsl.pipeline\ndef gcpc(project: str = 'p', location: str = 'europe-west1'):\n"
            "    custom_train(project=project, location=location)\n"),
    })
    state = tmp_path / "state"
    state.mkdir()
    GCPC_ENVS.mkdir(parents=True, exist_ok=True)
    (state / "envs").symlink_to(GCPC_ENVS)
    document = cli_json("push", "--all", cwd=repo.path, env={"MLOPS_BOT_STATE_DIR": str(state)})
    [version] = document["versions"]
    assert version["status"] == "published", version
    spec = next((state / "registry/pipelines/gcpc/versions").glob("*/pipeline.yaml")).read_text()
    assert "gcr.io/ml-pipeline/google-cloud-pipeline-components:2.22.0" in spec
