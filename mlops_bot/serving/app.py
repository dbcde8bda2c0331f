"""The serving app: Vertex AI's custom-container contract over an endpoint's routing table.

`GET <AIP_HEALTH_ROUTE or /health>` answers 200 once models are loaded (503 while nothing is
deployed); `POST <AIP_PREDICT_ROUTE or /predict>` takes `{"instances": [...], "parameters": {...}}`
and answers `{"predictions": [...], "deployedModelId": "..."}` from one deployed model, chosen at
random by the traffic split, or the one an `X-Deployed-Model-Id` header pins.

Models are loaded once per state revision, off the event loop. A new revision's models are loaded
first and the routing table is swapped afterwards in one reference assignment: a request reads the
table once, so requests in flight finish on the models they started with, and a revision that fails
to load leaves the old table serving (its error shows in /health as `last_error`).
"""

from __future__ import annotations

import copy
import json
import logging
import os
import random
import socket
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Protocol

import anyio
import anyio.to_thread
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from mlops_bot.errors import UserError
from mlops_bot.serving.models import (
    LoadedModel,
    ModelLoadError,
    PredictionError,
    RequestError,
    load_models,
)
from mlops_bot.serving.state import EndpointState, StateError

__all__ = [
    "DEFAULT_PORT",
    "MAX_BODY_BYTES",
    "PIN_HEADER",
    "Endpoint",
    "Routes",
    "RoutingTable",
    "StateSource",
    "bind_socket",
    "create_app",
    "resolve_port",
    "run_server",
    "url_of",
]

DEFAULT_PORT = 8080
MAX_BODY_BYTES = 10 * 1024 * 1024
# Bodies up to this size are parsed and answered on the event loop (tens of microseconds: less
# than handing them to a thread); larger ones in a worker thread, so they hold up no one.
INLINE_BYTES = 64 * 1024
PIN_HEADER = "X-Deployed-Model-Id"
logger = logging.getLogger("mlops_bot.serving")


class StateSource(Protocol):
    """Where an endpoint's state comes from: the state file, or one fixed model."""

    environment: str

    def poll(self) -> EndpointState | None:
        """The state if it changed since the last poll, else None; StateError if unreadable."""
        ...


@dataclass(frozen=True)
class RoutingTable:
    """What one revision serves; replaced whole, never changed in place."""

    state: EndpointState | None  # None until the first state is read
    models: tuple[LoadedModel, ...] = ()
    cum_weights: tuple[int, ...] = ()

    @classmethod
    def build(cls, state: EndpointState, models: tuple[LoadedModel, ...]) -> RoutingTable:
        weights, total = [], 0
        for model in models:
            total += model.deployed.traffic
            weights.append(total)
        return cls(state, models, tuple(weights))

    @property
    def revision(self) -> int | None:
        return self.state.revision if self.state else None

    def choose(self, rng: random.Random, pinned: str | None) -> LoadedModel:
        if pinned is not None:
            for model in self.models:
                if model.id == pinned:
                    return model
            known = ", ".join(m.id for m in self.models)
            raise RequestError(f"{PIN_HEADER} {pinned!r} is not deployed here; deployed: {known}")
        return rng.choices(self.models, cum_weights=self.cum_weights)[0]


class Endpoint:
    """The live routing table of one environment, refreshed from its state source."""

    def __init__(self, source: StateSource, rng: random.Random | None = None) -> None:
        self.source = source
        self.environment = source.environment
        self.rng = rng or random.Random()
        self.table = RoutingTable(None)
        self.last_error: str | None = None

    def refresh(self) -> bool:
        """Blocking: on a new revision load its models, then swap tables. True when swapped."""
        try:
            state = self.source.poll()
        except StateError as error:
            return self._failed(str(error))
        current = self.table.state
        if state is None:
            return False
        if current is not None and state.revision == current.revision:
            self.last_error = None  # the file is readable again and names what is served
            return False
        started = time.perf_counter()
        try:
            models = load_models(state, self.table.models)
        except ModelLoadError as error:
            return self._failed(f"revision {state.revision} is not served: {error}")
        except Exception as error:  # anything else must not stop the old revision serving
            logger.exception("loading revision %s failed", state.revision)
            return self._failed(f"revision {state.revision} is not served: "
                                f"{type(error).__name__}: {error}")
        self.table = RoutingTable.build(state, models)
        self.last_error = None
        split = ", ".join(f"{m.id} {m.deployed.traffic}%" for m in models) or "nothing deployed"
        logger.info("%s revision %s: %s (loaded in %.2f s)", self.environment, state.revision,
                    split, time.perf_counter() - started)
        return True

    def _failed(self, message: str) -> bool:
        revision = self.table.revision
        serving = "serving nothing" if revision is None else f"still serving revision {revision}"
        self.last_error = f"{message} ({serving})"
        logger.error("%s", self.last_error)
        return False

    def health(self) -> tuple[int, dict[str, Any]]:
        table = self.table
        document: dict[str, Any] = {
            "status": "ok" if table.models else "unavailable",
            "environment": self.environment,
            "endpoint": table.state.endpoint if table.state else "",
            "revision": table.revision,
            "deployed": [_describe(model) for model in table.models],
            "last_error": self.last_error,
        }
        if not table.models:
            document["reason"] = f"nothing is deployed to {self.environment}"
        return (200 if table.models else 503), document


