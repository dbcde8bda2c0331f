"""Holds our fake Google servers to Google's published API: the discovery documents.

`google-api-python-client` ships the discovery documents of every Google API offline
(googleapiclient/discovery_cache/documents/<api>.<version>.json). A fake that sets
`discovery = ("cloudbuild.v1", ...)` checks each request against them:

- the route (HTTP method + path) must be a method of the document: its `path` template, with
  `{+name}` parameters (several segments) held to the parameter's `pattern`, under
  `/<servicePath>`; media uploads at the method's `mediaUpload` paths, media downloads at
  `/download/<servicePath>` for methods with `useMediaDownloadService` (how google-cloud-storage
  sends them);
- query parameters must be the method's or the document's standard ones;
- the JSON body must fit the method's `request` schema, recursively: an unknown field at any depth
  is named by its JSON path. Proto JSON accepts both the lowerCamelCase names the documents list
  and the proto (snake_case) names; `additionalProperties` schemas are maps; fields typed `any`
  (an `Any`'s body with its `@type`, a `Struct`) take any value;
- replies must fit the method's `response` schema the same way (the GAPIC clients parse replies
  with `ignore_unknown_fields=True`, so an invented field would otherwise pass unnoticed).

Exceptions, each because the real clients send it and the service serves it:
- `$alt` (`json;enum-encoding=int`) is a system parameter every GAPIC REST client sends; the
  documents do not list it.
- aiplatform: the GAPIC REST transports bind the long-running-operation, location and IAM mixins
  first to `/ui/{name=projects/*/...}` (aiplatform_v1/services/*/transports/rest_base.py; the
  client sends the first binding that matches), a second binding of the same methods that the
  discovery document lists only under `v1/`. A `/ui/...` path is therefore checked as the `v1/`
  path, and only for those mixin methods.

What is not checked: scalar types and formats (int64 travels as strings or numbers; enums as names
or, with `enum-encoding=int`, numbers: a string enum value must still be one the schema lists),
required fields, and output-only fields in requests.
"""

from __future__ import annotations

import dataclasses
import json
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, NoReturn

__all__ = ["Api", "Conformance", "Method", "Violation", "api", "document"]

# Sent by every GAPIC REST client (`$alt=json;enum-encoding=int`), listed in no document.
_SYSTEM_QUERY = frozenset({"$alt"})
# aiplatform mixin methods the GAPIC clients also reach under /ui/ (see the module docstring).
_UI_MIXINS = re.compile(r"\.operations\.(get|list|cancel|delete|wait)$|\.locations\.(get|list)$"
                        r"|\.(getIamPolicy|setIamPolicy|testIamPermissions)$")


def _documents() -> Path:
    try:
        import googleapiclient  # type: ignore[import-untyped]
    except ImportError as error:
        raise ImportError("the fakes check requests against the discovery documents shipped in "
                          "google-api-python-client: pip install -e '.[dev]'") from error
    return Path(googleapiclient.__file__).parent / "discovery_cache" / "documents"


@cache
def document(name: str) -> dict[str, Any]:
    """The discovery document `name` ("cloudbuild.v1"), as shipped in google-api-python-client."""
    path = _documents() / f"{name}.json"
    if not path.is_file():
        raise LookupError(f"no discovery document {name} in {path.parent}")
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


@dataclass(frozen=True)
class Method:
    api: str  # "cloudbuild.v1"
    id: str  # "cloudbuild.projects.locations.builds.create"
    http_method: str
    path: str  # the template the match came from, with its prefix
    request: str | None  # schema name
    response: str | None
    query: frozenset[str]  # query parameters the method takes
    via: str = "api"  # or "upload" / "download": the media paths of the method


@dataclass(frozen=True)
class _Route:
    method: Method
    regex: re.Pattern[str]


