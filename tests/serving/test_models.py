"""Loading deployed models once, and what they answer."""

from __future__ import annotations

import json
import os

import pytest

from mlops_bot.serving.models import ModelLoadError, RequestError, load_models
from mlops_bot.serving.state import parse_state
from tests.serving.helpers import deployed


def _state(*entries, revision=1):
    return parse_state(json.dumps({"revision": revision, "deployed": list(entries)}), "s.json")


def test_predictions_are_json_native_classes(models):
    (forest,) = load_models(_state(deployed("forest-1", models.forest, 100)))
    predictions = forest.predict(models.rows)
    assert predictions == [0, 1, 2]
    assert all(type(p) is int for p in predictions)
    assert forest.feature_names == tuple(models.features)  # from the DataFrame it was fitted on
    assert forest.classes == [0, 1, 2]


def test_probabilities_follow_the_classes_order(models):
    (forest,) = load_models(_state(deployed("forest-1", models.forest, 100)))
    (answer,) = forest.predict(models.rows[:1], probabilities=True)
    assert answer["class"] == 0
    assert len(answer["probabilities"]) == 3 and abs(sum(answer["probabilities"]) - 1) < 1e-9
    assert all(type(p) is float for p in answer["probabilities"])
    assert answer["probabilities"].index(max(answer["probabilities"])) == 0


def test_an_unchanged_model_file_is_not_loaded_again(models):
    first = load_models(_state(deployed("forest-1", models.forest, 100)))
    second = load_models(_state(deployed("forest-1", models.forest, 50),
                                deployed("tree-1", models.tree, 50), revision=2), first)
    assert second[0].estimator is first[0].estimator
    assert second[0].deployed.traffic == 50
    os.utime(models.forest)  # a rewritten file is read again
    third = load_models(_state(deployed("forest-1", models.forest, 100), revision=3), second)
    assert third[0].estimator is not first[0].estimator


@pytest.mark.parametrize(("entry", "message"), [
    (lambda m: deployed("x-1", m.forest.parent / "missing", 100), "model x-1: no model at"),
    (lambda m: deployed("x-1", m.garbage, 100), "model x-1: cannot load"),
    (lambda m: deployed("x-1", "gs://bucket/model", 100), "is in Cloud Storage"),
    (lambda m: deployed("x-1", m.forest, 100, feature_names=["a"] * 13), "differ from the columns it was fitted on"),
    (lambda m: deployed("x-1", m.tree, 100, feature_names=["a", "b"]), "takes 13 features but its metadata names 2"),
])
def test_models_that_cannot_be_served_are_named(models, entry, message):
    with pytest.raises(ModelLoadError, match=message):
        load_models(_state(entry(models)))


def test_an_object_without_predict_is_refused(tmp_path):
    import joblib

    joblib.dump({"not": "a model"}, tmp_path / "model")
    with pytest.raises(ModelLoadError, match="is a dict, which has no predict method"):
        load_models(_state(deployed("x-1", tmp_path / "model", 100)))


def test_objects_need_feature_names(models):
    (tree,) = load_models(_state(deployed("tree-1", models.tree, 100)))
    assert tree.predict(models.rows[:1]) == [0]
    with pytest.raises(RequestError, match="has no feature_names in its metadata"):
        tree.predict([dict(zip(models.features, models.rows[0], strict=True))])
