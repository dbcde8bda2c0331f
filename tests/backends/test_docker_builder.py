"""The local Docker builder against the real engine, and how `local.builder` picks a builder."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlops_bot.backends.factory import backends_for
from mlops_bot.backends.local.builder import VenvBuilder
from mlops_bot.backends.local.docker_builder import DockerBuilder
from mlops_bot.backends.types import BuildRequest
from mlops_bot.config import parse_config
from mlops_bot.errors import UserError
from mlops_bot.repo.layout import Image
from tests.support.docker import docker

SHA = "a" * 40


class Said:
    """The builder's progress lines, with when each was said."""

    def __init__(self) -> None:
        self.lines: list[tuple[float, str]] = []
        self._lock = threading.Lock()

    def __call__(self, text: str) -> None:
        with self._lock:
            self.lines.append((time.monotonic(), text))

    def when(self, fragment: str) -> list[float]:
        return [at for at, text in self.lines if fragment in text]


@pytest.fixture
def names() -> Iterator[list[str]]:
    """Image names unique to this test; their images are removed afterwards."""
    made: list[str] = []
    yield made
    for name in made:
        listed = docker("images", "--format", "{{.Repository}}:{{.Tag}}",
                        f"mlops-local/{name}", check=False).stdout.split()
        if listed:
            docker("rmi", "-f", *listed, check=False)


def request(root: Path, names: list[str], files: dict[str, str], sha: str = SHA,
            content_hash: str | None = None) -> BuildRequest:
    name = f"test-{uuid.uuid4().hex[:10]}"
    names.append(name)
    for rel, text in files.items():
        (root / name / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / name / rel).write_text(text)
    dockerfile = f"{name}/Dockerfile" if "Dockerfile" in files else None
    image = Image(name, "component", name, dockerfile, content_hash or uuid.uuid4().hex * 2)
    return BuildRequest(image, "toy", sha, root)


@pytest.mark.docker
@pytest.mark.usefixtures("docker_engine")
def test_an_image_is_reused_by_its_content_hash_tag_without_building(tmp_path, names):
    first = request(tmp_path, names, {"Dockerfile": "FROM python:3.11-slim\nCOPY hello.txt /\n",
                                      "hello.txt": "hi\n"})
    said = Said()
    builder = DockerBuilder(tmp_path / "logs", progress=said)
    [built] = builder.build([first])
    assert built.status == "built", built.error
    assert built.ref is not None and built.ref.startswith(f"mlops-local/{first.image.name}:id-")

    (tmp_path / first.image.name / "Dockerfile").unlink()  # a build now could not start
    again = BuildRequest(first.image, "toy", "b" * 40, tmp_path)
    [reused] = builder.build([again])
    assert (reused.status, reused.ref) == ("reused", built.ref)
    assert said.when("reusing " + built.ref)
    tags = docker("image", "inspect", "--format", "{{json .RepoTags}}", built.ref).stdout
    assert f"mlops-local/{first.image.name}:{'b' * 40}" in tags  # the new commit's tag


@pytest.mark.docker
@pytest.mark.usefixtures("docker_engine")
def test_a_failing_step_is_named_with_the_tail_of_the_build_log(tmp_path, names):
    failing = request(tmp_path, names, {"Dockerfile": (
        "FROM python:3.11-slim\nRUN echo preparing\nRUN echo 'no-such-package here' && exit 3\n"
        "RUN echo never\n")})
    [result] = DockerBuilder(tmp_path / "logs", progress=Said()).build([failing])
    assert (result.status, result.ref) == ("failed", None)
    assert result.error is not None
    first_line = result.error.splitlines()[0]
    name = failing.image.name
    assert first_line.startswith(f"toy: image {name}: docker build of {name}/Dockerfile failed at "
                                 "`Step 3/4 : RUN echo 'no-such-package here' && exit 3` "
                                 "(exit code 3); full log: ")
    assert "    no-such-package here" in result.error.splitlines()[1:]  # the log's tail
    assert docker("images", "-q", f"mlops-local/{name}").stdout.strip() == ""


@pytest.mark.docker
@pytest.mark.usefixtures("docker_engine")
def test_independent_images_build_concurrently(tmp_path, names):
    slow = {"Dockerfile": f"FROM python:3.11-slim\nRUN echo {uuid.uuid4().hex} && sleep 3\n"}
    requests = [request(tmp_path, names, slow), request(tmp_path, names, slow)]
    said = Said()
    results = DockerBuilder(tmp_path / "logs", progress=said).build(requests)
    assert [r.status for r in results] == ["built", "built"], [r.error for r in results]
    started, finished = said.when(": building "), said.when(": built ")
    assert len(started) == 2 and max(started) < min(finished)  # the second began before either ended


