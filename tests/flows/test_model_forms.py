"""Models and metrics in the forms teams write them: a model saved with a suffix, a folder with
one model file, an MLflow model folder (sklearn served, other flavours refused), and metrics from
the model's metadata and the final task's float outputs, each with its source in the gate table.

The runs are synthetic run folders in a local state (the runner is not the point) except one
real kfp.local run of a small pipeline, through the local runner's worker, for the metadata and
float outputs. Each deploy is the real promote flow: the smoke test loads the candidate in the
confined child process, and what is served is loaded as `mlops-bot serve` and the Vertex AI
serving container load it.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import cloudpickle  # type: ignore[import-untyped]
import joblib  # type: ignore[import-untyped]
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from mlops_bot.backends.factory import backends_for
from mlops_bot.backends.run_metrics import metric_sources
from mlops_bot.backends.types import metrics_of
from mlops_bot.config import load_config
from mlops_bot.flows.promote import promote
from mlops_bot.flows.results.promote import PromotionResult
from mlops_bot.report.deploy_report import deploy_markdown
from mlops_bot.serving.models import load_models
from mlops_bot.serving.state import endpoint_state_path, read_state, single_model_state
from tests.support.gitrepo import GitRepoBuilder

PIPELINE = "demo"
INSTANCES = [[0.1, 0.2, 0.3], [2.0, 2.5, 3.0]]
MLOPS_YAML = """\
environments:
  staging:
    endpoint: demo-staging
    canary_percent: 100
    thresholds:
      accuracy: {min: 0.8}
"""
MLMODEL_SKLEARN = """\
artifact_path: model
flavors:
  python_function:
    env:
      conda: conda.yaml
      virtualenv: python_env.yaml
    loader_module: mlflow.sklearn
    model_path: model.pkl
    predict_fn: predict
    python_version: 3.11.2
  sklearn:
    code: null
    pickled_model: model.pkl
    serialization_format: cloudpickle
    sklearn_version: 1.5.1
mlflow_version: 2.16.0
model_uuid: 5d1e0c4f6e0b4a2f9d0c8b7a6e5d4c3b
utc_time_created: '2026-11-30 10:00:00.000000'
"""
MLMODEL_PYTORCH = """\
artifact_path: model
flavors:
  python_function:
    data: data
    loader_module: mlflow.pytorch
    pickle_module_name: mlflow.pytorch.pickle_module
    python_version: 3.11.2
  pytorch:
    code: null
    model_data: data
    pytorch_version: 2.4.0
mlflow_version: 2.16.0
"""


@pytest.fixture(scope="module")
def estimator() -> LogisticRegression:
    rng = np.random.default_rng(0)
    features = rng.normal(size=(40, 3))
    return LogisticRegression().fit(features, (features.sum(axis=1) > 0).astype(int))


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, str]:
    builder = GitRepoBuilder(tmp_path / "repo")
    commit = builder.commit({
        "mlops.yaml": MLOPS_YAML, ".gitignore": ".mlops/\n",
        f"pipelines/{PIPELINE}/serving/sample_instances.json": json.dumps(
            {"instances": INSTANCES})})
    monkeypatch.setenv("MLOPS_BOT_STATE_DIR", str(tmp_path / "state"))
    return builder.path, commit


def _task(project: tuple[Path, str], run_id: str, task: str = "train") -> Path:
    folder = Path(str(load_backends(project).artifact_root)) / run_id / "artifacts" / "demo" / task
    folder.mkdir(parents=True)
    return folder


def load_backends(project: tuple[Path, str]) -> Any:
    return backends_for(load_config(project[0]), project[0])


def _record(project: tuple[Path, str], run_id: str, artifacts: list[dict[str, Any]]) -> None:
    """A succeeded run of the project's commit with these artifacts, as the runner keeps it."""
    runs = Path(load_backends(project).artifact_root)
    document = {"run_id": run_id, "pipeline": PIPELINE, "version": "v-1", "git_sha": project[1],
                "status": "succeeded", "parameters": {}, "started_at": "2026-12-01T05:00:00",
                "finished_at": "2026-12-01T05:01:00", "metrics": metrics_of(artifacts),
                "artifacts": artifacts}
    (runs / run_id / "run.json").write_text(json.dumps(document))


