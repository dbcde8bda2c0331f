"""The HTTP server every fake runs: 127.0.0.1 on a free port, a thread per request."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self

__all__ = ["LoopbackHTTPServer", "LoopbackServer"]


class LoopbackHTTPServer(ThreadingHTTPServer):
    """A thread per request, as the real services answer many clients at once: http.server's
    listen backlog of 5 would drop a burst of connections (20 concurrent builds uploading), and
    the clients' TCP would try again a second later, a stall no real service has."""

    request_queue_size = 128


class LoopbackServer:
    """Serves `handler` while in a `with` block; `base_url` is `http://127.0.0.1:<port>`."""

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self._server = LoopbackHTTPServer(("127.0.0.1", 0), handler)

    def __enter__(self) -> Self:
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"