def _describe(model: LoadedModel) -> dict[str, Any]:
    deployed = model.deployed
    return {"deployed_model_id": model.id, "traffic": deployed.traffic, "model": deployed.model,
            "model_version": deployed.model_version, "classes": model.classes,
            "feature_names": list(model.feature_names), "lineage": deployed.lineage}


@dataclass(frozen=True)
class Routes:
    health: str = "/health"
    predict: str = "/predict"

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Routes:
        routes = cls(environ.get("AIP_HEALTH_ROUTE") or cls.health,
                     environ.get("AIP_PREDICT_ROUTE") or cls.predict)
        for name, route in (("AIP_HEALTH_ROUTE", routes.health),
                            ("AIP_PREDICT_ROUTE", routes.predict)):
            if not route.startswith("/"):
                raise UserError(f"{name}={route!r} must be a path starting with /")
        return routes


class _HttpError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def create_app(endpoint: Endpoint, *, poll_interval: float = 0.5, routes: Routes | None = None,
               on_ready: Callable[[Endpoint], None] | None = None,
               on_predict: Callable[[LoadedModel, list[list[Any]], list[Any]], None] | None = None,
               ) -> Starlette:
    """The ASGI app; its lifespan loads the first revision, then polls every `poll_interval` s.
    `on_predict` sees each answered request (it must not block: the request log queues it)."""
    routes = routes or Routes()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await anyio.to_thread.run_sync(endpoint.refresh)
        if on_ready:
            on_ready(endpoint)
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(_poll, endpoint, poll_interval)
            yield
            tasks.cancel_scope.cancel()

    async def health(request: Request) -> JSONResponse:
        status, document = endpoint.health()
        return JSONResponse(document, status_code=status)

    async def predict(request: Request) -> JSONResponse:
        table = endpoint.table  # read once: a swap mid-request does not affect this request
        try:
            if not table.models:
                raise _HttpError(503, f"nothing is deployed to {endpoint.environment}")
            body = await _read_body(request)
            pinned = request.headers.get(PIN_HEADER)
            large = len(body) > INLINE_BYTES  # parsed off the loop: other requests go on
            model, rows, probabilities = (
                await run_in_threadpool(_prepare, table, endpoint.rng, body, pinned) if large
                else _prepare(table, endpoint.rng, body, pinned))
            predictions = await _predict(model, rows, probabilities)
            if on_predict is not None:
                on_predict(model, rows, predictions)
        except _HttpError as error:
            return JSONResponse({"error": str(error)}, status_code=error.status)
        document = _answer(model, predictions)
        if large:
            return await run_in_threadpool(JSONResponse, document)
        return JSONResponse(document)

    return Starlette(routes=[Route(routes.health, health, methods=["GET"]),
                             Route(routes.predict, predict, methods=["POST"])],
                     lifespan=lifespan)


async def _poll(endpoint: Endpoint, interval: float) -> None:
    while True:
        await anyio.sleep(interval)
        await anyio.to_thread.run_sync(endpoint.refresh)


async def _read_body(request: Request) -> bytes:
    too_large = _HttpError(413, f"the request body is over {MAX_BODY_BYTES // 1024 // 1024} MiB "
                                f"({MAX_BODY_BYTES} bytes): send fewer instances per request")
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > MAX_BODY_BYTES:
        raise too_large  # refused before reading a byte of it
    chunks, size = [], 0
    async for chunk in request.stream():  # counted too: a chunked body has no length up front
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


