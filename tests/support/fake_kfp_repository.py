"""A fake Artifact Registry KFP repository upload endpoint, for the real `kfp.registry.RegistryClient`.

`RegistryClient(host=repo.host, auth=ApiAuth(repo.token)).upload_pipeline(file_name, tags=[...])`
posts multipart/form-data to the host itself (kfp's `context/kfp_pkg_dev.json`: `upload_url` is
`{host}`) with a `content` file and a comma-separated `tags` field, and reads back
`<package>/sha256:<digest>`. The package is named after the spec's `pipelineInfo.name`.

Assumption, not checked against the real service: uploading a tag that already exists answers
409 (the worst case for a retry). `fail(status)` injects an error on the next upload(s).
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler
from typing import Any

import yaml

from tests.support.loopback import LoopbackServer

__all__ = ["FakeKfpRepository", "Upload"]


@dataclass
class Upload:
    package: str
    digest: str
    tags: list[str]
    content: bytes
    authorization: str | None


class FakeKfpRepository(LoopbackServer):
    def __init__(self, project: str = "test-project", repository: str = "pipelines",
                 token: str = "test-token") -> None:
        self.path, self.token = f"/{project}/{repository}", token
        self.uploads: list[Upload] = []
        self.tags: dict[tuple[str, str], str] = {}  # (package, tag) -> digest
        self._faults: list[int] = []
        self._lock = threading.Lock()
        super().__init__(_handler_for(self))

    @property
    def host(self) -> str:
        return f"{self.base_url}{self.path}"

    def fail(self, status: int, times: int = 1) -> None:
        with self._lock:
            self._faults.extend([status] * times)

    def _upload(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, str]:
        with self._lock:
            if self._faults:
                return self._faults.pop(0), "injected fault"
        if path != self.path:
            return 404, f"repository {path} not found"
        if headers.get("authorization") != f"Bearer {self.token}":
            return 403, "the caller does not have permission artifactregistry.repositories.uploadArtifacts"
        form = BytesParser().parsebytes(
            f"Content-Type: {headers['content-type']}\r\n\r\n".encode() + body)
        fields: dict[str, bytes] = {}
        for part in form.walk():
            name = part.get_param("name", header="content-disposition")
            if isinstance(name, str):
                fields[name] = part.get_payload(decode=True) or b""
        content = fields["content"]
        package = str(yaml.safe_load(content)["pipelineInfo"]["name"])
        digest = "sha256:" + hashlib.sha256(content).hexdigest()
        tags = [t for t in fields.get("tags", b"").decode().split(",") if t]
        with self._lock:
            if any((package, tag) in self.tags for tag in tags):
                return 409, "tag already exists"
            self.tags.update({(package, tag): digest for tag in tags})
            self.uploads.append(Upload(package, digest, tags, content,
                                       headers.get("authorization")))
        return 200, f"{package}/{digest}"


def _handler_for(fake: FakeKfpRepository) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, text = fake._upload(self.path, headers, self.rfile.read(length))
            body = text.encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler
