"""A fake Cloud Storage JSON API for the real google-cloud-storage client, with fault injection.

    with FakeGcs() as gcs:
        client = storage.Client(project="p", credentials=AnonymousCredentials(),
                                client_options={"api_endpoint": gcs.endpoint})
        ...
        assert gcs.objects[("bucket", "path/to/object")] == b"..."

Routes, as google-cloud-storage 3.x builds them from a custom `api_endpoint` (blob.py's
`_MULTIPART_URL_TEMPLATE`, `_DOWNLOAD_URL_TEMPLATE`; names are quoted with `safe=""`):
    POST   /upload/storage/v1/b/{b}/o?uploadType=multipart|media   (create or replace)
    GET    /storage/v1/b/{b}/o/{name}                 object metadata (`get_blob`, `exists`)
    GET    /download/storage/v1/b/{b}/o/{name}?alt=media   (and /storage/v1/...?alt=media)
    GET    /storage/v1/b/{b}/o?prefix=&delimiter=&pageToken=&maxResults=
    DELETE /storage/v1/b/{b}/o/{name}
    GET    /storage/v1/b/{b}           POST /storage/v1/b?project=    (buckets)
`ifGenerationMatch` / `ifGenerationNotMatch` / `generation` are honoured on writes, reads and
deletes; a failed precondition answers 412 like GCS. Resumable uploads (objects over 8 MiB) are
not implemented: they answer 501 so a test using them fails loudly.

Buckets: `FakeGcs()` accepts any bucket name (handy for uploads); `FakeGcs(buckets=["b"])` knows
only those, and answers 404 "The specified bucket does not exist." for others, like GCS.

Held to Google's storage.v1 discovery document (`tests.support.discovery`): a route the JSON API
does not have answers 404, an undefined query parameter or resource field (an upload's metadata,
a bucket) answers 400, an undefined field in a reply is noted, and each fails the test when the
fake stops; `gcs.violations` lists them.

Faults, matched on the method and the object name (a glob) or the bucket:
    gcs.fail(503, method="POST", name="*/pipeline.yaml")   # answer 503 once, don't apply
    gcs.drop_response(method="POST", name="*/manifest.json")  # apply, then hang up (lost reply)
    gcs.deny("bucket")                                      # 403 for everything on the bucket

Identities (opt-in): `gcs.enforce(iam)` (a `tests.support.fake_iam.Iam`) checks each caller's
permission on the object or bucket, IAM conditions on object names included; replacing an
existing object needs storage.objects.delete besides create, as in GCS (a create-only writer
gets 403 where it would overwrite, and 412 where its precondition fails first).
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import itertools
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, quote, unquote, urlsplit

import google_crc32c

from tests.support.discovery import Conformance, Method, Violation
from tests.support.loopback import LoopbackHTTPServer

if TYPE_CHECKING:
    from tests.support.fake_iam import Iam

__all__ = ["FakeGcs", "Recorded", "StoredObject"]

NOW = "2026-01-01T00:00:00.000Z"
IDENTITY = "ci@test-project.iam.gserviceaccount.com"


@dataclass
class StoredObject:
    data: bytes
    generation: int
    content_type: str = "application/octet-stream"
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass
class Recorded:
    method: str
    path: str  # decoded, without the query
    query: dict[str, str]
    bucket: str | None
    name: str | None  # the object name, also for uploads (read from the request body)
    status: int | None  # None when the response was dropped


@dataclass
class _Fault:
    status: int | None  # None: apply the request, then close the connection without answering
    method: str | None
    bucket: str | None
    name: str | None  # glob on the object name
    times: int | None  # None: every matching request

    def matches(self, method: str, bucket: str | None, name: str | None) -> bool:
        return ((self.method is None or self.method == method)
                and (self.bucket is None or self.bucket == bucket)
                and (self.name is None or (name is not None
                                           and fnmatch.fnmatchcase(name, self.name))))


class _Reply(Exception):
    """Raised inside a route to answer with an error (the JSON API error body)."""

    def __init__(self, status: int, message: str, reason: str = "") -> None:
        super().__init__(status, message)
        self.status, self.message, self.reason = status, message, reason


@dataclass
class _Request:
    method: str
    segments: list[str]  # decoded path segments
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    bucket: str | None = None
    name: str | None = None
    upload: tuple[dict[str, Any], bytes, str] | None = None  # metadata, data, content type


class FakeGcs:
    def __init__(self, buckets: list[str] | None = None, page_size: int = 1000) -> None:
        self.page_size = page_size  # GCS pages at 1000; lower it to exercise paging
        self.requests: list[Recorded] = []
        self._strict = buckets is not None
        self._buckets: set[str] = set(buckets or ())
        self.bucket_settings: dict[str, dict[str, Any]] = {}  # bucket -> the resource created
        self._objects: dict[tuple[str, str], StoredObject] = {}
        self._faults: list[_Fault] = []
        self._denied: set[str] = set()
        self.iam: Iam | None = None
        self._generations = itertools.count(1_700_000_000_000_000)  # GCS uses microseconds
        self._lock = threading.RLock()
        self.conformance = Conformance(["storage.v1"])
        self._server = LoopbackHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                        daemon=True)

    # -- lifecycle -------------------------------------------------------------------------
    def __enter__(self) -> FakeGcs:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self.conformance.assert_clean()

    @property
    def violations(self) -> list[str]:
        """Requests and replies outside the storage.v1 document, so far (a test may clear it)."""
        return self.conformance.violations

    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    # -- state for tests -------------------------------------------------------------------
    @property
    def objects(self) -> dict[tuple[str, str], bytes]:
        """A snapshot: (bucket, name) -> bytes."""
        with self._lock:
            return {key: obj.data for key, obj in self._objects.items()}

    @property
    def buckets(self) -> set[str]:
        with self._lock:
            return set(self._buckets)

    def get(self, bucket: str, name: str) -> StoredObject | None:
        with self._lock:
            return self._objects.get((bucket, name))

    def put(self, bucket: str, name: str, data: bytes,
            content_type: str = "application/octet-stream") -> int:
        """Write an object directly (seeding, or a person editing the bucket); its generation."""
        with self._lock:
            if self._strict:
                self._buckets.add(bucket)
            generation = next(self._generations)
            self._objects[(bucket, name)] = StoredObject(data, generation, content_type)
            return generation

    def delete(self, bucket: str, name: str) -> None:
        with self._lock:
            self._objects.pop((bucket, name), None)

    def fail(self, status: int, *, method: str | None = None, bucket: str | None = None,
             name: str | None = None, times: int | None = 1) -> None:
        with self._lock:
            self._faults.append(_Fault(status, method, bucket, name, times))

    def drop_response(self, *, method: str | None = None, bucket: str | None = None,
                      name: str | None = None, times: int | None = 1) -> None:
        with self._lock:
            self._faults.append(_Fault(None, method, bucket, name, times))

    def enforce(self, iam: Iam) -> FakeGcs:
        """Check every request's caller against `iam` from now on."""
        self.iam = iam
        return self

    def deny(self, bucket: str) -> None:
        with self._lock:
            self._denied.add(bucket)

    def calls(self, method: str, name: str) -> int:
        """How many requests (retries included) reached the fake for an object name (a glob)."""
        with self._lock:
            return sum(1 for r in self.requests if r.method == method and r.name is not None
                       and fnmatch.fnmatchcase(r.name, name))

    # -- request handling ------------------------------------------------------------------
    def _take_fault(self, request: _Request) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.matches(request.method, request.bucket, request.name):
                    if fault.times is not None:
                        fault.times -= 1
                        if fault.times <= 0:
                            self._faults.remove(fault)
                    return fault
        return None

    def _authorize(self, request: _Request, permission: str) -> None:
        if self.iam is None:
            return
        bucket = request.bucket or str(json.loads(request.body or b"{}").get("name", ""))
        denied = self.iam.check_storage(request.headers.get("authorization"), permission,
                                        bucket, request.name)
        if denied is not None:
            raise _Reply(denied.status, denied.message,
                         "required" if denied.status == 401 else "forbidden")

    def _handle(self, request: _Request) -> tuple[int, bytes, dict[str, str]]:
        self._authorize(request, _permission(request))
        if request.bucket in self._denied:
            objects = "o" in request.segments[3:]
            verb = {"POST": "create", "DELETE": "delete"}.get(request.method, "get")
            if objects and request.method == "GET" and request.name is None:
                verb = "list"
            kind = "objects" if objects else "buckets"
            raise _Reply(403, f"{IDENTITY} does not have storage.{kind}.{verb} access to the "
                         "Google Cloud Storage object. Permission denied on resource "
                         "(or it may not exist).", "forbidden")
        s = request.segments
        if s[:3] == ["upload", "storage", "v1"] and len(s) == 6 and s[3] == "b" and s[5] == "o":
            return self._upload(request)
        if s[:3] == ["download", "storage", "v1"] and len(s) >= 7:
            return self._download(request)
        if s[:2] != ["storage", "v1"] or len(s) < 3 or s[2] != "b":
            raise _Reply(404, f"Not Found: {'/'.join(s)}", "notFound")
        if len(s) == 3 and request.method == "POST":
            return self._insert_bucket(request)
        if len(s) == 4 and request.method == "GET":
            return _json(self._bucket_resource(self._bucket(request)))
        if len(s) == 5 and s[4] == "o" and request.method == "GET":
            return self._list(request)
        if len(s) >= 6 and s[4] == "o":
            if request.method == "GET" and request.query.get("alt") == "media":
                return self._download(request)
            if request.method == "GET":
                return _json(self._resource(request.bucket or "", request.name or "",
                                            self._current(request)))
            if request.method == "DELETE":
                self._current(request)
                with self._lock:
                    self._objects.pop((request.bucket or "", request.name or ""), None)
                return 204, b"", {}
        raise _Reply(501, f"the fake does not implement {request.method} {'/'.join(s)}")

    def _conform(self, request: _Request, raw: str) -> Method:
        url = urlsplit(raw)
        try:
            method = self.conformance.route(request.method, url.path, request.query)
            if method.via == "upload":
                body: Any = request.upload[0] if request.upload else {}
            else:
                body = json.loads(request.body) if request.body else {}
            self.conformance.request(method, body)
        except Violation as violation:
            raise _Reply(violation.status, violation.message, "invalid") from None
        return method

    def _bucket(self, request: _Request) -> str:
        bucket = request.bucket or ""
        if self._strict and bucket not in self._buckets:
            raise _Reply(404, "The specified bucket does not exist.", "notFound")
        return bucket

    def _current(self, request: _Request) -> StoredObject:
        """The live object a read/delete names, after its preconditions (else 404 or 412)."""
        bucket = self._bucket(request)
        with self._lock:
            obj = self._objects.get((bucket, request.name or ""))
        q = request.query
        if obj is None or ("generation" in q and int(q["generation"]) != obj.generation):
            raise _Reply(404, f"No such object: {bucket}/{request.name}", "notFound")
        _check_preconditions(q, obj.generation)
        return obj

    def _upload(self, request: _Request) -> tuple[int, bytes, dict[str, str]]:
        if request.upload is None:
            raise _Reply(501, "the fake implements uploadType=multipart and media only "
                         "(resumable uploads are for objects over 8 MiB)")
        metadata, data, content_type = request.upload
        bucket, name = self._bucket(request), request.name
        if not name:
            raise _Reply(400, "Required: object name", "required")
        _check_checksums(metadata, data)
        with self._lock:  # check and write under one lock: that is what makes the CAS atomic
            current = self._objects.get((bucket, name))
            _check_preconditions(request.query, current.generation if current else 0)
            if current is not None:  # replacing an object deletes the old one
                self._authorize(request, "storage.objects.delete")
            obj = StoredObject(data, next(self._generations), content_type,
                               dict(metadata.get("metadata") or {}))
            self._objects[(bucket, name)] = obj
        return _json(self._resource(bucket, name, obj))

    def _download(self, request: _Request) -> tuple[int, bytes, dict[str, str]]:
        obj = self._current(request)
        return 200, obj.data, {
            "Content-Type": obj.content_type, "X-Goog-Generation": str(obj.generation),
            "X-Goog-Metageneration": "1", "X-Goog-Storage-Class": "STANDARD",
            "X-Goog-Hash": f"crc32c={_crc32c(obj.data)},md5={_md5(obj.data)}",
            "ETag": f'"{_md5(obj.data)}"',
        }

    def _list(self, request: _Request) -> tuple[int, bytes, dict[str, str]]:
        bucket, q = self._bucket(request), request.query
        prefix, delimiter = q.get("prefix", ""), q.get("delimiter", "")
        with self._lock:
            found = sorted((n, o) for (b, n), o in self._objects.items()
                           if b == bucket and n.startswith(prefix))
        entries: list[tuple[str, StoredObject | None]] = []  # (name or prefix, object or None)
        for name, obj in found:
            rest = name[len(prefix):]
            if delimiter and delimiter in rest:
                group = prefix + rest.split(delimiter, 1)[0] + delimiter
                if not entries or entries[-1][0] != group:
                    entries.append((group, None))
            else:
                entries.append((name, obj))
        start = int(q.get("pageToken", "0"))
        size = min(int(q.get("maxResults", self.page_size)), self.page_size)
        page = entries[start:start + size]
        body: dict[str, Any] = {
            "kind": "storage#objects",
            "items": [self._resource(bucket, n, o) for n, o in page if o is not None],
            "prefixes": [n for n, o in page if o is None],
        }
        if start + size < len(entries):
            body["nextPageToken"] = str(start + size)  # opaque to the client, like GCS's
        return _json(body)

    def _insert_bucket(self, request: _Request) -> tuple[int, bytes, dict[str, str]]:
        resource = json.loads(request.body or b"{}")
        name = str(resource.get("name", ""))
        if name in self._denied:
            raise _Reply(403, f"{IDENTITY} does not have storage.buckets.create access to "
                         f"the Google Cloud project {request.query.get('project')}.", "forbidden")
        with self._lock:
            if name in self._buckets:
                raise _Reply(409, "Your previous request to create the named bucket succeeded "
                             "and you already own it.", "conflict")
            self._buckets.add(name)
            self.bucket_settings[name] = resource  # what the client asked for, to assert on
        return _json(self._bucket_resource(name))

    def _bucket_resource(self, name: str) -> dict[str, Any]:
        return {"kind": "storage#bucket", "id": name, "name": name, "location": "EU",
                "storageClass": "STANDARD", "metageneration": "1", "projectNumber": "1",
                "timeCreated": NOW, "updated": NOW,
                "selfLink": f"{self.endpoint}/storage/v1/b/{name}"}

    def _resource(self, bucket: str, name: str, obj: StoredObject) -> dict[str, Any]:
        quoted = quote(name, safe="")
        return {
            "kind": "storage#object", "id": f"{bucket}/{name}/{obj.generation}",
            "name": name, "bucket": bucket, "generation": str(obj.generation),
            "metageneration": "1", "contentType": obj.content_type, "size": str(len(obj.data)),
            "md5Hash": _md5(obj.data), "crc32c": _crc32c(obj.data), "etag": _md5(obj.data),
            "storageClass": "STANDARD", "timeCreated": NOW, "updated": NOW,
            "metadata": obj.metadata,
            "selfLink": f"{self.endpoint}/storage/v1/b/{bucket}/o/{quoted}",
            "mediaLink": (f"{self.endpoint}/download/storage/v1/b/{bucket}/o/{quoted}"
                          f"?generation={obj.generation}&alt=media"),
        }


