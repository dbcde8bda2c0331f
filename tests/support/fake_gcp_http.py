"""The HTTP side of `tests.support.fake_gcp`: routing, per-route faults and a request log.

A subclass lists `routes` as (method, path regex, name) and implements a method per name taking
(path groups, query, JSON body) and returning the JSON reply, or raising `Reply` for an error
(answered in the Google API error shape, which google.api_core maps by HTTP status).

A subclass that sets `discovery = ("cloudbuild.v1", ...)` is held to Google's discovery documents
(`tests.support.discovery`): a route the API does not have answers 404, a query parameter or a
body field it does not define answers 400, a reply field it does not define is noted, and each of
these fails the test when the fake stops (`__exit__`), whatever the client made of the error.

`fake.enforce(iam)` (a `tests.support.fake_iam.Iam`) makes the fake check the caller of each
request against its roles, answering 401/403 as the service does; without it anyone may call.
"""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any, ClassVar, Self
from urllib.parse import parse_qsl, unquote, urlsplit

from tests.support.discovery import Conformance, Method, Violation
from tests.support.loopback import LoopbackServer

if TYPE_CHECKING:
    from tests.support.fake_iam import Iam

__all__ = ["JsonApiServer", "Reply"]

_STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
           409: "ALREADY_EXISTS", 500: "INTERNAL", 503: "UNAVAILABLE"}


class Reply(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


@dataclass
class _Fault:
    route: str
    status: int | None  # None: stall
    seconds: float
    times: int | None


class JsonApiServer(LoopbackServer):
    routes: ClassVar[list[tuple[str, re.Pattern[str], str]]] = []
    discovery: ClassVar[tuple[str, ...]] = ()  # e.g. ("aiplatform.v1",): the APIs served

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, str]] = []  # (route, method, path with query)
        self.conformance = Conformance(self.discovery) if self.discovery else None
        self._faults: list[_Fault] = []
        self.iam: Iam | None = None
        # The request's Authorization header, per handler thread: _dispatch keeps its signature.
        self._caller = threading.local()
        self._lock = threading.RLock()
        super().__init__(_handler_for(self))

    def __exit__(self, *exc: object) -> None:
        super().__exit__(*exc)
        if self.conformance is not None:
            self.conformance.assert_clean()

    def enforce(self, iam: Iam) -> Self:
        """Check every request's caller against `iam` from now on."""
        self.iam = iam
        return self

    @property
    def violations(self) -> list[str]:
        """Requests and replies outside the discovery documents, so far (a test may clear it)."""
        return self.conformance.violations if self.conformance is not None else []

    @property
    def endpoint(self) -> str:
        return self.base_url

    def fail(self, route: str, status: int, times: int | None = 1) -> None:
        """Answer `status` to the next `times` requests of `route` (None: all), not applying them."""
        with self._lock:
            self._faults.append(_Fault(route, status, 0.0, times))

    def stall(self, route: str, seconds: float, times: int | None = 1) -> None:
        """Apply the next request(s) of `route`, then answer only after `seconds`."""
        with self._lock:
            self._faults.append(_Fault(route, None, seconds, times))

    def calls(self, route: str) -> int:
        with self._lock:
            return sum(1 for r in self.requests if r[0] == route)

    def _take_fault(self, route: str) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.route == route:
                    if fault.times is not None:
                        fault.times -= 1
                        if fault.times <= 0:
                            self._faults.remove(fault)
                    return fault
        return None

    def _dispatch(self, method: str, raw_path: str, body: Any) -> tuple[int, Any, float]:
        url = urlsplit(raw_path)
        path, query = unquote(url.path), dict(parse_qsl(url.query))
        try:
            api_method = self._conform(method, url.path, query, body)
        except Violation as violation:
            with self._lock:
                self.requests.append(("nonconformant", method, raw_path))
            return violation.status, _error(violation.status, violation.message), 0.0
        route, match = next(((name, found) for verb, pattern, name in self.routes
                             if verb == method and (found := pattern.fullmatch(path))),
                            ("unknown", None))
        with self._lock:
            self.requests.append((route, method, raw_path))
        fault = self._take_fault(route)
        stall = fault.seconds if fault is not None and fault.status is None else 0.0
        try:
            if match is None:
                raise Reply(404, f"the fake does not implement {method} {path}")
            if self.iam is not None:
                denied = self.iam.check_route(getattr(self._caller, "authorization", None),
                                              route, path, self.discovery, body)
                if denied is not None:
                    raise Reply(denied.status, denied.message)
            if fault is not None and fault.status is not None:
                raise Reply(fault.status, f"injected fault ({fault.status}) on {route}")
            groups = {k: v for k, v in match.groupdict().items() if v is not None}
            reply = getattr(self, route)(groups, query, body)
            if self.conformance is not None and api_method is not None:
                self.conformance.response(api_method, reply)
            return 200, reply, stall
        except Reply as error:
            return error.status, _error(error.status, error.message), stall

    def _conform(self, method: str, raw_path: str, query: dict[str, str],
                 body: Any) -> Method | None:
        if self.conformance is None:
            return None
        api_method = self.conformance.route(method, raw_path, query)
        self.conformance.request(api_method, body)
        return api_method


def _error(status: int, message: str) -> dict[str, Any]:
    return {"error": {"code": status, "message": message,
                      "status": _STATUS.get(status, "UNKNOWN")}}


def _handler_for(fake: JsonApiServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"  # one request per connection: a stall poisons nothing

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

        def do_PATCH(self) -> None:
            self._serve("PATCH")

        def do_DELETE(self) -> None:
            self._serve("DELETE")

        def _serve(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}") if length else {}
            fake._caller.authorization = self.headers.get("Authorization")
            status, reply, stall = fake._dispatch(method, self.path, body)
            time.sleep(stall)  # applied; the client has given up by now
            data = json.dumps(reply).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except OSError:
                pass  # the client hung up (it timed out)

    return Handler
