"""A fake Cloud Build + Artifact Registry REST API, for the real GAPIC clients (transport="rest").

    with FakeGcp() as gcp:
        config = GcpConfig(..., api_endpoints=ApiEndpoints(cloudbuild=gcp.endpoint,
                                                            artifactregistry=gcp.endpoint))
        gcp.set_outcome("FAILURE", after_polls=2)
        ...
        assert len(gcp.builds) == 1

Routes, as cloudbuild_v1 / artifactregistry_v1 transcode them (transports/rest_base.py):
    POST /v1/projects/{p}/locations/{r}/builds          create -> Operation (and global /v1/projects/{p}/builds)
    GET  /v1/projects/{p}/locations/{r}/builds/{id}     get build
    GET  /v1/projects/{p}/locations/{r}/builds?filter=tags="x"   list, newest first
    GET  /v1/projects/{p}/locations/{r}/operations/{id} and /v1/operations/build/{p}/{id}
    GET  /v1/projects/*/locations/*/repositories/*/packages/{image}/tags/{tag}
    POST /v1/projects/*/locations/*/repositories/*/packages/{image}/tags?tagId=
Operations carry `metadata` (BuildOperationMetadata, with the build) and, when done, `response`
(an Any, so with its @type) or `error`, like the service.
Every request and reply is held to the cloudbuild.v1 and artifactregistry.v1 discovery documents
(`discovery` below, see tests.support.discovery): a drift fails the test when the fake stops.

A build is QUEUED when created, WORKING from the first poll (a get of the build or its operation)
and finishes at poll `after_polls` as set by `set_outcome`: SUCCESS pushes its images (results
carry the digest; the tags appear in the registry, as a docker push makes them), FAILURE marks one
step failed, TIMEOUT is Cloud Build's own deadline, WORKING never finishes.

Faults per route name (create_build, get_build, list_builds, get_operation, get_tag, create_tag):
    gcp.fail("create_build", 503)      # answer 503 once, without applying the request
    gcp.stall("create_build", 3.0)     # apply it, then answer only after 3 s (the client gave up)
    gcp.fail("create_build", 403, times=None)   # every time
"""

from __future__ import annotations

import base64
import copy
import hashlib
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tests.support.fake_gcp_http import JsonApiServer, Reply

__all__ = ["FakeGcp", "Outcome"]

_TYPES = "type.googleapis.com/google.devtools.cloudbuild.v1."
_PARENT = r"/v1/projects/(?P<project>[^/]+)(?:/locations/(?P<region>[^/]+))?/builds"
_PACKAGE = r"/v1/(?P<package>projects/[^/]+/locations/[^/]+/repositories/[^/]+/packages/[^/]+)"
_ROUTES = [
    ("POST", re.compile(_PARENT), "create_build"),
    ("GET", re.compile(_PARENT), "list_builds"),
    ("GET", re.compile(_PARENT + r"/(?P<id>[^/]+)"), "get_build"),
    ("GET", re.compile(r"/v1/(?P<op>operations/build/.+|projects/[^/]+/locations/[^/]+/operations/"
                       r"[^/]+)"), "get_operation"),
    ("GET", re.compile(_PACKAGE + r"/tags/(?P<tag>[^/]+)"), "get_tag"),
    ("POST", re.compile(_PACKAGE + r"/tags"), "create_tag"),
]


@dataclass
class Outcome:
    status: str = "SUCCESS"  # SUCCESS, FAILURE, TIMEOUT, or WORKING (never finishes)
    after_polls: int = 2
    failing_step: int = 0


@dataclass
class _Build:
    resource: dict[str, Any]
    outcome: Outcome
    operation: str = ""
    polls: int = 0
    done: bool = False
    request: dict[str, Any] = field(default_factory=dict)