def _prepare(table: RoutingTable, rng: random.Random, body: bytes,
             pinned: str | None) -> tuple[LoadedModel, list[list[Any]], bool]:
    """The model a request goes to and its validated rows; _HttpError 400 when it is bad."""
    instances, probabilities = _parse_request(body)
    try:
        model = table.choose(rng, pinned)
        return model, model.rows(instances, probabilities), probabilities
    except RequestError as error:
        raise _HttpError(400, str(error)) from None


async def _predict(model: LoadedModel, rows: list[list[Any]], probabilities: bool) -> list[Any]:
    """On the predict thread, batched with the requests to the same model that are waiting
    (`mlops_bot.serving.batching`); the event loop goes on reading and answering meanwhile."""
    try:
        return await model.predict_rows(rows, probabilities)
    except PredictionError as error:
        logger.error("model %s failed: %s", model.id, error, exc_info=error.__cause__)
        raise _HttpError(500, f"model {model.id} failed: {error}") from None


def _answer(model: LoadedModel, predictions: list[Any]) -> dict[str, Any]:
    answer: dict[str, Any] = {"predictions": predictions, "deployedModelId": model.id}
    if model.deployed.model:
        answer["model"] = model.deployed.model
    if model.deployed.model_version is not None:
        answer["modelVersionId"] = str(model.deployed.model_version)
    return answer


def _parse_request(body: bytes) -> tuple[list[Any], bool]:
    try:
        document = json.loads(body, parse_constant=_reject_constant)
    except ValueError as error:  # JSONDecodeError, bad UTF-8, NaN/Infinity
        raise _HttpError(400, f"the body is not valid JSON: {error}") from None
    if not isinstance(document, dict):
        raise _HttpError(400, 'the body must be a JSON object: {"instances": [...]}')
    if "instances" not in document:
        raise _HttpError(400, 'the body has no "instances": send {"instances": [...]}')
    instances = document["instances"]
    if not isinstance(instances, list) or not instances:
        raise _HttpError(400, '"instances" must be a non-empty list of instances, not '
                              f"{json.dumps(instances)[:80]}")
    parameters = document.get("parameters", {})
    if parameters is None:
        parameters = {}
    if not isinstance(parameters, dict):
        raise _HttpError(400, '"parameters" must be an object such as {"probabilities": true}')
    probabilities = parameters.get("probabilities", False)
    if not isinstance(probabilities, bool):
        raise _HttpError(400, '"parameters.probabilities" must be true or false')
    return instances, probabilities


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def resolve_port(port: int | None, environ: Mapping[str, str] | None = None) -> int:
    """`--port`, else AIP_HTTP_PORT (Vertex sets it), else 8080."""
    if port is not None:
        return port
    raw = (os.environ if environ is None else environ).get("AIP_HTTP_PORT", "")
    if not raw:
        return DEFAULT_PORT
    if not raw.isdigit() or int(raw) > 65535:
        raise UserError(f"AIP_HTTP_PORT={raw!r} is not a port number")
    return int(raw)


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening socket, bound before the server starts so a busy port is a clear error and
    port 0 gives a real port to print."""
    # IPPROTO_TCP spelled out: asyncio sets TCP_NODELAY only on sockets whose proto says TCP,
    # and without it Nagle's algorithm meets delayed ACKs: every response waited ~40 ms.
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM,
                         socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        raise UserError(f"cannot listen on {host}:{port}: {error.strerror or error}; choose "
                        "another port with --port N (0 picks a free one)") from None
    sock.listen(2048)  # connections queue from now on, even while models are still loading
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


KEEP_ALIVE_SECONDS = 620


def run_server(app: Starlette, sock: socket.socket) -> None:
    """Serve until Ctrl-C or SIGTERM: one process, no reload, info logs, no access log."""
    import uvicorn

    # Idle keep-alive connections stay open longer than a load balancer's (Google's keeps them
    # 600 s): with uvicorn's 5 s default the server closes a connection the balancer is about to
    # reuse, and that request fails with a reset instead of a prediction.
    config = uvicorn.Config(app, log_level="info", access_log=False, log_config=_log_config(),
                            lifespan="on", workers=1, reload=False,
                            timeout_keep_alive=KEEP_ALIVE_SECONDS)
    uvicorn.Server(config).run(sockets=[sock])


def _log_config() -> dict[str, Any]:
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    # uvicorn configures only its own loggers; revision swaps and failures are ours.
    config["loggers"]["mlops_bot.serving"] = {"handlers": ["default"], "level": "INFO",
                                              "propagate": False}
    return config
