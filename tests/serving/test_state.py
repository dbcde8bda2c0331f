"""Reading the endpoint state file the promotion flow writes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlops_bot.serving.state import (
    StateError,
    StateWatcher,
    endpoint_state_path,
    parse_state,
    read_state,
    single_model_state,
)
from tests.serving.helpers import deployed, write_atomically, write_state


def test_the_documented_example_parses(tmp_path: Path):
    path = endpoint_state_path(tmp_path / ".mlops", "staging")
    assert path == tmp_path / ".mlops" / "endpoints" / "staging.json"
    write_state(path, 7, [deployed("wine_quality-3", "/m/3", 90, feature_names=["a", "b"]),
                          deployed("wine_quality-4", "/m/4", 10)])
    state = read_state(path, "staging")
    assert (state.environment, state.endpoint, state.revision) == ("staging", "wine-staging", 7)
    first = state.deployed[0]
    assert (first.deployed_model_id, first.model, first.model_version) == ("wine_quality-3", "wine_quality", 3)
    assert (first.artifact_uri, first.traffic, first.feature_names) == ("/m/3", 90, ("a", "b"))
    assert first.classes == (0, 1, 2) and first.lineage["pipeline"] == "wine_quality"


def test_a_missing_file_is_an_empty_revision_0(tmp_path: Path):
    state = read_state(tmp_path / "nope.json", "staging")
    assert (state.revision, state.deployed) == (0, ())


def test_unknown_keys_are_ignored():
    text = json.dumps({"revision": 1, "new_field": True,
                       "deployed": [{**deployed("m-1", "/m", 100), "future": 1}]})
    assert parse_state(text, "s.json").deployed[0].deployed_model_id == "m-1"


@pytest.mark.parametrize(("document", "message"), [
    ("{not json", "s.json is not valid JSON"),
    ("[]", "must hold a JSON object"),
    ({"deployed": []}, "revision must be a whole number"),
    ({"revision": "7", "deployed": []}, "revision must be a whole number"),
    ({"revision": 1, "deployed": {}}, "deployed must be a list"),
    ({"revision": 1, "deployed": [{"artifact_uri": "/m", "traffic": 100}]}, "deployed[0].deployed_model_id must be"),
    ({"revision": 1, "deployed": [{"deployed_model_id": "a", "traffic": 100}]}, "deployed[0].artifact_uri must be"),
    ({"revision": 1, "deployed": [deployed("a-1", "/m", 101)]}, "traffic must be a whole number from 0 to 100, not 101"),
    ({"revision": 1, "deployed": [deployed("a-1", "/m", "50")]}, "traffic must be a whole number"),
    ({"revision": 1, "deployed": [deployed("a-1", "/m", 60), deployed("b-1", "/m", 30)]},
     "must sum to 100, not 90 (a-1 60%, b-1 30%)"),
    ({"revision": 1, "deployed": [deployed("a-1", "/m", 50), deployed("a-1", "/m", 50)]}, "a-1 appears twice"),
    ({"revision": 1, "deployed": [deployed("a-1", "/m", 100, feature_names="abc")]}, "feature_names must be a list"),
])
def test_invalid_state_files_are_explained(document, message):
    text = document if isinstance(document, str) else json.dumps(document)
    with pytest.raises(StateError) as caught:
        parse_state(text, "s.json")
    assert message in str(caught.value)


def test_an_empty_deployment_is_valid():
    assert parse_state('{"revision": 4, "deployed": []}', "s.json").deployed == ()


def test_the_watcher_reads_only_when_the_file_changes(tmp_path: Path):
    path = tmp_path / "staging.json"
    watcher = StateWatcher(path, "staging")
    assert watcher.poll().revision == 0  # the first poll always answers
    assert watcher.poll() is None
    write_state(path, 1, [])
    assert watcher.poll().revision == 1
    assert watcher.poll() is None
    write_state(path, 2, [])  # same size, maybe the same mtime: a new inode all the same
    assert watcher.poll().revision == 2
    write_atomically(path, "{broken")
    with pytest.raises(StateError, match="not valid JSON"):
        watcher.poll()
    assert watcher.poll() is None  # reported once, not on every poll
    path.unlink()
    with pytest.raises(StateError, match="was removed"):
        watcher.poll()


def test_a_single_model_folder_with_metadata(tmp_path: Path):
    (tmp_path / "model.joblib").write_bytes(b"x")
    (tmp_path / "model_metadata.json").write_text(json.dumps(
        {"framework": "scikit-learn", "feature_names": ["a", "b"], "classes": [0, 1]}))
    state = single_model_state(str(tmp_path), "123")
    (only,) = state.deployed
    assert (only.deployed_model_id, only.traffic, only.feature_names) == ("123", 100, ("a", "b"))
    assert only.artifact_uri == str(tmp_path / "model.joblib")
    assert single_model_state(f"file://{tmp_path}/model.joblib", "9").deployed[0].feature_names == ("a", "b")


def test_a_bare_model_file_without_metadata(tmp_path: Path):
    (tmp_path / "model").write_bytes(b"x")
    (only,) = single_model_state(str(tmp_path / "model"), "m").deployed
    assert (only.artifact_uri, only.feature_names) == (str(tmp_path / "model"), ())


@pytest.mark.parametrize(("uri", "message"), [
    ("gs://bucket/models/3", "copy the model to a local path first"),
    ("/no/such/model", "no model at /no/such/model"),
])
def test_single_model_uris_that_cannot_be_served(uri, message):
    with pytest.raises(StateError, match=message):
        single_model_state(uri, "m")


def test_a_folder_without_a_model_file(tmp_path: Path):
    with pytest.raises(StateError, match=r"save the model there as model\.joblib \(or one "
                       r"\.joblib/\.pkl file\), or as an MLflow model folder$"):
        single_model_state(str(tmp_path), "m")


def test_a_folder_with_several_candidate_model_files_names_them(tmp_path: Path):
    for name in ("a.joblib", "b.pkl", "model_metadata.json"):
        (tmp_path / name).write_text("x")
    with pytest.raises(StateError, match=r"several files that could be the model \(a\.joblib, "
                       r"b\.pkl\): keep one model file in the folder, or name it model\.joblib"):
        single_model_state(str(tmp_path), "m")


def test_a_folder_that_links_to_itself_is_no_model(tmp_path: Path):
    (tmp_path / "model").symlink_to(tmp_path)
    with pytest.raises(StateError, match="no model file in"):
        single_model_state(str(tmp_path), "m")
