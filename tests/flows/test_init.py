"""`mlops-bot init`: what it writes, that it is valid, and that it never half-overwrites."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from mlops_bot import __version__
from mlops_bot.config import load_config, parse_config
from mlops_bot.errors import UserError
from mlops_bot.flows.init import DEFAULT_ACTION_REF, TEMPLATES, render_files, write_files
from tests.support.cli import cli
from tests.support.gitrepo import GitRepoBuilder

ACTION_REF = "example-org/mlops-bot@" + "ab" * 20
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return GitRepoBuilder(tmp_path / "repo").path


def _contents(repo: Path) -> dict[str, str]:
    return {path: (repo / path).read_text() for path in TEMPLATES if (repo / path).exists()}


def test_init_writes_the_config_and_the_workflows_and_says_what_next(repo):
    result = cli("init", "--repo", str(repo), "--action-ref", ACTION_REF)
    assert result.returncode == 0, result.stderr
    assert set(_contents(repo)) == set(TEMPLATES)
    for path in TEMPLATES:
        assert path in result.stdout
    for step in ("mlops-bot bootstrap", "GCP_WORKLOAD_IDENTITY_PROVIDER",
                 "GCP_BUILD_SERVICE_ACCOUNT", "GCP_DEPLOY_SERVICE_ACCOUNT in each environment",
                 "required reviewers"):
        assert step in result.stdout
    assert "placeholder" not in result.stdout
    push = (repo / ".github/workflows/mlops-push.yml").read_text()
    assert f"uses: {ACTION_REF} # v{__version__}\n" in push


def test_without_an_action_ref_the_placeholder_is_named_in_the_next_steps(repo):
    result = cli("init", "--repo", str(repo))
    assert result.returncode == 0, result.stderr
    assert DEFAULT_ACTION_REF in result.stdout and "--action-ref" in result.stdout
    assert f"uses: {DEFAULT_ACTION_REF}" in (repo / ".github/workflows/mlops-plan.yml").read_text()


def test_the_config_it_writes_loads_with_the_local_backend_and_a_staging_environment(repo):
    assert cli("init", "--repo", str(repo), "--action-ref", ACTION_REF).returncode == 0
    config = load_config(repo)
    assert config.backend == "local" and config.gcp is None
    assert list(config.environments) == ["staging"]
    assert cli("config", "check", "--repo", str(repo)).returncode == 0


def test_the_commented_examples_are_valid_once_uncommented():
    text = next(f.text for f in render_files(ACTION_REF) if f.path == "mlops.yaml")
    # A commented-out setting is '# key:' or '#   nested'; prose starts with a capital or `.
    uncommented = re.sub(r"^(\s*)# (?=[a-z_]+:|\s|- )", r"\1", text, flags=re.M)
    config = parse_config(uncommented.replace("backend: local", "backend: gcp"), "uncommented")
    assert config.gcp is not None and config.gcp.project == "my-project"
    assert config.environments["staging"].thresholds["accuracy"].min == 0.8
    assert [s.name for s in config.schedules] == ["weekly-retrain"]


def test_it_refuses_to_overwrite_and_then_writes_nothing_at_all(repo):
    mine = repo / ".github/workflows/mlops-plan.yml"
    mine.parent.mkdir(parents=True)
    mine.write_text("my own workflow\n")
    result = cli("init", "--repo", str(repo), "--action-ref", ACTION_REF)
    assert result.returncode == 1
    assert ".github/workflows/mlops-plan.yml" in result.stderr and "--force" in result.stderr
    assert "Traceback" not in result.stderr
    assert _contents(repo) == {".github/workflows/mlops-plan.yml": "my own workflow\n"}


def test_force_writes_what_is_missing_and_never_overwrites_a_customised_config(repo):
    (repo / "mlops.yaml").write_text("backend: local\n")
    result = cli("init", "--repo", str(repo), "--force", "--action-ref", ACTION_REF)
    assert result.returncode == 0, result.stderr
    rendered = {f.path: f.text for f in render_files(ACTION_REF)}
    assert _contents(repo) == {**rendered, "mlops.yaml": "backend: local\n"}
    assert "kept your mlops.yaml" in result.stdout


def test_force_action_ref_pins_the_action_in_existing_workflows_and_keeps_their_edits(repo):
    assert cli("init", "--repo", str(repo)).returncode == 0  # unpinned: the placeholder
    push = repo / ".github/workflows/mlops-push.yml"
    push.write_text(push.read_text().replace("name:", "# our own comment\nname:", 1))
    mine = repo / ".github/workflows/mlops-plan.yml"
    mine.write_text("on: push\njobs: {}\n")  # the team's own plan workflow
    result = cli("init", "--repo", str(repo), "--force", "--action-ref", ACTION_REF)
    assert result.returncode == 0, result.stderr
    text = push.read_text()
    assert "# our own comment" in text and DEFAULT_ACTION_REF not in text
    assert f"uses: {ACTION_REF} # v{__version__}" in text
    assert mine.read_text() == "on: push\njobs: {}\n"
    assert f"add `uses: {ACTION_REF} # v{__version__}`" in result.stdout


def test_init_ignores_the_state_folder_once_and_keeps_the_gitignore(repo):
    (repo / ".gitignore").write_text("*.pyc")  # no newline at the end
    assert cli("init", "--repo", str(repo), "--action-ref", ACTION_REF).returncode == 0
    assert (repo / ".gitignore").read_text() == "*.pyc\n# mlops-bot's local state\n.mlops/\n"
    assert cli("init", "--repo", str(repo), "--force").returncode == 0
    assert (repo / ".gitignore").read_text().count(".mlops/") == 1


@pytest.mark.parametrize("ref", ["example-org/mlops-bot@v1", "example-org/mlops-bot@main",
                                 "example-org/mlops-bot@" + "AB" * 20, "mlops-bot@" + "ab" * 20])
def test_an_action_ref_must_be_pinned_by_full_commit_sha(repo, ref):
    result = cli("init", "--repo", str(repo), "--action-ref", ref)
    assert result.returncode == 2 and "40-character commit SHA" in result.stderr  # usage
    assert _contents(repo) == {}


def test_it_refuses_a_folder_that_is_not_a_repository_root(tmp_path):
    result = cli("init", "--repo", str(tmp_path), "--action-ref", ACTION_REF)
    assert result.returncode == 1 and "git init" in result.stderr
    assert _contents(tmp_path) == {}


def test_a_write_failing_half_way_takes_back_the_files_it_created(repo):
    (repo / ".github").write_text("a file where the workflows folder should go\n")
    with pytest.raises(UserError, match="removed"):
        write_files(repo, render_files(ACTION_REF), force=False)
    assert not (repo / "mlops.yaml").exists()
    assert [p.name for p in repo.iterdir() if p.name != ".git"] == [".github"]


def test_the_templates_ship_in_the_package(tmp_path):
    # A plain `pip install` (the action's image) must carry the templates, not only a checkout.
    source = tmp_path / "source"
    shutil.copytree(ROOT / "mlops_bot", source / "mlops_bot",
                    ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                    "--no-build-isolation", "--no-index", "-w", str(tmp_path / "dist"), "."],
                   cwd=source, check=True, capture_output=True)
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    shipped = set(zipfile.ZipFile(wheel).namelist())
    assert {f"mlops_bot/templates/{name}" for name in TEMPLATES.values()} <= shipped


def test_force_moves_the_pin_of_an_action_that_is_not_named_mlops_bot(repo):
    fork = "acme/ml-deployer@" + "cd" * 20
    assert cli("init", "--repo", str(repo), "--action-ref", fork).returncode == 0
    again = "acme/ml-deployer@" + "ef" * 20
    assert cli("init", "--repo", str(repo), "--force", "--action-ref", again).returncode == 0
    push = (repo / ".github/workflows/mlops-push.yml").read_text()
    assert f"uses: {again} # v{__version__}" in push and fork not in push