def _model(uri: Path, metadata: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"task": "train", "name": uri.name, "type": "system.Model", "uri": str(uri),
            "metadata": metadata or {}}


def _metrics(task_folder: Path, values: dict[str, float]) -> dict[str, Any]:
    return {"task": "train", "name": "metrics", "type": "system.Metrics",
            "uri": str(task_folder / "metrics"), "metadata": values}


def _deploy(project: tuple[Path, str], run_id: str) -> PromotionResult:
    return promote(load_backends(project), load_config(project[0]), "staging", PIPELINE,
                   repo_root=project[0], run_id=run_id)


def _served(project: tuple[Path, str], tmp_path: Path) -> list[Any]:
    """What `mlops-bot serve staging` answers for INSTANCES, loaded from the endpoint state."""
    state = read_state(endpoint_state_path(tmp_path / "state", "staging"), "staging")
    [model] = load_models(state)
    return model.predict(INSTANCES)


def _expected(estimator: LogisticRegression) -> list[Any]:
    return list(np.asarray(estimator.predict(np.asarray(INSTANCES))).tolist())


def test_a_model_saved_with_a_suffix_deploys_and_serves(project, tmp_path, estimator):
    task = _task(project, "run-suffix")
    joblib.dump(estimator, task / "trained_model.joblib")  # model.path + ".joblib"
    _record(project, "run-suffix", [_model(task / "trained_model"),
                                    _metrics(task, {"accuracy": 0.9})])

    result = _deploy(project, "run-suffix")

    assert result.status == "promoted", result.message
    assert result.smoke and result.smoke["predictions"] == len(INSTANCES)
    assert _served(project, tmp_path) == _expected(estimator)


def test_a_folder_with_one_model_file_deploys_and_serves(project, tmp_path, estimator):
    task = _task(project, "run-folder")
    (task / "model_dir").mkdir()
    (task / "model_dir" / "classifier.pkl").write_bytes(pickle.dumps(estimator))
    _record(project, "run-folder", [_model(task / "model_dir"),
                                    _metrics(task, {"accuracy": 0.9})])

    result = _deploy(project, "run-folder")

    assert result.status == "promoted", result.message
    assert _served(project, tmp_path) == _expected(estimator)
    # The serving container loads the same folder the same way (Vertex's AIP_STORAGE_URI copy).
    [container] = load_models(single_model_state(str(task / "model_dir"), "demo-1"))
    assert container.predict(INSTANCES) == _expected(estimator)


def _mlflow_folder(folder: Path, mlmodel: str) -> None:
    folder.mkdir()
    (folder / "MLmodel").write_text(mlmodel)
    (folder / "conda.yaml").write_text("dependencies: [python=3.11, pip: [scikit-learn]]\n")
    (folder / "requirements.txt").write_text("scikit-learn\n")


def test_an_mlflow_sklearn_folder_deploys_and_serves(project, tmp_path, estimator):
    task = _task(project, "run-mlflow")
    _mlflow_folder(task / "model", MLMODEL_SKLEARN)
    (task / "model" / "model.pkl").write_bytes(cloudpickle.dumps(estimator))  # as MLflow saves
    _record(project, "run-mlflow", [_model(task / "model"), _metrics(task, {"accuracy": 0.9})])

    result = _deploy(project, "run-mlflow")

    assert result.status == "promoted", result.message
    assert _served(project, tmp_path) == _expected(estimator)
    [container] = load_models(single_model_state(str(task / "model"), "demo-1"))
    assert container.predict(INSTANCES) == _expected(estimator)
    # On Vertex AI a `.../model` artifact is registered as its task's folder, where another
    # output may lie beside it: the serving container finds the MLflow folder in it.
    (task / "test_data").write_text("a,b\n")
    [container] = load_models(single_model_state(str(task), "demo-1"))
    assert container.predict(INSTANCES) == _expected(estimator)


