"""A fake Artifact Registry repositories API (get, create and its operation), for bootstrap.

Routes, as artifactregistry_v1's REST transport transcodes them (transports/rest_base.py):
    GET  /v1/projects/{p}/locations/{r}/repositories/{id}
    POST /v1/projects/{p}/locations/{r}/repositories?repositoryId=   -> Operation
    GET  /v1/projects/{p}/locations/{r}/operations/{id}              the client polls it
A create answers a running operation; its first poll finishes it with the Repository as the
`response` (an Any, so with its @type), like the service. An id already used answers 409.
"""

from __future__ import annotations

import copy
import re
import uuid
from typing import Any

from tests.support.fake_gcp_http import JsonApiServer, Reply

__all__ = ["FakeRepositories"]

_TYPES = "type.googleapis.com/google.devtools.artifactregistry.v1."
_LOCATION = r"/v1/(?P<parent>projects/[^/]+/locations/[^/]+)"


_ROUTES = [
    ("GET", re.compile(_LOCATION + r"/repositories/(?P<id>[^/]+)"), "get_repository"),
    ("POST", re.compile(_LOCATION + r"/repositories"), "create_repository"),
    ("GET", re.compile(_LOCATION + r"/operations/(?P<id>[^/]+)"), "get_operation"),
]


class FakeRepositories(JsonApiServer):
    routes = _ROUTES
    discovery = ("artifactregistry.v1",)

    def __init__(self, existing: list[str] | None = None) -> None:
        super().__init__()
        self.repositories: dict[str, dict[str, Any]] = {}  # name -> resource
        self.created: list[dict[str, Any]] = []  # bodies of the creates, as sent
        self._operations: dict[str, str] = {}  # operation name -> repository name
        for name in existing or []:
            self.repositories[name] = {"name": name, "format": "DOCKER"}

    def get_repository(self, m: dict[str, str], query: dict[str, str], body: Any) -> Any:
        name = f"{m['parent']}/repositories/{m['id']}"
        with self._lock:
            if name not in self.repositories:
                raise Reply(404, f"Requested entity was not found: {name}")
            return copy.deepcopy(self.repositories[name])

    def create_repository(self, m: dict[str, str], query: dict[str, str], body: Any) -> Any:
        name = f"{m['parent']}/repositories/{query.get('repositoryId', '')}"
        operation = f"{m['parent']}/operations/{uuid.uuid4()}"
        with self._lock:
            if name in self.repositories:
                raise Reply(409, f"the repository already exists: {name}")
            self.repositories[name] = {**copy.deepcopy(body), "name": name}
            self.created.append(copy.deepcopy(body))
            self._operations[operation] = name
        return {"name": operation, "done": False,
                "metadata": {"@type": _TYPES + "OperationMetadata"}}

    def get_operation(self, m: dict[str, str], query: dict[str, str], body: Any) -> Any:
        operation = f"{m['parent']}/operations/{m['id']}"
        with self._lock:
            if operation not in self._operations:
                raise Reply(404, f"operation {operation} not found")
            repository = self.repositories[self._operations[operation]]
        return {"name": operation, "done": True,
                "metadata": {"@type": _TYPES + "OperationMetadata"},
                "response": {"@type": _TYPES + "Repository", **repository}}
