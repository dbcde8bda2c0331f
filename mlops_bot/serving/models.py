"""Deployed models in memory: loading them once, and turning request instances into predictions.

Instances are what Vertex AI's prebuilt scikit-learn containers take (a list of feature values in
training column order) or objects keyed by feature name, reordered to the model's
`feature_names`; one request may mix both. Predictions are the predicted class of each instance;
with probabilities asked for, each becomes `{"class": c, "probabilities": [p, ...]}` with one
probability per class, in the order of the model's `classes` (which /health lists).
"""

from __future__ import annotations

import difflib
import functools
import importlib
import importlib.util
import json
import math
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from mlops_bot.serving.batching import AsyncBatcher, Batcher
from mlops_bot.serving.state import DeployedModel, EndpointState, StateError, model_file_at

__all__ = ["LoadedModel", "ModelLoadError", "PredictionError", "RequestError", "load_models",
           "read_estimator"]

# A model file is reused across revisions while its path, size and mtime are unchanged, so
# moving traffic (90/10 -> 50/50) does not load the same models again.
_FileKey = tuple[str, int, int]


class ModelLoadError(Exception):
    """A deployed model cannot be loaded; the message names it, its file and the cause."""


class RequestError(ValueError):
    """The request cannot be answered as sent (HTTP 400); the message says what to change."""


class PredictionError(Exception):
    """The model itself failed on valid input (HTTP 500)."""


