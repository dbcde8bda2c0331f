"""A real uvicorn server and real HTTP: traffic split, pinning, hot swaps, broken revisions."""

from __future__ import annotations

import http.client
import random
import statistics
import threading
import time
from collections import Counter
from urllib.parse import urlsplit

import pytest

from mlops_bot.serving.app import Endpoint, create_app
from mlops_bot.serving.state import StateWatcher
from tests.serving.helpers import (
    Client,
    deployed,
    live_server,
    wait_for,
    write_atomically,
    write_state,
)


@pytest.fixture()
def serve(state_file):
    """Serves the staging state file; yields a keep-alive client to it."""
    clients = []

    def start(seed: int = 0, poll_interval: float = 0.05):
        endpoint = Endpoint(StateWatcher(state_file, "staging"), rng=random.Random(seed))
        server = live_server(create_app(endpoint, poll_interval=poll_interval))
        url = server.__enter__()
        clients.append((server, Client(url)))
        return clients[-1][1], url

    yield start
    for server, client in clients:
        client.close()
        server.__exit__(None, None, None)


def _revision(client: Client) -> int:
    return client.health()[1]["revision"]


def test_traffic_is_split_by_the_percentages(models, state_file, serve):
    write_state(state_file, 1, [deployed("forest-1", models.forest, 90),
                                deployed("tree-2", models.tree, 10)])
    client, _ = serve(seed=1234)
    counts = Counter()
    for _ in range(400):
        status, answer = client.predict({"instances": models.rows[:1]})
        assert status == 200 and answer["predictions"] == [0]
        counts[answer["deployedModelId"]] += 1
    # 40 expected; the binomial standard deviation is 6, so 20..60 is more than 3 of them.
    assert counts["forest-1"] + counts["tree-2"] == 400
    assert 20 <= counts["tree-2"] <= 60, counts


def test_a_header_pins_the_canary(models, state_file, serve):
    write_state(state_file, 1, [deployed("forest-1", models.forest, 90),
                                deployed("tree-2", models.tree, 10)])
    client, _ = serve()
    answers = {client.predict({"instances": models.rows}, X_Deployed_Model_Id="tree-2")[1]["deployedModelId"]
               for _ in range(50)}
    assert answers == {"tree-2"}


def test_a_model_with_no_traffic_answers_only_when_pinned(models, state_file, serve):
    write_state(state_file, 1, [deployed("forest-1", models.forest, 100),
                                deployed("tree-2", models.tree, 0)])
    client, _ = serve()
    assert {client.predict({"instances": models.rows})[1]["deployedModelId"] for _ in range(50)} == {"forest-1"}
    assert client.predict({"instances": models.rows}, X_Deployed_Model_Id="tree-2")[1]["deployedModelId"] == "tree-2"


def test_hot_swaps_drop_no_request(models, state_file, serve):
    write_state(state_file, 1, [deployed("forest-1", models.forest, 100)])
    client, url = serve()
    answers: list[tuple[float, int, str]] = []
    stop = threading.Event()

    def keep_asking() -> None:
        asker = Client(url)
        try:
            while not stop.is_set():
                status, answer = asker.predict({"instances": models.rows})
                answers.append((time.monotonic(), status, answer.get("deployedModelId", repr(answer))))
        finally:
            asker.close()

    thread = threading.Thread(target=keep_asking)
    thread.start()
    try:
        wait_for(lambda: len(answers) > 20, what="first answers")
        swap_started = time.monotonic()
        # The new model takes 0.4 s to load: requests keep being answered by the old one meanwhile.
        write_state(state_file, 2, [deployed("tree-2", models.slow_tree, 100)])
        wait_for(lambda: answers[-1][2] == "tree-2", what="revision 2 answering")
        write_state(state_file, 3, [deployed("forest-3", models.forest, 100)])
        wait_for(lambda: answers[-1][2] == "forest-3", what="revision 3 answering")
        seen = len(answers)
        wait_for(lambda: len(answers) > seen + 20, what="more answers")
    finally:
        stop.set()
        thread.join(30)
    assert [status for _, status, _ in answers if status != 200] == []
    order = [model for i, (_, _, model) in enumerate(answers) if i == 0 or answers[i - 1][2] != model]
    assert order == ["forest-1", "tree-2", "forest-3"]  # switched once each, never back
    during_load = [model for at, _, model in answers if swap_started < at < swap_started + 0.3]
    assert during_load and set(during_load) == {"forest-1"}
    assert _revision(client) == 3


def test_a_broken_revision_keeps_the_old_one_serving(models, state_file, serve):
    write_state(state_file, 1, [deployed("forest-1", models.forest, 100)])
    client, _ = serve()
    for revision, entries, problem in [
        (2, [deployed("tree-2", models.tree.parent / "gone", 100)], "model tree-2: no model at"),
        (3, [deployed("tree-3", models.garbage, 100)], "model tree-3: cannot load"),
        (4, [deployed("tree-4", models.tree, 60)], "must sum to 100, not 60"),
    ]:
        write_state(state_file, revision, entries)
        health = wait_for(lambda p=problem: p in (client.health()[1]["last_error"] or "") and client.health()[1],
                          what=problem)
        assert health["revision"] == 1 and "still serving revision 1" in health["last_error"]
        assert client.predict({"instances": models.rows})[1]["deployedModelId"] == "forest-1"
    write_atomically(state_file, '{"revision": 5, "deployed": [')
    health = wait_for(lambda: "not valid JSON" in (client.health()[1]["last_error"] or "") and client.health()[1])
    assert health["status"] == "ok" and health["deployed"][0]["deployed_model_id"] == "forest-1"
    write_state(state_file, 1, [deployed("forest-1", models.forest, 100)])  # back to what is served
    wait_for(lambda: client.health()[1]["last_error"] is None, what="the error to clear")
    write_state(state_file, 6, [deployed("tree-6", models.tree, 100)])
    wait_for(lambda: _revision(client) == 6, what="the fixed revision")
    assert client.health()[1]["last_error"] is None
    assert client.predict({"instances": models.rows})[1]["deployedModelId"] == "tree-6"


def test_a_large_content_length_is_refused_before_the_body(models, state_file, serve):
    write_state(state_file, 1, [deployed("forest-1", models.forest, 100)])
    _, url = serve()
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    connection.putrequest("POST", "/predict")
    connection.putheader("Content-Type", "application/json")
    connection.putheader("Content-Length", str(11 * 1024 * 1024))
    connection.endheaders()  # and no body: the answer must come without it
    response = connection.getresponse()
    assert response.status == 413 and b"over 10 MiB" in response.read()
    connection.close()


def test_median_latency_of_one_instance(models, state_file, serve, record_property, capsys):
    """A benchmark figure (printed with -s), not a timed assertion."""
    write_state(state_file, 1, [deployed("forest-1", models.forest, 100)])
    client, _ = serve()
    body = {"instances": models.rows[:1]}
    for _ in range(20):
        client.predict(body)  # warm-up
    timings = []
    for _ in range(300):
        started = time.perf_counter()
        status, _answer = client.predict(body)
        timings.append(time.perf_counter() - started)
        assert status == 200
    median_ms = statistics.median(timings) * 1000
    record_property("predict_median_ms", median_ms)
    with capsys.disabled():
        print(f"\n/predict, 1 instance, RandomForest(100 trees), keep-alive: "
              f"median {median_ms:.2f} ms, p90 {statistics.quantiles(timings, n=10)[-1] * 1000:.2f} ms")
