"""Finding an environment's Vertex AI endpoint and showing it as an EndpointRecord.

An environment's endpoint is the one labelled `mlops-bot-environment: <env>` (its display name is
the environment's `endpoint:` in mlops.yaml, which need not be unique on Vertex). A record names
each deployed model by its registry lineage, read once per model version (a version never
changes it). `current` is the re-read every change starts from: it fails with ConcurrentChange
when the endpoint's etag is no longer the one the caller read.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from google.api_core import exceptions as gexc

from mlops_bot.backends.gcp.endpoint_intent import intent_of
from mlops_bot.backends.gcp.models import version_of
from mlops_bot.backends.gcp.vertex_calls import VertexCalls, label_value
from mlops_bot.backends.model_types import (
    ConcurrentChange,
    DeployedModel,
    EndpointRecord,
    ModelVersion,
)
from mlops_bot.errors import UserError

if TYPE_CHECKING:
    from google.cloud.aiplatform_v1 import Endpoint

    from mlops_bot.backends.gcp.clients import GcpClients

__all__ = ["ENVIRONMENT_LABEL", "EndpointLookup", "concurrent_change", "deployed_as", "named"]

ENVIRONMENT_LABEL = "mlops-bot-environment"
_LINEAGE = ("git_sha", "image", "registry_version", "run_id")


class EndpointLookup:
    """Reads endpoints through `calls` (its API error sentences) with the clients given."""

    def __init__(self, clients: GcpClients, calls: VertexCalls) -> None:
        self._clients, self._calls = clients, calls
        self._models: dict[str, ModelVersion | None] = {}  # "name@version" -> its lineage

    def find(self, environment: str) -> Endpoint | None:
        from google.cloud.aiplatform_v1 import ListEndpointsRequest

        request = ListEndpointsRequest(
            parent=self._calls.parent, page_size=100,
            filter=f'labels.{ENVIRONMENT_LABEL}="{label_value(environment)}"')
        found = self._calls.read(f"list the endpoints of {environment}", lambda: list(
            self._clients.endpoints.list_endpoints(request=request, timeout=self._calls.timeout)))
        if len(found) > 1:
            names = ", ".join(f"{e.display_name} ({e.name})" for e in found)
            raise UserError(f"{len(found)} Vertex AI endpoints carry the label "
                            f"{ENVIRONMENT_LABEL}={label_value(environment)}: {names}; remove "
                            f"the label from those that do not serve {environment}")
        return found[0] if found else None

    def read(self, name: str) -> Endpoint:
        try:
            endpoint: Endpoint = self._calls.read(
                f"read endpoint {name}", lambda: self._clients.endpoints.get_endpoint(
                    name=name, timeout=self._calls.timeout))
        except gexc.NotFound:
            raise UserError(f"endpoint {name} no longer exists in Vertex AI: run the command "
                            "again to create it") from None
        return endpoint

    def current(self, endpoint: EndpointRecord) -> Endpoint:
        """The endpoint now, if its etag is still the one `endpoint` was read with."""
        current = self.read(endpoint.resource_name)
        if current.etag != endpoint.etag:
            raise concurrent_change(endpoint, current.etag)
        return current

    def record(self, environment: str, endpoint: Endpoint) -> EndpointRecord:
        return EndpointRecord(
            environment=environment, name=endpoint.display_name, etag=endpoint.etag,
            deployed=tuple(self._deployed(d) for d in endpoint.deployed_models),
            traffic={d.id: int(endpoint.traffic_split.get(d.id, 0))
                     for d in endpoint.deployed_models},
            url=f"{self._base_url()}/v1/{endpoint.name}:predict", resource_name=endpoint.name,
            intent=intent_of(endpoint.labels))

    def _deployed(self, deployed: Any) -> DeployedModel:
        version = self._model_version(f"{deployed.model}@{deployed.model_version_id}")
        if version is None:
            return DeployedModel(deployed.id, deployed.display_name, deployed.model_version_id)
        values = {k: getattr(version, k) or "" for k in _LINEAGE}
        lineage = {**values, "pipeline": version.model, "model_version": version.version}
        return DeployedModel(deployed.id, version.model, version.version,
                             {k: v for k, v in lineage.items() if v})

    def _model_version(self, name: str) -> ModelVersion | None:
        """The deployed version's lineage (a version never changes it: read once)."""
        if name not in self._models:
            try:
                model = self._calls.read(
                    f"read model {name}", lambda: self._clients.models.get_model(
                        name=name, timeout=self._calls.timeout))
                self._models[name] = version_of(model)
            except (gexc.NotFound, UserError):
                return None  # deleted or not readable: the endpoint still shows what it has
        return self._models[name]

    def _base_url(self) -> str:
        config = self._clients.config
        base = config.api_endpoints.aiplatform or f"{config.region}-aiplatform.googleapis.com"
        return base if "://" in base else f"https://{base}"


def deployed_as(endpoint: Endpoint, ref: str) -> Any:
    """The model deployed on `endpoint` as `ref` (`<model>` or `<model>@<version>`), or None."""
    model, _, version = ref.partition("@")
    return next((d for d in endpoint.deployed_models
                 if _model_id(d.model) == _model_id(model)
                 and d.model_version_id == (version or d.model_version_id)), None)


def concurrent_change(endpoint: EndpointRecord, now: str) -> ConcurrentChange:
    return ConcurrentChange(
        f"the {endpoint.environment} endpoint {endpoint.name} changed while this ran (etag "
        f"{endpoint.etag} was read, it is now {now}): nothing was overwritten; look at "
        f"`mlops-bot endpoints show {endpoint.environment}` and run the command again")


def named(endpoint: EndpointRecord) -> str:
    return f"endpoint {endpoint.name} ({endpoint.environment})"


def _model_id(name: str) -> str:
    """`projects/<id or number>/locations/r/models/<id>` -> the model id (Vertex answers with
    the project number where it was asked with the project id)."""
    return name.rsplit("/models/", 1)[-1].split("@")[0]