@pytest.mark.docker
@pytest.mark.usefixtures("docker_engine")
def test_dockerignore_is_honoured_and_build_args_are_passed(tmp_path, names):
    ignoring = request(tmp_path, names, {
        ".dockerignore": "secret.txt\n", "secret.txt": "token\n", "keep.txt": "ok\n",
        "Dockerfile": ("FROM python:3.11-slim\nARG GREETING\nCOPY . /ctx\n"
                       "RUN test ! -e /ctx/secret.txt && test -e /ctx/keep.txt\n"
                       "RUN test \"$GREETING\" = hello\n")})
    builder = DockerBuilder(tmp_path / "logs", {"GREETING": "hello"}, progress=Said())
    [result] = builder.build([ignoring])
    assert result.status == "built", result.error


@pytest.mark.docker
@pytest.mark.usefixtures("docker_engine")
def test_an_image_without_a_dockerfile_says_what_to_add(tmp_path, names):
    bare = request(tmp_path, names, {"pyproject.toml": "[project]\nname = 'x'\n"})
    [result] = DockerBuilder(tmp_path / "logs", progress=Said()).build([bare])
    assert result.status == "failed"
    assert result.error == (f"toy: image {bare.image.name}: {bare.image.name}/Dockerfile does not "
                            "exist: the Docker builder (local.builder in mlops.yaml) builds images "
                            f"from a Dockerfile; add one to {bare.image.name}/, or set "
                            "local.builder: venv")


def choose(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str,
           docker_host: str | None = None) -> tuple[object, str]:
    monkeypatch.delenv("MLOPS_BOT_LOCAL_BUILDER", raising=False)
    if docker_host:
        monkeypatch.setenv("DOCKER_HOST", docker_host)
    backends = backends_for(parse_config(text, "mlops.yaml"), tmp_path)
    return backends.builder, backends.builder_note


def test_auto_builds_virtualenvs_when_no_engine_answers(tmp_path, monkeypatch):
    dead = f"unix://{tmp_path}/no-engine.sock"
    builder, note = choose(tmp_path, monkeypatch, "", dead)
    assert isinstance(builder, VenvBuilder)
    assert note.startswith("builder: venv (no Docker engine answered: ")
    assert "no-engine.sock" in note  # docker's own words say where it looked


def test_builder_docker_without_an_engine_refuses_to_build_naming_the_setting(tmp_path,
                                                                              monkeypatch):
    builder, _ = choose(tmp_path, monkeypatch, "local:\n  builder: docker\n",
                        f"unix://{tmp_path}/no-engine.sock")
    with pytest.raises(UserError, match=r"^mlops.yaml local.builder is docker, but no Docker "
                       r"engine answered .*set local.builder: venv"):
        builder.build([])  # type: ignore[attr-defined]


def test_builder_venv_is_used_even_with_an_engine(tmp_path, monkeypatch):
    builder, note = choose(tmp_path, monkeypatch, "local:\n  builder: venv\n")
    assert isinstance(builder, VenvBuilder)
    assert note == "builder: venv (local.builder in mlops.yaml)"


@pytest.mark.docker
@pytest.mark.usefixtures("docker_engine")
def test_auto_uses_docker_when_an_engine_answers(tmp_path, monkeypatch):
    builder, note = choose(tmp_path, monkeypatch, "")
    assert isinstance(builder, DockerBuilder)
    assert note.startswith("builder: docker (engine ") and note.endswith(" answered)")


def test_an_unknown_builder_override_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("MLOPS_BOT_LOCAL_BUILDER", "podman")
    with pytest.raises(UserError, match="MLOPS_BOT_LOCAL_BUILDER='podman' is not allowed"):
        backends_for(parse_config("", "mlops.yaml"), tmp_path)


def test_local_settings_in_mlops_yaml_are_checked_with_the_key_and_the_fix():
    with pytest.raises(UserError) as error:
        parse_config("local:\n  builder: dockr\n  build_args: {'a-b': '1', PIP: 2}\n",
                     "mlops.yaml")
    lines = str(error.value).splitlines()
    assert lines[0] == "mlops.yaml is invalid (2 problems):"
    assert "  - local.builder: 'dockr' is not allowed; use 'auto', 'docker' or 'venv'" in lines
    assert "  - local.build_args.PIP: must be text (quote it), got a number 2" in lines
    named = "local:\n  build_args: {'a-b': '1'}\n"
    with pytest.raises(UserError, match=r"local.build_args.a-b: the name 'a-b' is not allowed"):
        parse_config(named, "mlops.yaml")
    assert parse_config("", "mlops.yaml").local.builder == "auto"