class Violation(Exception):
    """A request the real API would not accept as the fake was asked it: (status, message)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


class Api:
    def __init__(self, name: str) -> None:
        self.name = name
        self.doc = document(name)
        self.schemas: dict[str, Any] = self.doc["schemas"]
        self._standard = frozenset(self.doc.get("parameters", {})) | _SYSTEM_QUERY
        self.routes = [route for m in _methods(self.doc["resources"]) for route in self._routes(m)]

    def match(self, http_method: str, raw_path: str) -> Method | None:
        """The method a request names; `raw_path` still percent-encoded (GCS quotes '/')."""
        ui = self.name.startswith("aiplatform.") and raw_path.startswith("/ui/")
        path = "/v1/" + raw_path.removeprefix("/ui/") if ui else raw_path
        found = [route.method for route in self.routes
                 if route.method.http_method == http_method and route.regex.fullmatch(path)
                 and (not ui or _UI_MIXINS.search(route.method.id))]
        # Google's path templates split a `:verb` off the last segment before matching, so
        # `models/ID:listVersions` is models.listVersions even though `v1/{+name}` (models.get)
        # matches it too; a `:` that is no verb (`sha256:...` digests) keeps the first match.
        verb = _verb(path)
        return next((m for m in found if _verb(m.path) == verb), found[0] if found else None)

    def check(self, schema: str | None, value: Any, where: str = "$") -> list[str]:
        """What in `value` the schema `schema` (a name in the document) does not define."""
        if schema is None:
            return [] if value in (None, {}, b"") else [f"{where}: the method takes no body"]
        return self._check({"$ref": schema}, value, where, schema)

    def _check(self, schema: dict[str, Any], value: Any, where: str, label: str) -> list[str]:
        """`label` names the schema in messages: its own name, or its owner's and the field."""
        if "$ref" in schema:
            schema, label = self.schemas[schema["$ref"]], schema["$ref"]
        kind = schema.get("type")
        if kind == "object":
            return self._check_object(schema, value, where, label)
        if kind == "array":
            if not isinstance(value, list):
                return [f"{where}: expected an array, got {type(value).__name__}"]
            return [p for i, item in enumerate(value)
                    for p in self._check(schema.get("items", {}), item, f"{where}[{i}]", label)]
        enum = schema.get("enum")
        if enum and isinstance(value, str) and value not in enum:
            return [f"{where}: {value!r} is not one of {', '.join(enum)}"]
        return []

    def _check_object(self, schema: dict[str, Any], value: Any, where: str,
                      label: str) -> list[str]:
        if not isinstance(value, dict):
            return [f"{where}: expected an object, got {type(value).__name__}"]
        properties: dict[str, Any] = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        problems: list[str] = []
        for key, item in value.items():
            path = f"{where}.{key}"
            name = key if key in properties else _camel(key)
            if name in properties:
                problems += self._check(properties[name], item, path, f"{label}.{name}")
            elif extra is not None:
                problems += self._check(extra, item, path, f"{label} value")
            else:
                problems.append(f"{path}: no such field in {label} ({self.name})")
        return problems

    def _routes(self, method: dict[str, Any]) -> list[_Route]:
        params: dict[str, Any] = method.get("parameters", {})
        found = Method(
            self.name, method["id"], method["httpMethod"], "", _ref(method.get("request")),
            _ref(method.get("response")),
            frozenset(k for k, v in params.items() if v.get("location") == "query"),
        )
        service = "/" + self.doc.get("servicePath", "")
        templates = [(service + method["path"], "api")]
        for protocol in method.get("mediaUpload", {}).get("protocols", {}).values():
            templates.append((protocol["path"], "upload"))
        if method.get("useMediaDownloadService"):
            templates.append(("/download" + service + method["path"], "download"))
        return [_Route(dataclasses.replace(found, path=template, via=via),
                       _compile(template, params)) for template, via in templates]

    def query_problems(self, method: Method, query: Mapping[str, str]) -> list[str]:
        problems = [f"query parameter {key!r} is not defined" for key in query
                    if key not in method.query and key not in self._standard]
        if method.via == "upload" and "uploadType" not in query:
            problems.append("an upload path needs uploadType")
        if method.via == "download" and query.get("alt") != "media":
            problems.append("the download path serves alt=media only")
        return problems


class Conformance:
    """Checks a fake's traffic against discovery documents and remembers every violation.

    A violation is answered (404 for a route, 400 for a request) and also recorded, because the
    client may retry or swallow the error: `assert_clean()`, called when the fake stops, fails
    the test that caused it.
    """

    def __init__(self, names: Iterable[str]) -> None:
        self.apis = [api(name) for name in names]
        self.violations: list[str] = []
        self._lock = threading.Lock()

    def route(self, http_method: str, raw_path: str, query: Mapping[str, str]) -> Method:
        """The method a request calls; raises (and records) a Violation when there is none."""
        for known in self.apis:
            method = known.match(http_method, raw_path)
            if method is None:
                continue
            problems = known.query_problems(method, query)
            if problems:
                self._raise(400, f"{http_method} {raw_path} ({method.id} in {known.name}): "
                                 + "; ".join(problems))
            return method
        names = ", ".join(a.name for a in self.apis)
        self._raise(404, f"{http_method} {raw_path} is no method of {names}: the real API has "
                         "no such route")

    def request(self, method: Method, body: Any) -> None:
        problems = self._api(method).check(method.request, body)
        if problems:
            self._raise(400, f"request body of {method.id}: " + "; ".join(problems))

    def response(self, method: Method, body: Any) -> None:
        """Records (without changing the reply) fields the real API would never send back."""
        if method.response is None:
            return
        problems = self._api(method).check(method.response, body)
        if problems:
            self._record(f"the fake's reply to {method.id}: " + "; ".join(problems))

    def assert_clean(self) -> None:
        with self._lock:
            found, self.violations[:] = list(self.violations), []
        if found:
            raise AssertionError("the fake was used outside Google's published API "
                                 "(discovery documents):\n  " + "\n  ".join(found))

    def _api(self, method: Method) -> Api:
        return next(a for a in self.apis if a.name == method.api)

    def _record(self, message: str) -> None:
        with self._lock:
            self.violations.append(message)

    def _raise(self, status: int, message: str) -> NoReturn:
        self._record(message)
        raise Violation(status, message)


@cache
def api(name: str) -> Api:
    """The parsed API `name` ("storage.v1"), its routes compiled once per test session."""
    return Api(name)


def _methods(resources: dict[str, Any]) -> Iterable[dict[str, Any]]:
    for resource in resources.values():
        yield from resource.get("methods", {}).values()
        yield from _methods(resource.get("resources", {}))


def _verb(path: str) -> str:
    return path.rsplit("/", 1)[-1].partition(":")[2]


def _compile(template: str, params: dict[str, Any]) -> re.Pattern[str]:
    """`v1/{+parent}/builds` -> a regex; a parameter's own `pattern` bounds what it matches."""
    parts, pos = [], 0
    for found in re.finditer(r"\{(\+?)([^}]+)\}", template):
        parts.append(re.escape(template[pos:found.start()]))
        pattern = params.get(found.group(2), {}).get("pattern")
        if pattern:
            parts.append("(?:" + pattern.removeprefix("^").removesuffix("$") + ")")
        else:
            parts.append(".+" if found.group(1) else "[^/]+")
        pos = found.end()
    parts.append(re.escape(template[pos:]))
    return re.compile("".join(parts))


def _ref(schema: dict[str, Any] | None) -> str | None:
    return schema.get("$ref") if schema else None


def _camel(key: str) -> str:
    head, *rest = key.split("_")
    return head + "".join(word[:1].upper() + word[1:] for word in rest)
