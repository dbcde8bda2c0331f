"""Fixtures of the backend tests that hold the fake Google servers to an identity's roles."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.fake_iam import Iam
from tests.support.fake_vertex_models import FakeVertexModels
from tests.support.models import train_wine_model


@pytest.fixture(scope="module")
def model_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder standing for Cloud Storage, with a trained model under models/wine/1."""
    root = tmp_path_factory.mktemp("gcs")
    train_wine_model(root / "models" / "wine" / "1")
    return root


@pytest.fixture
def vertex(model_files: Path, iam: Iam) -> Iterator[FakeVertexModels]:
    """Fake Vertex models and endpoints enforcing the test module's `iam` fixture."""
    with FakeVertexModels(files=model_files).enforce(iam) as fake:
        yield fake
