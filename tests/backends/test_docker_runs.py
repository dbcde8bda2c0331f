"""What the local runner refuses before a run in Docker starts: each refusal is one sentence."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from mlops_bot.backends.local.runner import LocalRunner
from mlops_bot.backends.types import RunRequest


def spec_running_in(image: str) -> bytes:
    document = {"pipelineInfo": {"name": "toy"}, "root": {"dag": {"tasks": {}}},
                "deploymentSpec": {"executors": {"exec-step": {"container": {
                    "image": image, "command": ["python", "-c", "print(1)"]}}}}}
    return yaml.safe_dump(document).encode()


def run_in(tmp_path: Path, image: str) -> str:
    runner = LocalRunner(tmp_path / "runs", tmp_path / "envs", docker=True)
    record = runner.run(RunRequest(run_id="toy-1", pipeline="toy", version="v-1",
                                   spec=spec_running_in(image), parameters={}, git_sha="a" * 40,
                                   trigger="push"))
    assert record.status == "failed" and record.error is not None
    assert not (tmp_path / "runs" / "toy-1" / "artifacts").exists()  # nothing started
    return record.error


@pytest.mark.docker
@pytest.mark.usefixtures("docker_engine")
def test_a_pinned_image_removed_from_the_engine_is_not_pulled_but_refused(tmp_path):
    ghost = "mlops-local/toy:id-" + "0" * 64
    assert run_in(tmp_path, ghost) == (f"image {ghost} is no longer in the local Docker engine "
                                       "(removed or pruned): push the pipeline again to rebuild it")


@pytest.mark.docker
@pytest.mark.usefixtures("docker_engine")
def test_a_version_built_by_the_venv_builder_is_refused_with_the_fix(tmp_path):
    error = run_in(tmp_path, "mlops-local/toy:0123456789abcdef01234567")
    assert error.startswith("toy@v-1 was built by the venv builder (its image is the environment "
                            "mlops-local/toy:0123456789abcdef01234567)")
    assert error.endswith("or set local.builder: venv in mlops.yaml")


def test_without_an_engine_the_run_is_refused_naming_the_setting(tmp_path, monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")
    error = run_in(tmp_path, "python:3.11-slim")
    assert error.startswith("no Docker engine answered (")
    assert "no-engine.sock" in error and error.endswith("or set local.builder: venv in mlops.yaml")
