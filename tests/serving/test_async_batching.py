"""The server's batcher: requests on the event loop, predictions in one worker thread, batched."""

from __future__ import annotations

import asyncio
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from mlops_bot.serving.app import Endpoint, create_app
from mlops_bot.serving.batching import AsyncBatcher
from mlops_bot.serving.state import StateWatcher
from tests.serving.helpers import Client, deployed, live_server, write_state

PREDICT_S = 0.05


class SlowDoubler:
    """predict(rows) -> row * 2 in 50 ms whatever the rows; fails on "bad" rows, and on every
    call while `broken` is set."""

    def __init__(self) -> None:
        self.calls: list[list[Any]] = []
        self.threads: set[str] = set()
        self.broken = False

    def __call__(self, rows: list[Any]) -> list[Any]:
        self.calls.append(list(rows))
        self.threads.add(threading.current_thread().name)
        time.sleep(PREDICT_S)
        if self.broken:
            raise RuntimeError("the model is broken")
        if "bad" in rows:
            raise ValueError("bad row")
        return [row * 2 for row in rows]


async def together(batcher: AsyncBatcher, requests: list[list[Any]]) -> list[Any]:
    return await asyncio.gather(*(batcher(rows) for rows in requests), return_exceptions=True)


def test_concurrent_requests_share_calls_and_each_gets_its_own_rows() -> None:
    model = SlowDoubler()
    requests = [[i, i + 100, i + 200] for i in range(8)]
    answers = asyncio.run(together(AsyncBatcher(model), requests))
    assert answers == [[2 * x for x in rows] for rows in requests]
    assert sorted(x for call in model.calls for x in call) == sorted(x for r in requests for x in r)
    assert len(model.calls) <= 2  # the first alone at once, the other seven together
    assert len(model.threads) == 1 and threading.current_thread().name not in model.threads


def test_a_lone_request_is_not_delayed_even_after_a_burst() -> None:
    model = SlowDoubler()
    batcher = AsyncBatcher(model)

    async def scenario() -> tuple[float, list[float], list[float]]:
        await together(batcher, [[i] for i in range(8)])
        after_burst = batcher.patience()
        took, patience = [], []
        for i in range(4):  # one client from now on
            started = time.perf_counter()
            assert await batcher([i]) == [2 * i]
            took.append(time.perf_counter() - started)
            patience.append(batcher.patience())
        return after_burst, took, patience

    after_burst, took, patience = asyncio.run(scenario())
    assert model.calls[-4:] == [[0], [1], [2], [3]]
    # after the burst, the next batch waits for its clients to come back, but never longer
    # than a share of a prediction and 5 ms; after a lone request it waits for nothing
    assert 0 < after_burst <= min(PREDICT_S / 2, 0.005)
    assert patience == [0.0] * 4
    assert took[0] < PREDICT_S * 1.5 + 0.02 and max(took[1:]) < PREDICT_S * 1.5 + 0.02


def test_a_request_that_makes_the_model_fail_fails_alone() -> None:
    model = SlowDoubler()
    requests = [[1], [2], ["bad"], [3], [4], [5]]
    answers = asyncio.run(together(AsyncBatcher(model), requests))
    assert isinstance(answers[2], ValueError)
    assert [a for i, a in enumerate(answers) if i != 2] == [[2], [4], [6], [8], [10]]


def test_an_exception_in_predict_fails_only_that_batch() -> None:
    model = SlowDoubler()
    batcher = AsyncBatcher(model)

    async def scenario() -> tuple[list[Any], list[Any]]:
        model.broken = True
        failed = await together(batcher, [[1], [2], [3]])
        model.broken = False
        return failed, await together(batcher, [[4], [5], [6]])

    failed, after = asyncio.run(scenario())
    assert all(isinstance(a, RuntimeError) and "broken" in str(a) for a in failed)
    assert after == [[8], [10], [12]]


def test_a_caller_that_goes_away_leaves_the_others_answered() -> None:
    model = SlowDoubler()
    batcher = AsyncBatcher(model)

    async def scenario() -> list[Any]:
        impatient = asyncio.ensure_future(asyncio.wait_for(batcher([1]), PREDICT_S / 5))
        answers = await together(batcher, [[2], [3]])
        with pytest.raises(asyncio.TimeoutError):
            await impatient
        return [*answers, await batcher([4])]

    assert asyncio.run(scenario()) == [[4], [6], [8]]


def test_callers_on_different_event_loops_get_their_answers_on_their_own_loop() -> None:
    model = SlowDoubler()
    batcher = AsyncBatcher(model)
    start = threading.Barrier(4)

    def caller(n: int) -> list[Any]:
        async def call() -> list[Any]:
            start.wait()
            return await batcher([n, n])
        return asyncio.run(call())

    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(caller, range(4))) == [[2 * n, 2 * n] for n in range(4)]


@pytest.fixture()
def forest_server(models, state_file):  # type: ignore[no-untyped-def]
    write_state(state_file, 1, [deployed("forest-1", models.forest, 100,
                                         feature_names=models.features)])
    endpoint = Endpoint(StateWatcher(state_file, "staging"), rng=random.Random(0))
    with live_server(create_app(endpoint, poll_interval=0.05)) as url:
        yield url


def test_concurrent_http_requests_each_get_the_predictions_of_their_own_rows(
        models, forest_server) -> None:  # type: ignore[no-untyped-def]
    # each client sends its own mix of the three classes' rows, and one sends a bad request
    mixes = [[models.rows[(n + k) % 3] for k in range(n % 3 + 1)] for n in range(12)]
    expected = [[(n + k) % 3 for k in range(n % 3 + 1)] for n in range(12)]
    start = threading.Barrier(13)

    def client(n: int) -> list[tuple[int, Any]]:
        connection = Client(forest_server)
        start.wait()
        try:
            if n == 12:  # a wrong number of features: fails alone, before any batch
                return [connection.predict({"instances": [models.rows[0][:5]]})
                        for _ in range(10)]
            return [connection.predict({"instances": mixes[n]}) for _ in range(10)]
        finally:
            connection.close()

    with ThreadPoolExecutor(13) as pool:
        results = list(pool.map(client, range(13)))
    for n, answers in enumerate(results[:12]):
        assert [(status, a["predictions"]) for status, a in answers] == \
            [(200, expected[n])] * 10
    assert all(status == 400 and "instance 0: expected 13 feature values, got 5" in a["error"]
               for status, a in results[12])