def _check_preconditions(query: dict[str, str], generation: int) -> None:
    """`generation` is the live object's, 0 when there is none (GCS's meaning of 0)."""
    if "ifGenerationMatch" in query and int(query["ifGenerationMatch"]) != generation:
        raise _Reply(412, "At least one of the pre-conditions you specified did not hold.",
                     "conditionNotMet")
    if "ifGenerationNotMatch" in query and int(query["ifGenerationNotMatch"]) == generation:
        raise _Reply(412, "At least one of the pre-conditions you specified did not hold.",
                     "conditionNotMet")


def _check_checksums(metadata: dict[str, Any], data: bytes) -> None:
    # The client sends the crc32c it computed; checking it proves the multipart parsing is exact.
    for key, actual in (("crc32c", _crc32c(data)), ("md5Hash", _md5(data))):
        if key in metadata and metadata[key] != actual:
            raise _Reply(400, f"Provided {key} \"{metadata[key]}\" doesn't match calculated "
                         f"\"{actual}\".", "invalid")


def _crc32c(data: bytes) -> str:
    return base64.b64encode(google_crc32c.Checksum(data).digest()).decode()


def _md5(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()


def _json(body: dict[str, Any], status: int = 200) -> tuple[int, bytes, dict[str, str]]:
    return status, json.dumps(body).encode(), {"Content-Type": "application/json; charset=UTF-8"}


def _parse_upload(request: _Request) -> None:
    """Read the object name and bytes of an upload: multipart keeps them in the body."""
    kind = request.query.get("uploadType")
    content_type = request.headers.get("content-type", "application/octet-stream")
    if kind == "media":
        request.name = request.query.get("name")
        request.upload = ({}, request.body, content_type)
    elif kind == "multipart":
        boundary = content_type.split("boundary=", 1)[1].strip('"').encode()
        # The client writes: --B CRLF headers CRLF CRLF json CRLF --B CRLF headers CRLF CRLF
        # data CRLF --B-- (google/cloud/storage/_media/_upload.py construct_multipart_request).
        parts = request.body.split(b"--" + boundary)
        _, _, meta = parts[1].partition(b"\r\n\r\n")
        media_headers, _, data = parts[2].partition(b"\r\n\r\n")
        metadata = json.loads(meta[:-2])
        media_type = media_headers.decode().split("content-type:", 1)[-1].strip()
        request.name = metadata.get("name") or request.query.get("name")
        request.upload = (metadata, data[:-2], metadata.get("contentType") or media_type)


def _permission(request: _Request) -> str:
    """The permission GCS checks for `request`."""
    s = request.segments
    if s[:1] == ["upload"]:
        return "storage.objects.create"
    if request.name is not None:
        return {"GET": "storage.objects.get", "DELETE": "storage.objects.delete"}.get(
            request.method, "storage.objects.update")
    if s[-1:] == ["o"]:
        return "storage.objects.list"
    return "storage.buckets.create" if request.method == "POST" else "storage.buckets.get"


def _handler_for(fake: FakeGcs) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        # HTTP/1.0: one request per connection, so a dropped response can't poison a pooled one.
        protocol_version = "HTTP/1.0"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

        def do_DELETE(self) -> None:
            self._serve("DELETE")

        def do_PUT(self) -> None:
            self._serve("PUT")

        def do_PATCH(self) -> None:
            self._serve("PATCH")

        def _serve(self, method: str) -> None:
            request = self._read(method)
            fault = None
            status: int | None
            try:
                api_method = fake._conform(request, self.path)
                fault = fake._take_fault(request)
                if fault is not None and fault.status is not None:
                    raise _Reply(fault.status, f"injected fault ({fault.status})", "injected")
                status, body, headers = fake._handle(request)
                if status == 200 and request.query.get("alt") != "media":  # media: the bytes
                    fake.conformance.response(api_method, json.loads(body))
            except _Reply as reply:
                status, body, headers = _json({"error": {
                    "code": reply.status, "message": reply.message,
                    "errors": [{"message": reply.message, "domain": "global",
                                "reason": reply.reason or "error"}]}})
                status = reply.status
            if fault is not None and fault.status is None:
                status = None  # applied, but the client never hears back
            with fake._lock:
                fake.requests.append(Recorded(method, "/" + "/".join(request.segments),
                                              request.query, request.bucket, request.name,
                                              status))
            if status is None:
                self.close_connection = True
                return
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _read(self, method: str) -> _Request:
            url = urlsplit(self.path)
            raw = [seg for seg in url.path.split("/") if seg]
            length = int(self.headers.get("Content-Length") or 0)
            request = _Request(method, [unquote(seg) for seg in raw],
                               dict(parse_qsl(url.query, keep_blank_values=True)),
                               {k.lower(): v for k, v in self.headers.items()},
                               self.rfile.read(length) if length else b"")
            s = request.segments
            api = s[1:3] == ["storage", "v1"] if s[:1] in (["upload"], ["download"]) else False
            base = s[3:] if api else s[2:] if s[:2] == ["storage", "v1"] else []
            if len(base) >= 2 and base[0] == "b":
                request.bucket = base[1]
                if len(base) >= 4 and base[2] == "o":
                    # Names are quoted with safe="": rejoin in case a client left '/' as is.
                    request.name = unquote("/".join(raw[len(raw) - len(base) + 3:]))
            if s[:1] == ["upload"]:
                _parse_upload(request)
            return request

    return Handler
