"""`mlops-bot gc` on the state three real pushes left: it lists, keeps what a tag, an endpoint's
deployed model, a model, a lock or a recent run refers to, and frees the rest."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from mlops_bot.backends.local.docker_builder import id_ref
from mlops_bot.backends.local.endpoints import LocalEndpoints
from mlops_bot.backends.local.locks import FileLockStore
from mlops_bot.backends.local.models import LocalModelRegistry
from mlops_bot.backends.local.registry import DirectoryRegistry
from mlops_bot.backends.local.state_files import disk_usage
from mlops_bot.backends.model_types import NEW_DEPLOYMENT
from mlops_bot.backends.types import EnvironmentLock
from mlops_bot.config import parse_config
from mlops_bot.errors import ConfigError
from tests.support.cli import cli, cli_json
from tests.support.docker import docker
from tests.support.gitrepo import GitRepoBuilder, pipeline_files
from tests.support.models import candidate, train_wine_model, wine_features

KILL_AT = Path(__file__).parents[1] / "support" / "kill_at.py"


class Project:
    """A repository pushed twice (runs r1 of v1, r2 of v2, each version with its own image
    environment), and v1 run once more by hand in between (r1b); the tags name v2."""

    def __init__(self, root: Path) -> None:
        self.repo = GitRepoBuilder(root / "repo")
        self.state = root / "state"
        self.env = {"MLOPS_BOT_STATE_DIR": str(self.state)}
        files = {".gitignore": ".mlops/\n", **pipeline_files("alpha", components=("train",))}
        self.repo.commit(files)
        first = cli_json("push", cwd=self.repo.path, env=self.env)
        again = cli_json("run", "alpha", "--param", "size=5", cwd=self.repo.path, env=self.env)
        files["pipelines/alpha/src/logic.py"] = "def work(x: int) -> int:\n    return x + 2\n"
        files["mlops.yaml"] = "local:\n  state_size_warning: 1kB\n"
        self.repo.commit(files)
        second = cli_json("push", cwd=self.repo.path, env=self.env)
        self.pushes = [first, second]
        self.runs = [first["runs"][0]["run_id"], again["run_id"],
                     second["runs"][0]["run_id"]]
        self.versions = [push["versions"][0]["version"] for push in self.pushes]
        self.envs = [self.state / "envs" / ("alpha-" + push["builds"][0]["ref"].split(":")[1])
                     for push in self.pushes]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Project:
    return Project(tmp_path_factory.mktemp("gc"))


@pytest.fixture
def state(project: Project, tmp_path: Path) -> Path:
    """A copy of the project's state folder for one test."""
    copy = tmp_path / "state"
    shutil.copytree(project.state, copy, symlinks=True)
    return copy


def gc(project: Project, state: Path, *args: str) -> dict[str, Any]:
    return cli_json("gc", "--keep", "1", "--older-than", "0", *args, cwd=project.repo.path,
                    env={"MLOPS_BOT_STATE_DIR": str(state)})


def names(document: dict[str, Any], kind: str, key: str = "removed") -> list[str]:
    return sorted(Path(item["name"]).name for item in document[key] if item["kind"] == kind)


def run_environment(state: Path, run_id: str) -> str:
    request = json.loads((state / "runs" / run_id / "request.json").read_text())
    return Path(request["environment"]).parent.parent.name


def test_dry_run_lists_what_goes_and_removes_nothing_then_gc_frees_it(project, state):
    r1, r1b, r2 = project.runs
    before = disk_usage(state)
    document = gc(project, state, "--dry-run")
    assert document["dry_run"] is True
    assert names(document, "run") == sorted([r1, r1b])
    assert names(document, "environment") == sorted(
        [project.envs[0].name, run_environment(state, r1)])
    assert run_environment(state, r1) == run_environment(state, r1b)
    assert names(document, "run", "kept") == [r2]
    assert document["freed_bytes"] == sum(i["bytes"] for i in document["removed"]) > 0
    assert all(Path(item["name"]).exists() for item in document["removed"])
    assert disk_usage(state) == before

    text = cli("gc", "--dry-run", "--keep", "1", "--older-than", "0", cwd=project.repo.path,
               env={"MLOPS_BOT_STATE_DIR": str(state)})
    assert text.returncode == 0 and "gc would free" in text.stdout
    assert "2 runs, 2 environments" in text.stdout and "Nothing was removed" in text.stdout

    freed = gc(project, state)
    assert freed["removed"] == document["removed"] and freed["dry_run"] is False
    assert not any(Path(item["name"]).exists() for item in document["removed"])
    assert disk_usage(state) < before
    assert project.envs[1].is_dir() and (state / "runs" / r2 / "run.json").is_file()