def test_an_mlflow_pytorch_folder_is_refused_in_one_sentence(project, tmp_path):
    task = _task(project, "run-torch")
    _mlflow_folder(task / "model", MLMODEL_PYTORCH)
    (task / "model" / "data").mkdir()
    (task / "model" / "data" / "model.pth").write_bytes(b"not loaded")
    _record(project, "run-torch", [_model(task / "model"), _metrics(task, {"accuracy": 0.9})])

    result = _deploy(project, "run-torch")

    assert result.status == "no_model"
    assert result.message == (
        f"run run-torch of demo: the MLflow model in {task / 'model'} is of the pytorch "
        "flavour, which mlops-bot does not serve: it serves MLflow models of the `sklearn` "
        "flavour saved as pickle or cloudpickle, and scikit-learn models saved with joblib or "
        "pickle")
    assert not (tmp_path / "state" / "models" / PIPELINE).exists()  # nothing registered
    assert not endpoint_state_path(tmp_path / "state", "staging").exists()


def test_metrics_from_model_metadata_pass_the_gate_with_their_source(project, estimator):
    task = _task(project, "run-metadata")
    joblib.dump(estimator, task / "model.joblib")
    _record(project, "run-metadata", [_model(task / "model", {
        "accuracy": 0.93, "framework": "sklearn", "classes": [0, 1]})])

    result = _deploy(project, "run-metadata")

    assert result.status == "promoted", result.message
    assert result.gate is not None and result.gate.passed
    [accuracy] = [row for row in result.gate.rows if row.name == "accuracy"]
    assert (accuracy.candidate, accuracy.source) == (0.93, ("model", "model", "train"))
    assert ("| accuracy | 0.9300 | metadata of model artifact `model` | - | >= 0.8 | ok |"
            in deploy_markdown(result.to_dict()))


def test_a_missing_primary_metric_is_refused_naming_where_it_was_looked_for(project, estimator):
    task = _task(project, "run-no-metric")
    joblib.dump(estimator, task / "model.joblib")
    _record(project, "run-no-metric", [_model(task / "model", {"framework": "sklearn"}),
                                       _metrics(task, {"f1": 0.9})])

    result = _deploy(project, "run-no-metric")

    assert result.status == "gate_failed"
    assert result.message == (
        "run run-no-metric of demo is not promoted to staging: accuracy is missing from the "
        "candidate's metrics (it is the primary_metric in mlops.yaml): looked in the run's "
        "Metrics and ClassificationMetrics artifacts, its model artifact's numeric metadata and "
        "the float outputs of its final tasks; log it in one of them (e.g. metrics.log_metric) "
        "or set primary_metric to one the run has")


def test_metric_names_and_values_from_a_pipeline_are_checked():
    artifacts = [
        {"task": "evaluate", "name": "metrics", "type": "system.Metrics", "metadata": {
            "accuracy": 0.9, "nan": float("nan"), "inf": float("inf"), "flag": True,
            "text": "0.9", "bad\nname": 0.5, "x" * 101: 0.5}},
        {"task": "evaluate", "name": "cm", "type": "system.ClassificationMetrics",
         "metadata": {"auc": 0.8, "confusionMatrix": {"rows": []}}},
        {"task": "train", "name": "model", "type": "system.Model",
         "metadata": {"accuracy": 0.5, "n_estimators": 10, "framework": "sklearn"}},
        {"task": "evaluate", "name": "f1", "type": "float_output", "metadata": {"value": 0.7}},
    ]
    assert metric_sources(artifacts) == {
        "accuracy": (0.9, ("artifact", "metrics", "evaluate")),  # the metrics artifact wins
        "auc": (0.8, ("artifact", "cm", "evaluate")),
        "n_estimators": (10.0, ("model", "model", "train")),
        "f1": (0.7, ("output", "f1", "evaluate"))}


