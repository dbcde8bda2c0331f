"""Real faults under the real commands: damaged state files of another pipeline, of the
endpoint, a full disk and a read-only state folder during `deploy` and `push`.

Two pipelines are pushed once per module; each test works on its own copy of that state (in a
temporary folder, or on a small tmpfs), through MLOPS_BOT_STATE_DIR. After each fault: exit 1
with one sentence naming the file or path (one JSON document with --json), no temporary file
left, and the state still reads, so the next command recovers.
"""

from __future__ import annotations

import contextlib
import json
import re
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mlops_bot.backends.local.endpoints import LocalEndpoints
from tests.support.cli import cli, cli_json
from tests.support.disks import fill, leftovers, read_only, tmpfs
from tests.support.gitrepo import GitRepoBuilder, pipeline_files

pytestmark = pytest.mark.slow

EXAMPLE = Path(__file__).parents[2] / "pipelines" / "wine_quality"
MLOPS_YAML = "environments:\n  staging:\n    endpoint: wine-staging\n    canary_percent: 25\n"


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> GitRepoBuilder:
    builder = GitRepoBuilder(tmp_path_factory.mktemp("faults") / "repo")
    shutil.copytree(EXAMPLE, builder.path / "pipelines" / "wine_quality")
    builder.commit({".gitignore": ".mlops/\n", "mlops.yaml": MLOPS_YAML,
                    **pipeline_files("beta")})
    runs = cli_json("push", cwd=builder.path)["runs"]
    assert {r["pipeline"]: r["status"] for r in runs} == {"beta": "succeeded",
                                                          "wine_quality": "succeeded"}
    return builder


def copy_state(project: GitRepoBuilder, target: Path) -> dict[str, str]:
    """A copy of the pushed state in `target`; the environment that points commands at it."""
    shutil.copytree(project.path / ".mlops", target, dirs_exist_ok=True, symlinks=True)
    return {"MLOPS_BOT_STATE_DIR": str(target)}


def shared_state(project: GitRepoBuilder, target: Path) -> dict[str, str]:
    """A state folder in `target` sharing the pushed runs, registry and environments (their
    records name their artifacts by absolute path), with its own models, endpoints and locks."""
    target.mkdir(parents=True, exist_ok=True)
    for shared in ("runs", "registry", "envs"):
        (target / shared).symlink_to(project.path / ".mlops" / shared)
    return {"MLOPS_BOT_STATE_DIR": str(target)}


@contextlib.contextmanager
def damaged(path: Path, content: bytes) -> Iterator[None]:
    """`path` holds `content` for the block (a file the module's tests share)."""
    good = path.read_bytes()
    path.write_bytes(content)
    try:
        yield
    finally:
        path.write_bytes(good)


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Path]:
    with tmpfs(tmp_path / "disk", size="2m") as folder:
        yield folder


def deploy(project: GitRepoBuilder, env: dict[str, str], expect: int = 0) -> dict[str, Any]:
    return cli_json("deploy", "staging", "--pipeline", "wine_quality", cwd=project.path,
                    env=env, expect=expect)


def failed_json(project: GitRepoBuilder, env: dict[str, str], *args: str) -> tuple[str, str]:
    """A --json command that fails: exit 1, one error document; its code and message."""
    result = cli(*args, "--json", cwd=project.path, env=env)
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr and result.stdout.count("\n") == 1, result.stdout
    error = json.loads(result.stdout)["error"]
    assert "\n" not in error["message"] and result.stderr.count(error["message"]) == 1
    return error["code"], error["message"]


def run_file(state: Path, pipeline: str, name: str) -> Path:
    [path] = state.glob(f"runs/{pipeline.replace('_', '-')}-*/{name}")
    return path


def test_a_bad_run_record_and_manifest_of_another_pipeline_never_block_a_deploy(project,
                                                                              tmp_path):
    env = shared_state(project, tmp_path / "state")
    run = run_file(tmp_path / "state", "beta", "run.json")
    [manifest] = (tmp_path / "state").glob("registry/pipelines/beta/versions/*/manifest.json")
    with damaged(run, run.read_bytes()[:50]), damaged(manifest, b"\xff\x00#!"):
        assert deploy(project, env)["status"] == "promoted"
        runs = cli("runs", "list", "--json", cwd=project.path, env=env)
        versions = cli("registry", "list", "--json", cwd=project.path, env=env)
    assert runs.returncode == 0 and versions.returncode == 0
    assert [r["pipeline"] for r in json.loads(runs.stdout)["runs"]] == ["wine_quality"]
    assert [v["pipeline"] for v in json.loads(versions.stdout)["versions"]] == ["wine_quality"]
    assert f"warning: skipped a run: {run} is not valid JSON" in runs.stderr
    assert f"mv {run} {run}.bad" in runs.stderr
    assert f"skipped beta@{manifest.parent.name}: {manifest} is not" in versions.stderr