def test_gc_keeps_what_endpoints_models_locks_and_tags_refer_to_and_frees_the_rest(
        project, state):
    r1, r1b, r2 = project.runs
    # r1's model serves staging; the production lock is held by r1b; the tags name r2's version.
    artifact = train_wine_model(state / "runs" / r1 / "artifacts" / "model-out")
    model = LocalModelRegistry(state / "models").register(candidate(
        r1, artifact, model="alpha", registry_version=project.versions[0],
        feature_names=tuple(wine_features()), classes=(0, 1, 2)))
    endpoints = LocalEndpoints(state)
    endpoints.deploy(endpoints.ensure("staging", "alpha-staging"), model, {NEW_DEPLOYMENT: 100})
    locks = FileLockStore(state / "locks")
    locks.acquire(EnvironmentLock("production", r1b, "ci", "retraining", "2026-01-01T00:00:00"))
    # What killed commands leave behind.
    incoming = state / "registry/pipelines/alpha/versions/.incoming-k1ll3d"
    incoming.mkdir()
    (incoming / "pipeline.yaml").write_text("half")
    staged = state / "runs" / r2 / ".run.json-x1.tmp"
    staged.write_text("{")
    half_built = state / "envs" / "alpha-000000000000000000000000"
    (half_built / "bin").mkdir(parents=True)
    unrecorded = state / "runs" / "alpha-0000000000000000"
    unrecorded.mkdir()
    (unrecorded / ".claim").touch()

    document = gc(project, state)
    assert names(document, "run", "kept") == sorted([r1, r1b, r2])
    why = {Path(i["name"]).name: i["why"] for i in document["kept"]}
    assert "endpoints/staging.json" in why[r1] and "locks/production.json" in why[r1b]
    assert why[r2] == "one of the newest 1 of its pipeline"
    assert why[project.envs[0].name] == f"referred to by version {project.versions[0]}"
    assert names(document, "temporary") == sorted([incoming.name, staged.name])
    assert names(document, "environment") == [half_built.name]
    assert names(document, "run") == [unrecorded.name]
    assert not incoming.exists() and not staged.exists() and not half_built.exists()

    locks.release("production", r1b)
    document = gc(project, state)
    assert names(document, "run") == [r1b] and document["freed_bytes"] > 0
    assert names(document, "environment") == []  # r1 still runs in them
    listed = cli_json("runs", "list", cwd=project.repo.path,
                      env={"MLOPS_BOT_STATE_DIR": str(state)})["runs"]
    assert sorted(r["run_id"] for r in listed) == sorted([r1, r2])
    assert (artifact / "model").is_file() and (state / "endpoints" / "staging.json").is_file()
    assert len(list((state / "registry/pipelines/alpha/versions").iterdir())) == 2


def test_push_warns_when_the_state_folder_passes_the_configured_size(project):
    [note] = [n for n in project.pushes[1]["notes"] if "local.state_size_warning" in n]
    assert "`mlops-bot gc`" in note and "(1.0 kB)" in note
    assert not any("state_size_warning" in n for n in project.pushes[0]["notes"])
    config = parse_config("local:\n  state_size_warning: 2GiB\n", "mlops.yaml")
    assert config.local.state_size_warning == 2 * 1024 ** 3
    with pytest.raises(ConfigError, match="state_size_warning"):
        parse_config("local:\n  state_size_warning: lots\n", "mlops.yaml")


def test_a_bad_age_is_a_usage_error(project, state):
    result = cli("gc", "--older-than", "soon", cwd=project.repo.path,
                 env={"MLOPS_BOT_STATE_DIR": str(state)})
    assert result.returncode == 2 and "--older-than 'soon' is not an age" in result.stderr


def test_gc_leaves_a_run_being_run_alone(project, state):
    import fcntl

    r1, r1b, _ = project.runs
    with open(state / "runs" / r1 / ".claim", "a") as claim:
        fcntl.flock(claim, fcntl.LOCK_EX)  # as a push running it holds it
        document = gc(project, state)
    assert names(document, "run") == [r1b]
    assert (state / "runs" / r1).is_dir() and not (state / "runs" / r1b).exists()