# -- a real kfp.local run: the model saved with a suffix, metrics in its metadata and as the
# final task's float outputs ------------------------------------------------------------------
PIPELINE_PY = """\
from typing import NamedTuple

from kfp import compiler, dsl


@dsl.component(base_image="python:3.11")
def train(model: dsl.Output[dsl.Model]):
    import joblib
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    features = rng.normal(size=(40, 3))
    classifier = LogisticRegression().fit(features, (features.sum(axis=1) > 0).astype(int))
    joblib.dump(classifier, model.path + ".joblib")
    model.metadata["framework"] = "sklearn"
    model.metadata["train_accuracy"] = 0.97


@dsl.component(base_image="python:3.11")
def evaluate(model: dsl.Input[dsl.Model]) -> NamedTuple("Outputs", accuracy=float, f1=float):
    import collections

    import joblib

    joblib.load(model.path + ".joblib")
    return collections.namedtuple("Outputs", ["accuracy", "f1"])(0.91, 0.88)


@dsl.pipeline(name="demo")
def demo():
    evaluate(model=train().outputs["model"])
"""


def _pipeline_spec(folder: Path) -> Path:
    """The compiled spec of PIPELINE_PY (a module of its own: kfp reads the components' source
    and annotations, which this module's `from __future__ import annotations` would hide)."""
    import importlib.util

    from kfp import compiler

    source = folder / "demo_pipeline.py"
    source.write_text(PIPELINE_PY)
    module_spec = importlib.util.spec_from_file_location("demo_pipeline", source)
    assert module_spec is not None and module_spec.loader is not None
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    compiler.Compiler().compile(module.demo, str(folder / "demo.yaml"))
    return folder / "demo.yaml"


def test_a_kfp_run_with_metadata_and_float_outputs_passes_the_gate_with_sources(
        project, tmp_path, estimator):
    from mlops_bot.backends.local import kfp_worker

    spec = _pipeline_spec(tmp_path)
    root = Path(load_backends(project).artifact_root) / "run-kfp" / "artifacts"
    root.mkdir(parents=True)
    request = tmp_path / "request.json"
    request.write_text(json.dumps({
        "pipeline_root": str(root), "spec_path": str(spec), "parameters": {},
        "result_path": str(tmp_path / "result.json")}))
    assert kfp_worker.main(str(request)) == 0
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["status"] == "succeeded", result.get("error")
    _record(project, "run-kfp", result["outputs"])

    promoted = _deploy(project, "run-kfp")

    assert promoted.status == "promoted", promoted.message
    assert promoted.gate is not None
    sources = {row.name: (row.candidate, row.source) for row in promoted.gate.rows}
    assert sources == {"accuracy": (0.91, ("output", "accuracy", "evaluate")),
                       "f1": (0.88, ("output", "f1", "evaluate")),
                       "train_accuracy": (0.97, ("model", "model", "train"))}
    markdown = deploy_markdown(promoted.to_dict())
    assert "| accuracy | 0.9100 | output `accuracy` of task `evaluate` | - | >= 0.8 | ok |" in (
        markdown)
    assert "| train_accuracy | 0.9700 | metadata of model artifact `model` |" in markdown
    assert _served(project, tmp_path) == _expected(estimator)


def test_the_serving_container_copies_a_model_saved_with_a_suffix_from_cloud_storage(
        tmp_path, estimator):
    """On Vertex AI a `.../trained_model` artifact saved as `trained_model.joblib` is registered
    at its own URI; the serving container copies the suffixed object and serves it."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    from mlops_bot.serving.download import download_model
    from mlops_bot.serving.model_forms import artifact_location
    from tests.support.fake_gcs import FakeGcs

    uri = "gs://runs/root/123/demo-1/train_1/trained_model"
    assert artifact_location(uri) == uri
    assert artifact_location("gs://runs/root/123/demo-1/train_1/model") == (
        "gs://runs/root/123/demo-1/train_1")
    with FakeGcs() as gcs:
        gcs.put("runs", "root/123/demo-1/train_1/trained_model.joblib", pickle.dumps(estimator))
        client = storage.Client(project="p", credentials=AnonymousCredentials(),
                                client_options={"api_endpoint": gcs.endpoint})
        local = download_model(uri, tmp_path, client, deadline=5.0)
    assert local == tmp_path / "trained_model.joblib"
    [container] = load_models(single_model_state(str(local), "demo-1"))
    assert container.predict(INSTANCES) == _expected(estimator)