def test_a_bad_endpoint_state_is_one_sentence_and_its_fix_works(project, tmp_path):
    env = shared_state(project, tmp_path / "state")
    LocalEndpoints(tmp_path / "state").ensure("staging", "wine-staging")
    path = tmp_path / "state" / "endpoints" / "staging.json"
    path.write_bytes(path.read_bytes()[:40])
    for args in (("deploy", "staging", "--pipeline", "wine_quality"),
                 ("endpoints", "show", "staging"), ("rollback", "staging")):
        code, message = failed_json(project, env, *args)
        assert code == "invalid_state" and message.startswith(f"{path} is not valid JSON")
    subprocess.run(shlex.split(re.search(r"`(mv [^`]+)`", message).group(1)), check=True)
    # Moved aside, nothing is deployed there (the next deploy writes it again: ensure()).
    assert cli_json("endpoints", "show", "staging", cwd=project.path, env=env)["deployed"] == []


def test_a_damaged_model_version_record_hides_only_its_own_details(project, tmp_path):
    """What serves where is the endpoint's own record: a damaged version file beside it costs
    that model's aliases and metrics, named as the problem, not the environment's listing."""
    env = shared_state(project, tmp_path / "state")
    deployed = deploy(project, env)
    assert deployed["status"] == "promoted"
    [version_file] = (tmp_path / "state").glob("models/wine_quality/[0-9]*.json")
    version_file.write_bytes(version_file.read_bytes()[:30])
    listed = cli("endpoints", "list", "--json", cwd=project.path, env=env)
    assert listed.returncode == 0, listed.stderr
    [staging] = json.loads(listed.stdout)["environments"]
    [model] = staging["deployed"]
    assert model["traffic"] == 100 and model["lineage"]["git_sha"] == project.head()
    assert model["aliases"] == [] and model["problem"].startswith(f"{version_file} is not")
    assert f"mv {version_file} {version_file}.bad" in model["problem"]
    assert f"warning: staging: {version_file} is not" in listed.stderr
    shown = cli("endpoints", "show", "staging", cwd=project.path, env=env)
    assert shown.returncode == 0, shown.stderr
    assert "100% of traffic" in shown.stdout and f"problem: {version_file} is not" in shown.stdout
    table = cli("endpoints", "list", cwd=project.path, env=env)
    assert "wine-staging" in table.stdout and "problem: staging: " in table.stdout


def test_a_deploy_on_a_full_disk_says_so_and_leaves_the_state_readable(project, disk):
    env = shared_state(project, disk / "state")
    fill(disk)
    code, message = failed_json(project, env, "deploy", "staging", "--pipeline", "wine_quality")
    assert code == "storage" and "no space left on the device" in message
    assert str(disk / "state") in message
    assert leftovers(disk) == []
    shown = cli_json("endpoints", "show", "staging", cwd=project.path, env=env)
    assert shown["deployed"] == []  # nothing half-deployed
    assert cli_json("runs", "list", cwd=project.path, env=env)["runs"]
    (disk / "filler").unlink()
    assert deploy(project, env)["status"] == "promoted"  # with space again, it recovers


def changed_clone(project: GitRepoBuilder, folder: Path) -> GitRepoBuilder:
    """A copy of the project's repository with a commit that makes a new run of beta."""
    shutil.copytree(project.path, folder, symlinks=True, ignore=shutil.ignore_patterns(".mlops"))
    clone = GitRepoBuilder(folder)
    clone.commit({"pipelines/beta/run.py": "PARAMETERS = {'size': 2}\n"})
    return clone


def test_a_push_on_a_full_disk_says_so_and_the_next_push_recovers(project, disk, tmp_path):
    clone = changed_clone(project, tmp_path / "repo")
    env = copy_state(project, disk / "state")
    fill(disk)
    result = cli("push", "--json", cwd=clone.path, env=env)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stdout.count("\n") == 1  # one document, whatever failed
    said = result.stdout + result.stderr
    assert "no space left" in said.lower() and str(disk / "state") in said
    assert leftovers(disk) == []
    (disk / "filler").unlink()
    runs = cli_json("push", cwd=clone.path, env=env)["runs"]
    assert [(r["pipeline"], r["status"]) for r in runs] == [("beta", "succeeded")]


def test_a_read_only_state_folder_is_one_sentence(project, disk):
    env = shared_state(project, disk / "state")
    read_only(disk)
    code, message = failed_json(project, env, "deploy", "staging", "--pipeline", "wine_quality")
    assert code == "storage" and "the file system is read-only" in message
    assert str(disk / "state") in message
    assert cli_json("runs", "list", cwd=project.path, env=env)["runs"]  # reading still works


@pytest.mark.parametrize("builder", ["venv", "auto"])  # auto: Docker where an engine answers
def test_a_push_to_a_read_only_state_folder_is_one_sentence(project, disk, tmp_path, builder):
    clone = changed_clone(project, tmp_path / "repo")
    env = {**copy_state(project, disk / "state"), "MLOPS_BOT_LOCAL_BUILDER": builder}
    read_only(disk)
    result = cli("push", "--json", cwd=clone.path, env=env)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stdout.count("\n") == 1  # one document, whatever failed
    said = result.stdout + result.stderr
    assert "the file system is read-only" in said and str(disk / "state") in said
    assert "a bug" not in said