@pytest.mark.docker
def test_gc_removes_the_images_only_an_old_version_pins_and_no_other_repositorys(
        docker_engine, tmp_path):
    state = tmp_path / "state"
    registry = DirectoryRegistry(state / "registry")
    refs = {}
    for name in ("kept", "old", "foreign"):  # images of their own: a label unique to this test
        image_id = docker("build", "-q", "--label", f"mlops-bot-gc-test={tmp_path}-{name}",
                          "-t", f"mlops-local/gc-{name}:ch-{tmp_path.name}", "-",
                          input="FROM python:3.11-slim\n").stdout.strip()
        refs[name] = id_ref(f"gc-{name}", image_id)
        docker("tag", image_id, refs[name])
    versions = {name: registry.publish("gc", f"spec of {name}\n".encode(),
                                       {"images": {f"gc-{name}": refs[name]}}).version
                for name in ("kept", "old")}
    registry.tag("gc", "main", versions["kept"])
    repo = GitRepoBuilder(tmp_path / "repo")
    repo.commit({"README.md": "gc\n"})
    try:
        document = cli_json("gc", "--older-than", "0", cwd=repo.path,
                            env={"MLOPS_BOT_STATE_DIR": str(state)})
        images = {i["name"]: i for i in document["removed"] + document["kept"]
                  if i["kind"] == "image"}
        [removed] = [i for i in document["removed"] if i["kind"] == "image"]
        assert refs["old"] in removed["name"] and removed["bytes"] > 0
        assert docker("image", "inspect", refs["old"], check=False).returncode != 0
        [kept] = [name for name in images if refs["kept"] in name]
        assert images[kept]["why"] == f"referred to by version {versions['kept']}"
        assert docker("image", "inspect", refs["kept"], check=False).returncode == 0
        assert not any(refs["foreign"] in name for name in images)  # not this registry's
        assert docker("image", "inspect", refs["foreign"], check=False).returncode == 0
    finally:
        for name in ("kept", "old", "foreign"):
            docker("rmi", "-f", refs[name], f"mlops-local/gc-{name}:ch-{tmp_path.name}",
                   check=False)


def test_gc_removes_only_old_checkouts_of_killed_pushes_from_the_temporary_folder(
        project, state, tmp_path):
    scratch = tmp_path / "tmp"
    old, fresh, other = (scratch / "mlops-bot-checkout-k1ll3d", scratch / "mlops-bot-checkout-n0w",
                         scratch / "someone-elses")
    for folder in (old, fresh, other):
        (folder / "tree").mkdir(parents=True)
    two_days_ago = time.time() - 2 * 86400
    for folder in (old, other):
        os.utime(folder, (two_days_ago, two_days_ago))
    document = cli_json("gc", "--keep", "1", "--older-than", "0", cwd=project.repo.path,
                        env={"MLOPS_BOT_STATE_DIR": str(state), "TMPDIR": str(scratch)})
    assert names(document, "temporary") == [old.name]
    assert not old.exists() and fresh.is_dir() and other.is_dir()


def test_a_gc_killed_while_removing_leaves_nothing_that_looks_whole(project, state):
    r1, r1b, _ = project.runs
    env = {**os.environ, "MLOPS_BOT_STATE_DIR": str(state)}
    env.pop("PYTEST_CURRENT_TEST", None)
    killed = subprocess.run(
        [sys.executable, str(KILL_AT), "shutil.rmtree", f"envs/{project.envs[0].name}", "--",
         "gc", "--keep", "1", "--older-than", "0"], cwd=project.repo.path, env=env,
        start_new_session=True, capture_output=True, text=True, timeout=60)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert project.envs[0].name in os.listdir(state / "envs")  # killed before it went
    assert not (state / "envs" / project.envs[0].name / ".mlops-bot-complete").exists()

    document = gc(project, state)  # the next gc finishes the job
    assert project.envs[0].name in names(document, "environment")
    assert not (state / "envs" / project.envs[0].name).exists()
    assert not (state / "runs" / r1).exists() and not (state / "runs" / r1b).exists()


def test_a_garbled_tag_stops_gc_and_a_wrong_shaped_run_record_is_kept(project, state):
    r1, r1b, _ = project.runs
    tag = state / "registry/pipelines/alpha/tags/latest"
    tag.write_bytes(b"\xff\xfe garbage\x00")
    result = cli("gc", "--keep", "1", "--older-than", "0", "--json", cwd=project.repo.path,
                 env={"MLOPS_BOT_STATE_DIR": str(state)})
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert f"gc removed nothing: {tag} cannot be read" in json.loads(result.stdout)["error"][
        "message"]
    assert all((state / "runs" / run).is_dir() for run in project.runs)
    tag.write_text(project.versions[1] + "\n")
    (state / "runs" / r1 / "run.json").write_text("[1, 2]\n")  # what it refers to is unknown
    manifest = state / "registry/pipelines/alpha/versions" / project.versions[0] / "manifest.json"
    manifest.write_text('["images"]\n')
    document = gc(project, state)
    assert names(document, "run") == [r1b] and (state / "runs" / r1).is_dir() and manifest.is_file()