class FakeGcp(JsonApiServer):
    routes = _ROUTES
    discovery = ("cloudbuild.v1", "artifactregistry.v1")

    def __init__(self) -> None:
        super().__init__()
        self.outcome = Outcome()
        self.outcomes: dict[str, Outcome] = {}  # image name -> its outcome, over `outcome`
        self.builds: dict[str, _Build] = {}  # id -> build, in creation order
        self.tags: dict[str, str] = {}  # tag resource name -> version resource name
        self.created_tags: list[str] = []
        self.logs_bucket: str | None = None  # set: builds name it as `logsBucket`
        self.on_finish: Callable[[dict[str, Any]], None] | None = None  # (build) when it ends
        self._operations: dict[str, str] = {}  # operation name -> build id

    # -- set-up and assertions -------------------------------------------------------------
    def set_outcome(self, status: str, after_polls: int = 2, failing_step: int = 0,
                    image: str | None = None) -> None:
        outcome = Outcome(status, after_polls, failing_step)
        if image is None:
            self.outcome = outcome
        else:
            self.outcomes[image] = outcome

    def add_tag(self, package: str, tag: str, digest: str) -> None:
        """An image already in the registry: `package` is the full package resource name."""
        with self._lock:
            self.tags[f"{package}/tags/{tag}"] = f"{package}/versions/{digest}"

    def add_build(self, tags: list[str], status: str, created: datetime) -> str:
        """A build made earlier (by another push): returns its id."""
        build_id = uuid.uuid4().hex
        resource = {"id": build_id, "status": status, "tags": tags,
                    "createTime": created.isoformat().replace("+00:00", "Z")}
        with self._lock:
            self.builds[build_id] = _Build(resource, Outcome(status, 0), done=True)
        return build_id

    @staticmethod
    def digest(build_id: str) -> str:
        return "sha256:" + hashlib.sha256(build_id.encode()).hexdigest()

    # -- routes ----------------------------------------------------------------------------
    def create_build(self, m: dict[str, str], query: dict[str, str], body: Any) -> Any:
        project, region = m["project"], m.get("region") or "global"
        build_id = uuid.uuid4().hex
        image = str((body.get("images") or ["x:y"])[0]).rsplit("/", 1)[-1].split(":")[0]
        resource = {
            **body, "id": build_id, "projectId": project, "status": "QUEUED",
            "name": f"projects/{project}/locations/{region}/builds/{build_id}",
            "createTime": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            **({"logsBucket": f"gs://{self.logs_bucket}"} if self.logs_bucket else {}),
            "logUrl": f"https://console.cloud.google.com/cloud-build/builds;region={region}/"
                      f"{build_id}?project=123456789",
        }
        if m.get("region"):
            operation = f"projects/{project}/locations/{region}/operations/{uuid.uuid4()}"
        else:  # the global endpoint names operations like this
            operation = f"operations/build/{project}/{base64.b64encode(build_id.encode()).decode()}"
        with self._lock:
            self.builds[build_id] = _Build(resource, self.outcomes.get(image, self.outcome),
                                           operation, request=copy.deepcopy(body))
            self._operations[operation] = build_id
            return self._operation(self.builds[build_id])

    def get_build(self, m: dict[str, str], query: dict[str, str], body: Any) -> Any:
        with self._lock:
            if m["id"] not in self.builds:
                raise Reply(404, f"Build {m['id']} not found")
            return self._poll(self.builds[m["id"]]).resource

    def get_operation(self, m: dict[str, str], query: dict[str, str], body: Any) -> Any:
        with self._lock:
            if m["op"] not in self._operations:
                raise Reply(404, f"operation {m['op']} not found")
            return self._operation(self._poll(self.builds[self._operations[m["op"]]]))

    def list_builds(self, m: dict[str, str], query: dict[str, str], body: Any) -> Any:
        found = re.fullmatch(r'tags="([^"]+)"', query.get("filter", ""))
        if found is None:
            raise Reply(400, f"the fake only understands filter=tags=\"...\", got {query}")
        with self._lock:
            builds = [b.resource for b in self.builds.values()
                      if found.group(1) in b.resource.get("tags", [])]
        return {"builds": sorted(builds, key=lambda b: b["createTime"], reverse=True)}

    def get_tag(self, m: dict[str, str], query: dict[str, str], body: Any) -> Any:
        name = f"{m['package']}/tags/{m['tag']}"
        with self._lock:
            if name not in self.tags:
                raise Reply(404, f"Requested entity was not found: {name}")
            return {"name": name, "version": self.tags[name]}

    def create_tag(self, m: dict[str, str], query: dict[str, str], body: Any) -> Any:
        name = f"{m['package']}/tags/{query.get('tagId', '')}"
        with self._lock:
            if name in self.tags:
                raise Reply(409, f"tag already exists: {name}")
            self.tags[name] = body["version"]
            self.created_tags.append(name)
        return {"name": name, "version": body["version"]}

    # -- build life cycle ------------------------------------------------------------------
    def _poll(self, build: _Build) -> _Build:
        if build.done:
            return build
        build.polls += 1
        resource, outcome = build.resource, build.outcome
        resource["status"] = "WORKING"
        if outcome.status == "WORKING" or build.polls < outcome.after_polls:
            return build
        build.done, resource["status"] = True, outcome.status
        steps = resource.setdefault("steps", [])
        if outcome.status == "SUCCESS":
            for step in steps:
                step["status"] = "SUCCESS"
            digest = self.digest(resource["id"])
            resource["results"] = {"images": [{"name": i, "digest": digest}
                                              for i in resource.get("images", [])]}
            for image in resource.get("images", []):
                host_path, tag = image.rsplit(":", 1)
                _, project, repo, package = host_path.split("/")
                region = host_path.split("-docker.pkg.dev")[0]
                self.add_tag(f"projects/{project}/locations/{region}/repositories/{repo}/"
                             f"packages/{package}", tag, digest)
        elif outcome.status == "FAILURE":
            for i, step in enumerate(steps):
                step["status"] = "FAILURE" if i == outcome.failing_step else "SUCCESS"
            detail = (f'Build step failure: build step {outcome.failing_step} '
                      f'"{steps[outcome.failing_step]["name"]}" failed: step exited with '
                      "non-zero status: 1")
            resource["statusDetail"] = detail
            resource["failureInfo"] = {"type": "USER_BUILD_STEP", "detail": detail}
        elif outcome.status == "TIMEOUT":
            resource["statusDetail"] = "Build timeout"
        if self.on_finish is not None:
            self.on_finish(resource)
        return build

    def _operation(self, build: _Build) -> dict[str, Any]:
        operation: dict[str, Any] = {
            "name": build.operation, "done": build.done,
            "metadata": {"@type": _TYPES + "BuildOperationMetadata", "build": build.resource}}
        if build.done and build.resource["status"] == "SUCCESS":
            operation["response"] = {"@type": _TYPES + "Build", **build.resource}
        elif build.done:
            operation["error"] = {"code": 2, "message": "Build failed; check build logs for "
                                  "details"}
        return operation

