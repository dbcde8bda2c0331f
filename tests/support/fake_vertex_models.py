"""A fake Vertex AI Model Registry, Endpoints and online prediction REST API, for the real
`aiplatform_v1` ModelServiceClient, EndpointServiceClient and PredictionServiceClient (REST).

    with FakeVertexModels(files=tmp_path / "gcs") as vertex:
        config = GcpConfig(..., api_endpoints=ApiEndpoints(aiplatform=vertex.endpoint))
        vertex.fail_next_deploy("Model server never became ready")   # the LRO ends in an error
        ...
        [version] = vertex.versions("wine_quality")

Routes, as the clients transcode them (aiplatform_v1/services/{model,endpoint,prediction}_service/
transports/rest_base.py), under /v1/projects/{p}/locations/{r}:
    POST  /models:upload                         -> Operation (UploadModelResponse)
    GET   /models?filter&pageSize&pageToken      list (each model's default version)
    GET   /models/{id}[@{version or alias}]      get
    GET   /models/{id}:listVersions?filter...    list versions
    POST  /models/{id}@{v}:mergeVersionAliases   -> Model
    POST  /endpoints?endpointId                  -> Operation (Endpoint)
    GET   /endpoints?filter..., /endpoints/{id}  list, get
    PATCH /endpoints/{id}?updateMask=a,b         -> Endpoint (etag checked when sent)
    POST  /endpoints/{id}:deployModel            -> Operation (DeployModelResponse)
    POST  /endpoints/{id}:undeployModel          -> Operation (UndeployModelResponse)
    POST  /endpoints/{id}:predict                -> PredictResponse
    GET   /ui/projects/{p}/locations/{r}/{models|endpoints}/{id}/operations/{op}   polled
Like the service: names carry the project number; an operation ends on its own `*_seconds` after
it was accepted (whether or not anyone polls), and only then is its effect visible (the version,
the endpoint, the deployed model); its `response` is an Any with its `@type`. The first version of
a model gets the alias `default`; an alias names one version (adding it moves it). Every change
to an endpoint changes its etag; a PATCH with a stale etag answers 409 ABORTED ("does not match
server etag", as Vertex AI answers). A traffic split must name deployed models (and "0" for the
one being deployed), with whole percentages summing to 100. A model with traffic cannot be
undeployed unless it is the last one.

Uploads are checked as Vertex checks them: a display name, a Cloud Storage artifactUri, and a
container spec whose imageUri is in Artifact Registry or Container Registry (a local tag, a Docker
Hub image or a shell-style string is refused), whose port is a port number, whose routes are
paths and whose env names are valid. `serving_container(model, ...)` is what Vertex runs for a
deployed model: the image, command, args and port of its container spec, with the AIP_*
environment Vertex sets (the container tests run exactly that with Docker).

Deploying starts "the container" the way Vertex would: the model at the version's artifactUri
(gs://bucket/path, read from `files/bucket/path`) is loaded with `mlops_bot.serving`, and a
model that does not load fails the deployModel operation; predictions come from it, routed by the
traffic split (seeded). `fail_next_deploy` makes the next deployModel operation end in an error.

Faults per route name (upload_model, list_models, get_model, list_model_versions,
merge_version_aliases, create_endpoint, list_endpoints, get_endpoint, update_endpoint,
deploy_model, undeploy_model, predict, get_operation): `fail()` / `stall()`.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.fake_gcp_http import JsonApiServer, Reply

__all__ = ["ETAG_MISMATCH", "PROJECT_NUMBER", "FakeVertexModels", "ServingContainer",
           "serving_container"]

PROJECT_NUMBER = "123456789012"
ETAG_MISMATCH = "does not match server etag"
_TYPES = "type.googleapis.com/google.cloud.aiplatform.v1."
_LOC = r"/v1/projects/(?P<project>[^/]+)/locations/(?P<region>[^/]+)"
_MODEL = _LOC + r"/models/(?P<model>[^/:@]+)(?:@(?P<version>[^/:]+))?"
_ENDPOINT = _LOC + r"/endpoints/(?P<endpoint>[^/:]+)"
_ROUTES = [
    ("POST", re.compile(_LOC + r"/models:upload"), "upload_model"),
    ("GET", re.compile(_LOC + r"/models"), "list_models"),
    ("GET", re.compile(_MODEL), "get_model"),
    ("GET", re.compile(_MODEL + r":listVersions"), "list_model_versions"),
    ("POST", re.compile(_MODEL + r":mergeVersionAliases"), "merge_version_aliases"),
    ("POST", re.compile(_LOC + r"/endpoints"), "create_endpoint"),
    ("GET", re.compile(_LOC + r"/endpoints"), "list_endpoints"),
    ("GET", re.compile(_ENDPOINT), "get_endpoint"),
    ("PATCH", re.compile(_ENDPOINT), "update_endpoint"),
    ("POST", re.compile(_ENDPOINT + r":deployModel"), "deploy_model"),
    ("POST", re.compile(_ENDPOINT + r":undeployModel"), "undeploy_model"),
    ("POST", re.compile(_ENDPOINT + r":predict"), "predict"),
    ("GET", re.compile(r"/ui/(?P<op>projects/[^/]+/locations/[^/]+/(?:models|endpoints)/[^/]+/"
                       r"operations/[^/]+)"), "get_operation"),
]
_LABEL = re.compile(r"^[a-z0-9_-]{0,63}$")
_LABEL_KEY = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
_ALIAS = re.compile(r"^[a-z][a-zA-Z0-9-]{0,126}[a-z0-9]$")
_MODEL_ID = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
_TERM = re.compile(r'^labels\.(?P<key>[a-z0-9_-]+)\s*=\s*"?(?P<value>[^"]*)"?$')
_ENDPOINT_FIELDS = {"displayName", "description", "labels", "trafficSplit"}
# Artifact Registry ({region}-docker.pkg.dev/{project}/{repository}/...) or Container Registry
# ([region.]gcr.io/{project}/...), by tag and/or digest: where Vertex pulls serving images from.
_IMAGE_URI = re.compile(r"^(?:[a-z0-9-]+-docker\.pkg\.dev/[a-z0-9-]+/[a-z0-9._-]+|"
                        r"(?:[a-z]+\.)?gcr\.io/[a-z0-9-]+)/[a-z0-9][a-z0-9._/-]*"
                        r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[0-9a-f]{64})?$")
_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")  # Kubernetes' rule for env names
_DEFAULT_PORT = 8080
_NOW = "2026-01-01T00:00:00Z"


@dataclass
class _Operation:
    name: str
    metadata_type: str
    ready_at: float
    finish: Callable[[], dict[str, Any]]  # applies the effect; the response, or raises Reply
    done: bool = False
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None


class FakeVertexModels(JsonApiServer):
    routes = _ROUTES
    discovery = ("aiplatform.v1",)  # held to Google's API: tests.support.discovery

    def __init__(self, files: Path | None = None, page_size: int = 2, seed: int = 0) -> None:
        super().__init__()
        self.files = files  # gs://bucket/path is read from files/bucket/path
        self.page_size = page_size  # small, so listing must follow nextPageToken
        self.models: dict[str, list[dict[str, Any]]] = {}  # model id -> versions, in order
        self.endpoints: dict[str, dict[str, Any]] = {}  # endpoint id -> Endpoint JSON
        self.operations: dict[str, _Operation] = {}
        self.upload_seconds = self.deploy_seconds = self.create_seconds = 0.0
        self.deploy_failures: list[str] = []  # messages of the next deployModel failures
        self.served: list[str] = []  # deployed model id of each prediction, in order
        self._random = random.Random(seed)
        self._ids = itertools.count(1)
        self._revisions: dict[str, int] = {}
        self._containers: dict[str, Any] = {}  # deployed model id -> LoadedModel

    # -- set-up and assertions -------------------------------------------------------------
    def fail_next_deploy(self, message: str = "Model server never became ready. Please "
                         "validate that your model file or container configuration are valid.",
                         times: int = 1) -> None:
        """The next `times` deployModel operations end with this error (nothing deployed)."""
        with self._lock:
            self.deploy_failures.extend([message] * times)

    def versions(self, model_id: str) -> list[dict[str, Any]]:
        with self._lock:
            self._advance()
            return copy.deepcopy(self.models.get(model_id, []))

    def endpoint_state(self, endpoint_id: str | None = None) -> dict[str, Any]:
        """The endpoint (the only one when no id is given), as the service holds it."""
        with self._lock:
            self._advance()
            if endpoint_id is None:
                [endpoint_id] = self.endpoints
            return copy.deepcopy(self.endpoints[endpoint_id])

    def seed_endpoint(self, display_name: str, labels: dict[str, str]) -> dict[str, Any]:
        """An endpoint made outside mlops-bot (by hand, or a second one by mistake)."""
        with self._lock:
            return copy.deepcopy(self._new_endpoint("europe-west4", str(next(self._ids)),
                                                    {"displayName": display_name,
                                                     "labels": labels}))

    # -- models ----------------------------------------------------------------------------
    def upload_model(self, m: dict[str, str], query: dict[str, str], body: Any) -> Any:
        model = copy.deepcopy(body.get("model") or {})
        self._check_model(model)
        parent, model_id = body.get("parentModel"), body.get("modelId")
        with self._lock:
            if parent and model_id:
                raise Reply(400, "UploadModelRequest.model_id cannot be set with parent_model.")
            if parent:
                model_id = parent.rsplit("/", 1)[-1]
                if model_id not in self.models:
                    raise Reply(404, f"Parent model {parent} does not exist.")
            elif model_id:
                if not _MODEL_ID.match(model_id):
                    raise Reply(400, f"Invalid model_id {model_id!r}.")
                if model_id in self.models or self._pending_model(model_id):
                    raise Reply(409, f"Model projects/{PROJECT_NUMBER}/locations/{m['region']}/"
                                     f"models/{model_id} already exists.")
            else:
                model_id = str(8000000000000000000 + next(self._ids))
            name = f"projects/{PROJECT_NUMBER}/locations/{m['region']}/models/{model_id}"

            def finish() -> dict[str, Any]:
                versions = self.models.setdefault(model_id, [])
                version = str(len(versions) + 1)
                aliases = list(model.get("versionAliases") or [])
                if not versions:
                    aliases.insert(0, "default")
                for other in versions:
                    other["versionAliases"] = [a for a in other.get("versionAliases", [])
                                               if a not in aliases]
                versions.append({**model, "name": name, "versionId": version,
                                 "versionAliases": aliases, "createTime": _NOW,
                                 "updateTime": _NOW, "versionCreateTime": self._now(),
                                 "versionUpdateTime": self._now(), "etag": f"m{next(self._ids)}"})
                return {"@type": _TYPES + "UploadModelResponse", "model": name,
                        "modelVersionId": version}

            return self._start(f"{name}/operations/{next(self._ids)}",
                               "UploadModelOperationMetadata", self.upload_seconds, finish)

    def list_models(self, m: dict[str, str], query: dict[str, str], body: Any) -> Any:
        terms = _filter(query.get("filter", ""))
        with self._lock:
            found = [copy.deepcopy(self._default(v)) for v in self.models.values()]
        return self._page(query, "models", [v for v in found if _matches(v, terms)])

    def get_model(self, m: dict[str, str], query: dict[str, str], body: Any) -> Any:
        with self._lock:
            return copy.deepcopy(self._version(m["model"], m.get("version")))

    def list_model_versions(self, m: dict[str, str], query: dict[str, str], body: Any) -> Any:
        terms = _filter(query.get("filter", ""))
        with self._lock:
            versions = copy.deepcopy(self._versions(m["model"]))
        return self._page(query, "models", [v for v in versions if _matches(v, terms)])

    def merge_version_aliases(self, m: dict[str, str], query: dict[str, str], body: Any) -> Any:
        wanted = list(body.get("versionAliases") or [])
        with self._lock:
            version = self._version(m["model"], m.get("version"))
            for alias in wanted:
                if alias.startswith("-"):
                    if alias[1:] == "default":
                        raise Reply(400, "The default alias cannot be removed; make another "
                                         "version the default instead.")
                    version["versionAliases"] = [a for a in version["versionAliases"]
                                                 if a != alias[1:]]
                    continue
                if not _ALIAS.match(alias):
                    raise Reply(400, f"Invalid version alias {alias!r}.")
                for other in self._versions(m["model"]):
                    if other is not version and alias in other["versionAliases"]:
                        other["versionAliases"].remove(alias)
                if alias not in version["versionAliases"]:
                    version["versionAliases"].append(alias)
            version["versionUpdateTime"] = self._now()
            return copy.deepcopy(version)

    # -- endpoints -------------------------------------------------------------------------
    def create_endpoint(self, m: dict[str, str], query: dict[str, str], body: Any) -> Any:
        if not body.get("displayName"):
            raise Reply(400, "Endpoint.display_name is required.")
        _check_labels(body.get("labels") or {})
        with self._lock:
            endpoint_id = query.get("endpointId") or str(4000000000000000000 + next(self._ids))
            if endpoint_id in self.endpoints:
                raise Reply(409, f"Endpoint {endpoint_id} already exists.")
            name = f"projects/{PROJECT_NUMBER}/locations/{m['region']}/endpoints/{endpoint_id}"

            def finish() -> dict[str, Any]:
                created = self._new_endpoint(m["region"], endpoint_id, body)
                return {"@type": _TYPES + "Endpoint", **copy.deepcopy(created)}

            return self._start(f"{name}/operations/{next(self._ids)}",
                               "CreateEndpointOperationMetadata", self.create_seconds, finish)

    def list_endpoints(self, m: dict[str, str], query: dict[str, str], body: Any) -> Any:
        terms = _filter(query.get("filter", ""))
        with self._lock:
            found = [copy.deepcopy(e) for e in self.endpoints.values() if _matches(e, terms)]
        return self._page(query, "endpoints", found)

    def get_endpoint(self, m: dict[str, str], query: dict[str, str], body: Any) -> Any:
        with self._lock:
            return copy.deepcopy(self._endpoint(m["endpoint"]))

    def update_endpoint(self, m: dict[str, str], query: dict[str, str], body: Any) -> Any:
        mask = [_camel(p) for p in (query.get("updateMask") or "").split(",") if p]
        if not mask or set(mask) - _ENDPOINT_FIELDS:
            raise Reply(400, f"update_mask must name updatable Endpoint fields, got {mask}")
        with self._lock:
            endpoint = self._endpoint(m["endpoint"])
            self._check_etag(endpoint, body.get("etag"))
            if "trafficSplit" in mask:
                split = {k: int(v) for k, v in (body.get("trafficSplit") or {}).items()}
                self._check_split(endpoint, split)
            if "labels" in mask:
                _check_labels(body.get("labels") or {})
            for field in mask:
                endpoint[field] = copy.deepcopy(body.get(field) or ({} if field in (
                    "labels", "trafficSplit") else ""))
            self._changed(endpoint)
            return copy.deepcopy(endpoint)

    def deploy_model(self, m: dict[str, str], query: dict[str, str], body: Any) -> Any:
        wanted = copy.deepcopy(body.get("deployedModel") or {})
        with self._lock:
            endpoint = self._endpoint(m["endpoint"])
            found = re.fullmatch(r"projects/[^/]+/locations/[^/]+/models/([^/@]+)(?:@(.+))?",
                                 str(wanted.get("model", "")))
            if found is None:
                raise Reply(400, f"DeployedModel.model {wanted.get('model')!r} is not a model "
                                 "resource name.")
            version = self._version(found.group(1), found.group(2))
            resources = wanted.get("dedicatedResources") or {}
            if not (resources.get("machineSpec") or {}).get("machineType") or int(
                    resources.get("minReplicaCount") or 0) < 1:
                raise Reply(400, "Model requires dedicated_resources with a machine type and "
                                 "min_replica_count of at least 1.")
            split = {k: int(v) for k, v in (body.get("trafficSplit") or {"0": 100}).items()}
            self._check_split(endpoint, split, deploying=True)
            deployed_id = str(1000000000 + next(self._ids))

            def finish() -> dict[str, Any]:
                if self.deploy_failures:
                    raise Reply(500, self.deploy_failures.pop(0))
                self._containers[deployed_id] = self._start_container(version, deployed_id)
                deployed = {**wanted, "id": deployed_id, "model": version["name"],
                            "modelVersionId": version["versionId"], "createTime": self._now()}
                deployed.setdefault("displayName", version.get("displayName", ""))
                endpoint.setdefault("deployedModels", []).append(deployed)
                endpoint["trafficSplit"] = {(deployed_id if k == "0" else k): v
                                            for k, v in split.items()}
                self._changed(endpoint)
                return {"@type": _TYPES + "DeployModelResponse",
                        "deployedModel": copy.deepcopy(deployed)}

            return self._start(f"{endpoint['name']}/operations/{next(self._ids)}",
                               "DeployModelOperationMetadata", self.deploy_seconds, finish)

    def undeploy_model(self, m: dict[str, str], query: dict[str, str], body: Any) -> Any:
        deployed_id = str(body.get("deployedModelId", ""))
        with self._lock:
            endpoint = self._endpoint(m["endpoint"])
            deployed = endpoint.get("deployedModels") or []
            if deployed_id not in {d["id"] for d in deployed}:
                raise Reply(404, f"Deployed model {deployed_id} not found on endpoint "
                                 f"{endpoint['name']}.")
            split = body.get("trafficSplit")
            if (split is None and len(deployed) > 1
                    and int(endpoint.get("trafficSplit", {}).get(deployed_id, 0)) > 0):
                raise Reply(400, f"Model {deployed_id} has traffic assigned to it; the traffic "
                                 "split must move it away first.")

            def finish() -> dict[str, Any]:
                endpoint["deployedModels"] = [d for d in endpoint.get("deployedModels", [])
                                              if d["id"] != deployed_id]
                traffic = {k: v for k, v in endpoint.get("trafficSplit", {}).items()
                           if k != deployed_id}
                endpoint["trafficSplit"] = (dict(split or traffic)
                                            if endpoint["deployedModels"] else {})
                self._containers.pop(deployed_id, None)
                self._changed(endpoint)
                return {"@type": _TYPES + "UndeployModelResponse"}

            return self._start(f"{endpoint['name']}/operations/{next(self._ids)}",
                               "UndeployModelOperationMetadata", self.deploy_seconds, finish)

    def predict(self, m: dict[str, str], query: dict[str, str], body: Any) -> Any:
        from mlops_bot.serving.models import PredictionError, RequestError

        with self._lock:
            endpoint = self._endpoint(m["endpoint"])
            split = {k: int(v) for k, v in (endpoint.get("trafficSplit") or {}).items() if v}
            if not split:
                raise Reply(400, f"Endpoint {endpoint['name']} does not have any deployed model "
                                 "with traffic.")
            chosen = self._random.choices(list(split), weights=list(split.values()))[0]
            deployed = next(d for d in endpoint["deployedModels"] if d["id"] == chosen)
            container = self._containers[chosen]
            self.served.append(chosen)
        try:
            predictions = container.predict(list(body.get("instances") or []))
        except RequestError as error:
            raise Reply(400, str(error)) from None
        except PredictionError as error:
            raise Reply(500, str(error)) from None
        return {"predictions": predictions, "deployedModelId": chosen,
                "model": deployed["model"], "modelVersionId": deployed["modelVersionId"],
                "modelDisplayName": deployed.get("displayName", "")}

    # -- operations ------------------------------------------------------------------------
    def get_operation(self, m: dict[str, str], query: dict[str, str], body: Any) -> Any:
        with self._lock:
            operation = self.operations.get(m["op"])
            if operation is None:
                raise Reply(404, f"Operation {m['op']} not found.")
            return self._operation(operation)

    def _start(self, name: str, metadata_type: str, seconds: float,
               finish: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        operation = _Operation(name, metadata_type, time.monotonic() + seconds, finish)
        self.operations[name] = operation
        return self._operation(operation, advance=False)

    def _advance(self) -> None:
        """Ends the operations that are due (the service finishes them whether polled or not)."""
        for operation in self.operations.values():
            if operation.done or time.monotonic() < operation.ready_at:
                continue
            operation.done = True
            try:
                operation.result = operation.finish()
            except Reply as failure:
                operation.error = {"code": 13 if failure.status >= 500 else 9,
                                   "message": failure.message}

    def _operation(self, operation: _Operation, advance: bool = True) -> dict[str, Any]:
        if advance:
            self._advance()
        reply: dict[str, Any] = {
            "name": operation.name, "done": operation.done,
            "metadata": {"@type": _TYPES + operation.metadata_type,
                         "genericMetadata": {"createTime": _NOW, "updateTime": _NOW}}}
        if operation.error is not None:
            reply["error"] = dict(operation.error)
        elif operation.result is not None:
            reply["response"] = copy.deepcopy(operation.result)
        return reply

    def _dispatch(self, method: str, raw_path: str, body: Any) -> tuple[int, Any, float]:
        with self._lock:
            self._advance()
        status, reply, stall = super()._dispatch(method, raw_path, body)
        error = reply.get("error") if isinstance(reply, dict) else None
        if status == 409 and error and ETAG_MISMATCH in str(error.get("message")):
            error["status"] = "ABORTED"  # not ALREADY_EXISTS, the shared default for 409
        return status, reply, stall

    # -- helpers ---------------------------------------------------------------------------
    def _pending_model(self, model_id: str) -> bool:
        return any(not op.done and f"/models/{model_id}/operations/" in op.name
                   for op in self.operations.values())

    def _versions(self, model_id: str) -> list[dict[str, Any]]:
        if model_id not in self.models:
            raise Reply(404, f"Model projects/{PROJECT_NUMBER}/locations/*/models/{model_id} "
                             "not found.")
        return self.models[model_id]

    def _version(self, model_id: str, version: str | None) -> dict[str, Any]:
        wanted = version or "default"
        for found in self._versions(model_id):
            if found["versionId"] == wanted or wanted in found.get("versionAliases", []):
                return found
        raise Reply(404, f"Model {model_id}@{wanted} not found.")

    @staticmethod
    def _default(versions: list[dict[str, Any]]) -> dict[str, Any]:
        return next(v for v in versions if "default" in v.get("versionAliases", []))

    def _endpoint(self, endpoint_id: str) -> dict[str, Any]:
        if endpoint_id not in self.endpoints:
            raise Reply(404, f"Endpoint {endpoint_id} not found.")
        return self.endpoints[endpoint_id]

    def _new_endpoint(self, region: str, endpoint_id: str,
                      body: dict[str, Any]) -> dict[str, Any]:
        endpoint = {"name": f"projects/{PROJECT_NUMBER}/locations/{region}/endpoints/"
                            f"{endpoint_id}",
                    "displayName": body["displayName"], "labels": dict(body.get("labels") or {}),
                    "description": body.get("description", ""), "deployedModels": [],
                    "trafficSplit": {}, "createTime": _NOW}
        self.endpoints[endpoint_id] = endpoint
        self._changed(endpoint)
        return endpoint

    def _changed(self, endpoint: dict[str, Any]) -> None:
        revision = self._revisions.get(endpoint["name"], 0) + 1
        self._revisions[endpoint["name"]] = revision
        endpoint["etag"] = hashlib.sha256(f"{endpoint['name']}#{revision}".encode()).hexdigest()[
            :20]
        endpoint["updateTime"] = self._now()

    @staticmethod
    def _check_etag(endpoint: dict[str, Any], etag: str | None) -> None:
        if etag and etag != endpoint["etag"]:
            raise Reply(409, f"Specified Endpoint etag: {etag} {ETAG_MISMATCH}: "
                             f"{endpoint['etag']}.")

    @staticmethod
    def _check_split(endpoint: dict[str, Any], split: dict[str, int],
                     deploying: bool = False) -> None:
        known = {d["id"] for d in endpoint.get("deployedModels") or []} | (
            {"0"} if deploying else set())
        unknown = sorted(set(split) - known)
        if unknown:
            raise Reply(400, f"Traffic split names deployed models {unknown} that the endpoint "
                             "does not have.")
        if any(not 0 <= v <= 100 for v in split.values()) or (known and sum(
                split.values()) != 100):
            raise Reply(400, f"Traffic split percentages must be 0-100 and sum to 100: {split}")

    def _start_container(self, version: dict[str, Any], deployed_id: str) -> Any:
        """The model loaded as `python -m mlops_bot.serving` would, or the deploy fails."""
        from mlops_bot.serving.models import ModelLoadError, load_models
        from mlops_bot.serving.state import StateError, single_model_state

        uri = str(version.get("artifactUri", ""))
        if self.files is None:
            raise Reply(500, "Model server never became ready: the fake has no files root.")
        local = self.files / uri.removeprefix("gs://")
        try:
            [container] = load_models(single_model_state(str(local), deployed_id))
        except (StateError, ModelLoadError) as error:
            raise Reply(500, f"Model server never became ready: {error}") from None
        return container

    def _page(self, query: dict[str, str], key: str, items: list[Any]) -> dict[str, Any]:
        size = min(int(query.get("pageSize") or self.page_size), self.page_size)
        start = int(query.get("pageToken") or 0)
        reply: dict[str, Any] = {key: items[start:start + size]}
        if start + size < len(items):
            reply["nextPageToken"] = str(start + size)
        return reply

    @staticmethod
    def _now() -> str:
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + f".{time.time_ns() % 10**9:09d}Z"

    @staticmethod
    def _check_model(model: dict[str, Any]) -> None:
        if not model.get("displayName"):
            raise Reply(400, "Model.display_name is required.")
        _check_container(model.get("containerSpec") or {})
        if model.get("artifactUri") and not str(model["artifactUri"]).startswith("gs://"):
            raise Reply(400, f"Model.artifact_uri must be a Cloud Storage URI, got "
                             f"{model['artifactUri']!r}.")
        _check_labels(model.get("labels") or {})
        for alias in model.get("versionAliases") or []:
            if not _ALIAS.match(alias):
                raise Reply(400, f"Invalid version alias {alias!r}.")


def _check_container(spec: dict[str, Any]) -> None:
    image = str(spec.get("imageUri") or "")
    if not image:
        raise Reply(400, "Model.container_spec.image_uri is required for a custom model.")
    if not _IMAGE_URI.match(image):
        raise Reply(400, f"Model.container_spec.image_uri {image!r} must identify an image in "
                         "Artifact Registry or Container Registry.")
    for port in spec.get("ports") or []:
        if not 1 <= int(port.get("containerPort") or 0) <= 65535:
            raise Reply(400, f"Model.container_spec.ports containerPort {port} must be between 1 "
                             "and 65535.")
    for key, name in (("predictRoute", "predict_route"), ("healthRoute", "health_route")):
        route = spec.get(key)
        if route and not str(route).startswith("/"):
            raise Reply(400, f"Model.container_spec.{name} {route!r} must start with '/'.")
    for variable in spec.get("env") or []:
        if not _ENV_NAME.match(str(variable.get("name") or "")):
            raise Reply(400, f"Model.container_spec.env name {variable.get('name')!r} is not a "
                             "valid environment variable name.")


@dataclass(frozen=True)
class ServingContainer:
    """What Vertex AI runs for one deployed model (its custom-container contract)."""

    image: str
    command: tuple[str, ...]  # replaces the image's ENTRYPOINT (empty: the image's own)
    args: tuple[str, ...]  # replaces its CMD
    port: int
    env: dict[str, str]


def serving_container(model: dict[str, Any], storage_uri: str, deployed_model_id: str = "1001",
                      endpoint_id: str = "4001") -> ServingContainer:
    """The container Vertex starts for `model` (a registered version's JSON, as uploaded): its
    spec's image, command, args, first port (default 8080) and env, plus the AIP_* variables
    Vertex sets; `storage_uri` stands for Vertex's gs:// copy of the model's artifactUri."""
    spec = model.get("containerSpec") or {}
    ports = spec.get("ports") or [{"containerPort": _DEFAULT_PORT}]
    port = int(ports[0].get("containerPort") or _DEFAULT_PORT)
    base = f"/v1/endpoints/{endpoint_id}/deployedModels/{deployed_model_id}"
    model_id = str(model.get("name", "")).rsplit("/", 1)[-1]
    env = {str(v["name"]): str(v.get("value", "")) for v in spec.get("env") or []}
    env.update({
        "AIP_HTTP_PORT": str(port), "AIP_HEALTH_ROUTE": spec.get("healthRoute") or base,
        "AIP_PREDICT_ROUTE": spec.get("predictRoute") or f"{base}:predict",
        "AIP_STORAGE_URI": storage_uri, "AIP_DEPLOYED_MODEL_ID": deployed_model_id,
        "AIP_ENDPOINT_ID": endpoint_id, "AIP_MODEL_NAME": model_id,
        "AIP_VERSION_NAME": str(model.get("versionId", "")), "AIP_MODE": "PREDICTION",
        "AIP_MODE_VERSION": "1.0.0", "AIP_FRAMEWORK": "CUSTOM_CONTAINER",
        "AIP_PROJECT_NUMBER": PROJECT_NUMBER, "AIP_MACHINE_TYPE": "n1-standard-2"})
    return ServingContainer(str(spec["imageUri"]), tuple(spec.get("command") or ()),
                            tuple(spec.get("args") or ()), port, env)


def _check_labels(labels: dict[str, str]) -> None:
    bad = [f"{k}={v}" for k, v in labels.items()
           if not _LABEL_KEY.match(k) or not _LABEL.match(str(v))]
    if bad or len(labels) > 64:
        raise Reply(400, f"Invalid labels {bad}: keys and values must be at most 63 lowercase "
                         "letters, digits, '_' or '-' (keys start with a letter).")


def _filter(text: str) -> list[tuple[str, str]]:
    terms = []
    for term in (t.strip() for t in re.split(r"\s+AND\s+", text.strip()) if t.strip()):
        found = _TERM.match(term)
        if found is None:
            raise Reply(400, f'the fake only understands filters labels.key="value" AND ..., '
                             f"got {text!r}")
        terms.append((found.group("key"), found.group("value")))
    return terms


def _matches(resource: dict[str, Any], terms: list[tuple[str, str]]) -> bool:
    labels = resource.get("labels") or {}
    return all(labels.get(key) == value for key, value in terms)


def _camel(path: str) -> str:
    head, *rest = path.split("_")
    return head + "".join(part.title() for part in rest)
