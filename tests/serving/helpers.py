"""Builders for the serving tests: tiny trained models, state files, a live uvicorn server."""

from __future__ import annotations

import http.client
import json
import os
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from mlops_bot.serving.app import bind_socket, url_of


class ExplodingModel:
    """A model whose predict always fails, as a broken custom model would."""

    classes_ = (0, 1, 2)

    def predict(self, rows: Any) -> Any:
        raise RuntimeError("boom")


class SlowToLoad:
    """A model that takes `delay` seconds to unpickle, so a reload is slow enough to watch."""

    def __init__(self, inner: Any, delay: float) -> None:
        self.inner = inner
        self.delay = delay

    def __setstate__(self, state: dict[str, Any]) -> None:
        time.sleep(state["delay"])
        self.__dict__.update(state)

    @property
    def classes_(self) -> Any:
        return self.inner.classes_

    @property
    def n_features_in_(self) -> int:
        return int(self.inner.n_features_in_)

    def predict(self, rows: Any) -> Any:
        return self.inner.predict(rows)

    def predict_proba(self, rows: Any) -> Any:
        return self.inner.predict_proba(rows)


def deployed(model_id: str, artifact: Path | str, traffic: int, **extra: Any) -> dict[str, Any]:
    """One `deployed` entry of the state file, as the promotion flow writes it."""
    name, _, version = model_id.rpartition("-")
    entry = {"deployed_model_id": model_id, "model": name or model_id,
             "model_version": int(version) if version.isdigit() else 1,
             "artifact_uri": str(artifact), "framework": "scikit-learn",
             "feature_names": [], "classes": [0, 1, 2], "traffic": traffic,
             "lineage": {"git_sha": "0" * 40, "run_id": "run-1", "registry_version": "v-1",
                         "pipeline": "wine_quality"}}
    entry.update(extra)
    return entry


def write_state(path: Path, revision: int, entries: list[dict[str, Any]],
                environment: str = "staging") -> None:
    """Written like the promotion flow does: a temporary file, then os.replace."""
    document = {"environment": environment, "endpoint": f"wine-{environment}",
                "revision": revision, "deployed": entries}
    write_atomically(path, json.dumps(document, indent=2))


def write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".state-")
    with os.fdopen(handle, "w") as file:
        file.write(text)
    os.replace(temporary, path)


@contextmanager
def live_server(app: Any) -> Iterator[str]:
    """`app` served by a real uvicorn on a free port, in a thread; yields its base URL."""
    import uvicorn

    sock = bind_socket("127.0.0.1", 0)
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=False,
                                           lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.01)
    try:
        yield url_of(sock)
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()


class Client:
    """Real HTTP over one keep-alive connection (http.client), like a load balancer's."""

    def __init__(self, base_url: str) -> None:
        parts = urlsplit(base_url)
        self.connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)

    def request(self, method: str, path: str, body: Any = None,
                headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
        data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
        self.connection.request(method, path, body=data,
                                headers={"Content-Type": "application/json", **(headers or {})})
        response = self.connection.getresponse()
        return response.status, json.loads(response.read())

    def predict(self, body: Any, **headers: str) -> tuple[int, dict[str, Any]]:
        return self.request("POST", "/predict", body,
                            {k.replace("_", "-"): v for k, v in headers.items()})

    def health(self) -> tuple[int, dict[str, Any]]:
        return self.request("GET", "/health")

    def close(self) -> None:
        self.connection.close()


def wait_for(condition: Any, timeout: float = 20.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")