class LoadedModel:
    """A deployed model with its estimator in memory, ready to predict."""

    def __init__(self, deployed: DeployedModel, estimator: Any, file_key: _FileKey) -> None:
        self.deployed = deployed
        self.estimator = estimator
        self.file_key = file_key
        fitted_names = tuple(getattr(estimator, "feature_names_in_", ()))
        self.feature_names: tuple[str, ...] = deployed.feature_names or fitted_names
        self._known = frozenset(self.feature_names)
        fitted_count = getattr(estimator, "n_features_in_", None)
        self.n_features: int | None = (int(fitted_count) if fitted_count is not None
                                       else len(self.feature_names) or None)
        classes = getattr(estimator, "classes_", None)
        self.classes: list[Any] = (np.asarray(classes).tolist() if classes is not None
                                   else list(deployed.classes))
        # An estimator fitted on a DataFrame checks column names (and warns on a bare array), so
        # it gets a DataFrame with the names it was fitted with.
        self._as_frame = bool(fitted_names)
        self._check(fitted_names)
        # Concurrent requests share one estimator call: see batching.py for why and how.
        self._batchers = {flag: Batcher(functools.partial(self._predict_rows,
                                                          probabilities=flag))
                          for flag in (False, True)}
        self._async_batchers = {flag: AsyncBatcher(functools.partial(self._predict_rows,
                                                                     probabilities=flag))
                                for flag in (False, True)}

    @property
    def id(self) -> str:
        return self.deployed.deployed_model_id

    def _check(self, fitted_names: tuple[str, ...]) -> None:
        where = f"model {self.id} ({self.deployed.artifact_uri})"
        if not callable(getattr(self.estimator, "predict", None)):
            raise ModelLoadError(f"{where} is a {type(self.estimator).__name__}, which has no "
                                 "predict method")
        if fitted_names and importlib.util.find_spec("pandas") is None:
            raise ModelLoadError(f"{where} was fitted on a DataFrame and predicts on one, but "
                                 "pandas is not installed where mlops-bot runs: pip install "
                                 "'mlops-bot[sklearn]'")
        if fitted_names and self.feature_names != fitted_names:
            raise ModelLoadError(f"{where}: feature_names in the metadata "
                                 f"{list(self.feature_names)} differ from the columns it was "
                                 f"fitted on {list(fitted_names)}")
        if self.feature_names and self.n_features != len(self.feature_names):
            raise ModelLoadError(f"{where} takes {self.n_features} features but its metadata "
                                 f"names {len(self.feature_names)}")

    def predict(self, instances: list[Any], probabilities: bool = False) -> list[Any]:
        """Predictions for `instances`; RequestError for bad input, PredictionError otherwise."""
        # Validated per request first: one request's bad input never fails a batch.
        return self._batchers[probabilities](self.rows(instances, probabilities))

    async def predict_rows(self, rows: list[list[Any]], probabilities: bool = False) -> list[Any]:
        """`predict` for an event loop, of rows `rows` validated: run on the predict thread."""
        return await self._async_batchers[probabilities](rows)

    def rows(self, instances: list[Any], probabilities: bool = False) -> list[list[Any]]:
        """The feature values of each instance, in column order; RequestError for bad input."""
        if probabilities and not callable(getattr(self.estimator, "predict_proba", None)):
            raise RequestError(f"model {self.id} ({type(self.estimator).__name__}) does not "
                               "give probabilities: leave out parameters.probabilities")
        return [self._row(i, x) for i, x in enumerate(instances)]

    def _predict_rows(self, rows: list[list[Any]], probabilities: bool) -> list[Any]:
        matrix = self._matrix(rows)
        try:
            labels = np.asarray(self.estimator.predict(matrix)).tolist()
            if not probabilities:
                return list(labels)
            scores = np.asarray(self.estimator.predict_proba(matrix)).tolist()
            return [{"class": label, "probabilities": row}
                    for label, row in zip(labels, scores, strict=True)]
        except Exception as error:
            raise PredictionError(f"{type(error).__name__}: {error}") from error

    def _matrix(self, rows: list[list[float]]) -> Any:
        matrix = np.asarray(rows, dtype=np.float64)
        if self._as_frame:
            # pandas is there whenever a model was fitted on a DataFrame; imported by name so
            # serving a model fitted on arrays does not need it.
            pandas: Any = importlib.import_module("pandas")
            return pandas.DataFrame(matrix, columns=list(self.feature_names))
        return matrix

    def _row(self, index: int, instance: Any) -> list[Any]:
        if isinstance(instance, list):
            values = instance
            if self.n_features is not None and len(values) != self.n_features:
                raise RequestError(f"instance {index}: expected {self.n_features} feature "
                                   f"values, got {len(values)}")
        elif isinstance(instance, dict):
            values = self._ordered(index, instance)
        else:
            raise RequestError(f"instance {index} is {_kind(instance)}: send a list of feature "
                               "values in training column order, or an object keyed by feature "
                               "name")
        for position, value in enumerate(values):
            if type(value) not in (int, float):
                raise RequestError(f"instance {index}: {self._feature(position)} is "
                                   f"{json.dumps(value)}, not a number")
            if not math.isfinite(value):  # 1e400 parses as infinity
                raise RequestError(f"instance {index}: {self._feature(position)} is too large "
                                   "for a 64-bit float")
        return values

    def _ordered(self, index: int, instance: dict[str, Any]) -> list[Any]:
        if not self.feature_names:
            raise RequestError(f"instance {index} is an object, but model {self.id} has no "
                               "feature_names in its metadata: send a list of values in "
                               "training column order")
        unknown = [key for key in instance if key not in self._known]
        if unknown:
            close = difflib.get_close_matches(unknown[0], self.feature_names, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise RequestError(f"instance {index}: unknown {_features(unknown)}{hint}")
        missing = [name for name in self.feature_names if name not in instance]
        if missing:
            raise RequestError(f"instance {index}: missing {_features(missing)}")
        return [instance[name] for name in self.feature_names]

    def _feature(self, position: int) -> str:
        if position < len(self.feature_names):
            return f"feature {position} ({self.feature_names[position]!r})"
        return f"feature {position}"


def load_models(state: EndpointState, previous: Iterable[LoadedModel] = ()) -> tuple[
        LoadedModel, ...]:
    """Every model `state` deploys, reusing estimators of `previous` whose files are unchanged.

    Raises ModelLoadError naming the first model that cannot be loaded: a revision is served
    whole or not at all.
    """
    loaded = {model.file_key: model.estimator for model in previous}
    return tuple(_load(deployed, loaded) for deployed in state.deployed)


def _load(deployed: DeployedModel, loaded: dict[_FileKey, Any]) -> LoadedModel:
    where = f"model {deployed.deployed_model_id}"
    if deployed.artifact_uri.startswith("gs://"):
        raise ModelLoadError(f"{where}: {deployed.artifact_uri} is in Cloud Storage; the local "
                             "server loads models from local paths only")
    try:
        path = model_file_at(Path(deployed.artifact_uri))
        stat = os.stat(path)
    except (StateError, OSError) as error:
        raise ModelLoadError(f"{where}: {error}") from None
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in loaded:
        loaded[key] = read_estimator(path, where)
    return LoadedModel(deployed, loaded[key], key)


def read_estimator(path: Path, where: str, source: BinaryIO | None = None) -> Any:
    """The estimator in the model file `path` (read from `source` when given: an isolated
    smoke test gets the file open, not its path)."""
    # joblib (and scikit-learn behind the pickles) load only when a model does, so the CLI and
    # the state-file code stay light.
    import joblib  # type: ignore[import-untyped]

    try:
        return joblib.load(path if source is None else source)
    except ModuleNotFoundError as error:  # the model's framework is not installed here
        package = _package(error)
        install = ("'mlops-bot[sklearn]'" if package in ("scikit-learn", "pandas")
                   else package)
        raise ModelLoadError(f"{where}: {path} needs {package}, which is not installed where "
                             f"mlops-bot runs: pip install {install}") from None
    except Exception as error:  # unpickling can raise anything the pickled classes raise
        raise ModelLoadError(f"{where}: cannot load {path}: {type(error).__name__}: "
                             f"{error}") from None


# Import names whose pip package is named differently.
_PACKAGES = {"sklearn": "scikit-learn"}


def _package(error: ModuleNotFoundError) -> str:
    module = (error.name or "").partition(".")[0] or "a missing module"
    return _PACKAGES.get(module, module)


def _features(names: list[str]) -> str:
    return f"feature{'s' if len(names) > 1 else ''} {', '.join(map(repr, names))}"


def _kind(value: Any) -> str:
    names = {str: "a string", bool: "a boolean", int: "a number", float: "a number"}
    return "null" if value is None else names.get(type(value), type(value).__name__)
