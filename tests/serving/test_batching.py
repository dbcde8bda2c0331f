"""Concurrent predictions share estimator calls, and each request still gets exactly its answer."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from mlops_bot.serving.batching import Batcher


class SlowDoubler:
    """predict(rows) -> row * 2, taking 50 ms per call whatever the rows; fails on "bad" rows."""

    def __init__(self) -> None:
        self.calls: list[int] = []
        self.lock = threading.Lock()

    def __call__(self, rows: list) -> list:
        with self.lock:
            self.calls.append(len(rows))
        time.sleep(0.05)
        if "bad" in rows:
            raise RuntimeError("bad row")
        return [row * 2 for row in rows]


def _call_together(batcher: Batcher, requests: list[list]) -> list:
    start = threading.Barrier(len(requests))

    def call(rows: list):
        start.wait()
        try:
            return batcher(rows)
        except Exception as error:
            return error

    with ThreadPoolExecutor(len(requests)) as pool:
        return list(pool.map(call, requests))


def test_concurrent_requests_share_calls_and_get_their_own_rows():
    model = SlowDoubler()
    requests = [[i, i + 100, i + 200] for i in range(8)]
    answers = _call_together(Batcher(model), requests)
    assert answers == [[2 * x for x in rows] for rows in requests]
    assert sum(model.calls) == 24 and len(model.calls) < 8  # 8 alone would be 8 calls


def test_a_lone_request_is_predicted_at_once():
    model = SlowDoubler()
    started = time.perf_counter()
    assert Batcher(model)([1, 2]) == [2, 4]
    assert model.calls == [2] and time.perf_counter() - started < 0.5


def test_only_the_request_that_makes_the_model_fail_gets_the_error():
    model = SlowDoubler()
    requests = [[1], [2], ["bad"], [3], [4], [5]]
    answers = _call_together(Batcher(model), requests)
    assert isinstance(answers[2], RuntimeError)
    assert [a for i, a in enumerate(answers) if i != 2] == [[2], [4], [6], [8], [10]]


def test_a_model_answering_the_wrong_number_of_rows_is_not_sliced_wrongly():
    calls = []

    def first_row_only(rows: list) -> list:
        calls.append(len(rows))
        time.sleep(0.05)
        return [rows[0] * 2]

    answers = _call_together(Batcher(first_row_only), [[1], [2], [3], [4]])
    assert answers == [[2], [4], [6], [8]]  # each got its own, predicted alone


@pytest.mark.parametrize("probabilities", [False, True])
def test_batched_forest_answers_equal_single_answers(probabilities, tmp_path):
    import joblib
    from sklearn.datasets import load_wine
    from sklearn.ensemble import RandomForestClassifier

    from mlops_bot.serving.models import load_models
    from mlops_bot.serving.state import parse_state

    frame = load_wine(as_frame=True).frame
    features = frame.drop(columns=["target"])
    joblib.dump(RandomForestClassifier(n_estimators=50, random_state=0).fit(features,
                                                                             frame["target"]),
                tmp_path / "model")
    state = parse_state('{"revision": 1, "deployed": [{"deployed_model_id": "m", "traffic": 100, '
                        f'"artifact_uri": "{tmp_path / "model"}"}}]}}', "state")
    [model] = load_models(state)
    requests = [[features.iloc[i].tolist(), features.iloc[i + 60].tolist()]
                for i in range(0, 120, 10)]
    alone = [model.predict(rows, probabilities) for rows in requests]
    start = threading.Barrier(len(requests))

    def call(rows):
        start.wait()
        return model.predict(rows, probabilities)

    with ThreadPoolExecutor(len(requests)) as pool:
        assert list(pool.map(call, requests)) == alone
