"""Runs on the venv builder never share mlops-bot's interpreter: real kfp.local runs, real venvs.

A pipeline's `packages_to_install` lands in its run's environment only: not in the bot's (checked
with `importlib.metadata` in a fresh interpreter of the bot's environment), not in another
pipeline's, not in the pipeline image's environment; an image's `requirements.txt` at a version other
than the bot's goes into the image's environment only. One state folder serves the whole module, as
one repository's `.mlops/envs` serves its pushes, so environments keyed alike are made once.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from mlops_bot.backends.local.builder import VenvBuilder
from mlops_bot.backends.local.runner import LocalRunner
from mlops_bot.backends.types import BuildRequest, RunRecord, RunRequest
from mlops_bot.compile import compile_pipeline
from mlops_bot.repo.layout import Image

pytestmark = pytest.mark.slow

# Tiny pure-Python packages on PyPI: one mlops-bot does not have, one it has at another version.
ABSENT = "colorama"
ABSENT_VERSION = "0.4.6"
SHARED = "six"
SHARED_VERSION = "1.16.0"
REQUIRED = "idna"  # in the image's requirements.txt, at a version other than mlops-bot's
REQUIRED_VERSION = "3.10"


def bot_version(distribution: str) -> str | None:
    """The version mlops-bot's own environment has, asked of a fresh interpreter."""
    result = subprocess.run(
        [sys.executable, "-c", "import importlib.metadata as m, sys\n"
         f"try: print(m.version({distribution!r}))\nexcept m.PackageNotFoundError: sys.exit(7)"],
        capture_output=True, text=True)
    assert result.returncode in (0, 7), result.stderr
    return result.stdout.strip() or None


def definition(name: str, body: str, packages: list[str], base_image: str = "python:3.11"
               ) -> str:
    """A pipeline of one component that checks, inside the run, where it runs and what it sees."""
    return (
        "from kfp import dsl\n\n\n"
        f"@dsl.component(base_image={base_image!r}, packages_to_install={packages!r})\n"
        "def check(envs: str) -> None:\n"
        "    import importlib.metadata, importlib.util, sys\n"
        "    assert sys.prefix.startswith(envs), f'ran in {sys.prefix}, not under {envs}'\n"
        + "".join(f"    {line}\n" for line in body.splitlines())
        + f"\n\n@dsl.pipeline(name={name!r})\n"
        f"def {name}(envs: str = '') -> None:\n    check(envs=envs)\n"
    )


@pytest.fixture(scope="module")
def state(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("state")


def run(state: Path, repo: Path, name: str, files: dict[str, str],
        images: dict[str, str] | None = None) -> RunRecord:
    for rel, content in files.items():
        (repo / f"pipelines/{name}" / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / f"pipelines/{name}" / rel).write_text(content)
    compiled = compile_pipeline(repo, f"pipelines/{name}", images or {})
    assert compiled.images == (images or {})
    runner = LocalRunner(state / "runs", state / "envs")
    return runner.run(RunRequest(
        run_id=f"{name}-1", pipeline=name, version="v1", spec=compiled.spec,
        parameters={"envs": str(state / "envs")}, git_sha="0" * 40, trigger="push",
        images=compiled.images))


def test_a_pipeline_without_image_installs_its_packages_apart_from_the_bot_and_others(
        state, tmp_path):
    assert bot_version(ABSENT) is None, f"pick a package mlops-bot does not have, not {ABSENT}"

    first = run(state, tmp_path, "first", {"definition.py": definition(
        "first", f"import {ABSENT}\nassert importlib.metadata.version({ABSENT!r}) == "
        f"{ABSENT_VERSION!r}\nassert {ABSENT}.__file__.startswith(sys.prefix)",
        [f"{ABSENT}=={ABSENT_VERSION}"])})
    assert first.status == "succeeded", first.error
    assert bot_version(ABSENT) is None  # mlops-bot's own environment is as it was

    second = run(state, tmp_path, "second", {"definition.py": definition(
        "second", f"assert importlib.util.find_spec({ABSENT!r}) is None, "
        f"'sees the other pipeline\\'s {ABSENT}'", [])})
    assert second.status == "succeeded", second.error
    # Each ran in an environment of its own, keyed by what it installs.
    assert len(list((state / "envs").glob("run-*/bin/python"))) == 2


def test_versions_other_than_the_bots_install_into_the_image_and_the_run_only(state, tmp_path):
    before = {name: bot_version(name) for name in (SHARED, REQUIRED)}
    assert before[SHARED] not in (None, SHARED_VERSION), f"pick one mlops-bot has, not {SHARED}"
    assert before[REQUIRED] not in (None, REQUIRED_VERSION), f"pick another, not {REQUIRED}"
    files = {
        "definition.py": definition(
            "pinned", f"import {SHARED}, src\nassert {SHARED}.__version__ == {SHARED_VERSION!r}"
            f", {SHARED}.__file__\nassert {SHARED}.__file__.startswith(sys.prefix)\n"
            f"assert importlib.metadata.version({REQUIRED!r}) == {REQUIRED_VERSION!r}",
            [f"{SHARED}=={SHARED_VERSION}"], base_image="pinned"),
        "pyproject.toml": "[project]\nname = 'pinned'\nversion = '0.1.0'\n\n"
                          "[tool.setuptools]\npackages = ['src']\n",
        "src/__init__.py": "",
        "requirements.txt": f"{REQUIRED}=={REQUIRED_VERSION}\n",
    }
    image = Image("pinned", "pipeline", "pipelines/pinned", "pipelines/pinned/Dockerfile",
                  "c0ffee" * 8)
    for rel, content in files.items():  # the build reads the pipeline's folder
        (tmp_path / "pipelines/pinned" / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "pipelines/pinned" / rel).write_text(content)
    [build] = VenvBuilder(state / "envs").build([BuildRequest(image, "pinned", "0" * 40,
                                                              tmp_path)])
    assert build.status == "built" and build.ref, build.error

    record = run(state, tmp_path, "pinned", files, images={"pinned": build.ref})
    assert record.status == "succeeded", record.error
    assert {name: bot_version(name) for name in (SHARED, REQUIRED)} == before
    image_env = state / "envs" / f"pinned-{image.content_hash[:24]}"
    assert list(image_env.glob(f"lib/python*/site-packages/{REQUIRED}-{REQUIRED_VERSION}.dist-info"))
    assert not list(image_env.glob(f"lib/python*/site-packages/{SHARED}-*.dist-info"))


def test_a_package_that_cannot_be_installed_fails_the_run_naming_the_component(state, tmp_path):
    record = run(state, tmp_path, "broken", {"definition.py": definition(
        "broken", "", ["mlops-bot-test-no-such-package==0.0.1"])})
    assert record.status == "failed"
    assert record.error and record.error.startswith(
        "component check: its packages_to_install could not be installed"), record.error
    assert "mlops-bot-test-no-such-package" in record.error  # pip's own words, from the log
    # Nothing half-made is left to be taken for complete next time.
    assert all((env / ".mlops-bot-complete").is_file()
               for env in (state / "envs").glob("run-*"))
