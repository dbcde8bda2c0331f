"""The example pipeline: its business logic, its compiled spec, and a real run with kfp.local."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import joblib
import pandas as pd
import pytest
import yaml

from mlops_bot.compile import compile_pipeline
from mlops_bot.repo.parameters import run_py_parameters

REPO = Path(__file__).parents[2]
PIPELINE = REPO / "pipelines" / "wine_quality"
# Read the way the bot reads it: as a literal, without running run.py.
PARAMETERS = run_py_parameters((PIPELINE / "run.py").read_bytes(), "run.py")
SAMPLES = json.loads((PIPELINE / "serving" / "sample_instances.json").read_text())["instances"]
TASKS = {"load-data", "train", "evaluate"}


@pytest.fixture
def on_path() -> Iterator[None]:
    """The pipeline folder first on sys.path, as the bot has it; its modules forgotten after."""
    sys.path.insert(0, str(PIPELINE))
    importlib.invalidate_caches()
    try:
        yield
    finally:
        sys.path.remove(str(PIPELINE))
        # Another pipeline's test may import its own `src` and `components` next.
        for name in [n for n in sys.modules
                     if n == "definition" or n.split(".")[0] in {"components", "src"}]:
            del sys.modules[name]


@pytest.fixture
def definition(on_path: None) -> ModuleType:
    spec = importlib.util.spec_from_file_location("definition", PIPELINE / "definition.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ---- src/: the business logic, called directly --------------------------------------------


def test_wine_frame_has_13_features_then_the_target(on_path):
    from src.data import TARGET, load_wine_frame

    frame = load_wine_frame()
    assert frame.shape == (178, 14)
    assert frame.columns[-1] == TARGET
    assert sorted(frame[TARGET].unique()) == [0, 1, 2]


def test_split_is_stratified_and_reproducible(on_path):
    from src.data import TARGET, load_wine_frame, split

    frame = load_wine_frame()
    train, test = split(frame, test_size=0.2, random_state=42)
    assert (len(train), len(test)) == (142, 36)
    shares = frame[TARGET].value_counts(normalize=True)
    assert (test[TARGET].value_counts(normalize=True) - shares).abs().max() < 0.03
    again, _ = split(frame, test_size=0.2, random_state=42)
    pd.testing.assert_frame_equal(train, again)


@pytest.mark.parametrize(("max_depth", "expected"), [(0, None), (3, 3)])
def test_max_depth_zero_means_unlimited(on_path, max_depth, expected):
    from src.data import TARGET, load_wine_frame
    from src.model import train_model

    frame = load_wine_frame()
    model = train_model(frame.drop(columns=[TARGET]), frame[TARGET], 5, max_depth, 0)
    assert model.max_depth == expected


def test_trained_model_scores_well_and_survives_a_round_trip(on_path, tmp_path):
    from src.data import TARGET, load_wine_frame, split
    from src.metrics import score
    from src.model import load_model, save_model, train_model

    train, test = split(load_wine_frame(), test_size=0.2, random_state=42)
    model = train_model(train.drop(columns=[TARGET]), train[TARGET], 50, 0, 42)
    path = tmp_path / "model"  # no suffix: the file must be exactly at the artifact's path
    save_model(model, str(path))
    scores = score(load_model(str(path)), test.drop(columns=[TARGET]), test[TARGET])
    assert set(scores) == {"accuracy", "f1"}
    assert scores["accuracy"] > 0.8 and scores["f1"] > 0.8
    assert [p.name for p in tmp_path.iterdir()] == ["model"]


def test_score_is_macro_f1(on_path):
    from src.metrics import score

    class Constant:  # always class 0: right on 2 of 4 rows, and blind to class 1
        def predict(self, features: pd.DataFrame) -> list[int]:
            return [0] * len(features)

    scores = score(Constant(), pd.DataFrame({"x": range(4)}), pd.Series([0, 0, 1, 1]))
    assert scores == {"accuracy": 0.5, "f1": pytest.approx((2 / 3 + 0) / 2)}


def test_sample_instances_are_13_features_each():
    assert len(SAMPLES) == 3
    assert all(len(row) == 13 and all(isinstance(v, int | float) for v in row) for row in SAMPLES)


def test_run_py_prints_its_parameters_as_json():
    printed = subprocess.run([sys.executable, str(PIPELINE / "run.py")], check=True,
                             capture_output=True, text=True).stdout
    assert json.loads(printed) == PARAMETERS == {
        "test_size": 0.2, "random_state": 42, "n_estimators": 100, "max_depth": 0}


# ---- the compiled spec ----------------------------------------------------------------------


def test_compiles_with_three_tasks_the_run_py_defaults_and_the_bare_image(definition, tmp_path):
    from kfp import compiler

    target = tmp_path / "pipeline.yaml"
    compiler.Compiler().compile(definition.wine_quality, str(target))
    spec = yaml.safe_load(target.read_text())
    assert spec["pipelineInfo"]["name"] == "wine-quality"
    assert set(spec["root"]["dag"]["tasks"]) == TASKS
    inputs = spec["root"]["inputDefinitions"]["parameters"]
    assert {name: p["defaultValue"] for name, p in inputs.items()} == PARAMETERS
    executors = spec["deploymentSpec"]["executors"].values()
    assert {e["container"]["image"] for e in executors} == {"wine_quality"}


def test_the_bot_compiles_it_with_the_pinned_image():
    pinned = "europe-docker.pkg.dev/p/r/wine_quality@sha256:00ff"
    compiled = compile_pipeline(REPO, "pipelines/wine_quality", {"wine_quality": pinned})
    assert compiled.parameters == PARAMETERS
    assert compiled.images == {"wine_quality": pinned} and compiled.unpinned == ()
    assert not any(m == "src" or m.startswith(("src.", "components")) for m in sys.modules)


# ---- a real run ---------------------------------------------------------------------------


@pytest.fixture
def local_session(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """kfp.local running components as subprocesses of this interpreter; yields the root."""
    from kfp import local
    from kfp.local import config

    # The components' subprocesses import src/ from the folder, where the image has it installed.
    path = [str(PIPELINE), *filter(None, [os.environ.get("PYTHONPATH")])]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(path))
    root = tmp_path / "root"
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(root),
               workspace_root=str(tmp_path / "workspace"), raise_on_error=True)
    try:
        yield root
    finally:
        # init() sets a process-wide singleton; later tests must not find a session open.
        config.LocalExecutionConfig.instance = None


def task_outputs(root: Path) -> dict[str, dict[str, dict[str, Any]]]:
    """task -> output -> {uri, metadata}, from each task's executor_output.json under the root.

    A kfp.local pipeline run returns only the pipeline's own outputs (none here), not its
    tasks'; the bot's local runner reads the same files.
    """
    outputs: dict[str, dict[str, dict[str, Any]]] = {}
    for path in root.glob("*/*/executor_output.json"):
        written = json.loads(path.read_text()).get("artifacts", {})
        outputs[path.parent.name] = {name: listing["artifacts"][0]
                                     for name, listing in written.items()}
    return outputs


@pytest.mark.slow
# kfp.local warns that "wine_quality" is not a Python image: here src/ comes from PYTHONPATH.
@pytest.mark.filterwarnings("ignore:You may be attemping:RuntimeWarning")
def test_runs_end_to_end_with_kfp_local(definition, local_session):
    definition.wine_quality(**PARAMETERS)  # raises if a task fails (raise_on_error)

    outputs = task_outputs(local_session)
    assert set(outputs) == TASKS
    metrics = outputs["evaluate"]["metrics"]["metadata"]
    assert metrics["accuracy"] > 0.8 and metrics["f1"] > 0.8

    model_output = outputs["train"]["model"]
    assert model_output["metadata"]["framework"] == "scikit-learn"
    assert model_output["metadata"]["classes"] == [0, 1, 2]
    model = joblib.load(model_output["uri"])
    instances = pd.DataFrame(SAMPLES, columns=model_output["metadata"]["feature_names"])
    # The samples are rows 0, 70 and 140 of the data set: one of each class.
    assert model.predict(instances).tolist() == [0, 1, 2]
