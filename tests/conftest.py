"""Fixtures every test folder may use."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.support.docker import require_docker
from tests.support.fake_github import FakeGitHub

# Local pushes build virtualenvs unless a test asks for Docker (local.builder: docker in its
# mlops.yaml, with this variable removed): "auto" would pick Docker wherever an engine answers.
os.environ.setdefault("MLOPS_BOT_LOCAL_BUILDER", "venv")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-golden", action="store_true",
                     help="rewrite tests/fixtures/expected/ from the renderers (tests/report)")


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    """A fake GitHub REST server with an Actions token, for one test."""
    fake = FakeGitHub().start()
    fake.actions_token()
    yield fake
    fake.stop()


@pytest.fixture
def docker_engine() -> None:
    """A Docker engine with the base images (`scripts/docker.sh`); skipped locally without one,
    a failure in CI."""
    require_docker()
