"""The promotion Protocols (model registry, endpoints) and the records they exchange.

They follow Vertex AI's model: a model version lives under a parent model named after the
pipeline; an endpoint holds deployed models and a traffic split keyed by deployed-model id; every
change to an endpoint is conditional on the etag read before it, so two promotions racing on one
endpoint cannot overwrite each other. The local implementations keep the same shapes in files.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from mlops_bot.errors import UserError

__all__ = [
    "NEW_DEPLOYMENT",
    "ConcurrentChange",
    "DeployedModel",
    "EndpointRecord",
    "EndpointService",
    "ModelCandidate",
    "ModelRegistry",
    "ModelVersion",
    "PromotionIntent",
]

# The key that stands for the model being deployed in the traffic split given to `deploy`
# (Vertex's own convention in DeployModelRequest.traffic_split).
NEW_DEPLOYMENT = "0"


class ConcurrentChange(UserError):
    """The endpoint changed since it was read (etag mismatch); nothing was written."""


@dataclass(frozen=True)
class ModelCandidate:
    """A model a pipeline run produced, as the promote flow asks to register it."""

    model: str  # the parent model: the pipeline's name
    artifact_uri: str  # the folder (or gs:// prefix) holding the model file
    run_id: str
    git_sha: str
    registry_version: str
    metrics: dict[str, float] = field(default_factory=dict)
    framework: str = "scikit-learn"
    feature_names: tuple[str, ...] = ()
    classes: tuple[Any, ...] = ()
    # The image serving it on gcp: the serving image its version's push built and recorded in
    # the manifest (mlops_bot/serving_image.py); None locally, where `mlops-bot serve` serves it.
    serving_image: str | None = None
    image: str | None = None  # the pipeline image that trained it, for lineage


@dataclass(frozen=True)
class ModelVersion:
    """A registered model version, with the lineage labels it was registered with."""

    model: str
    version: str  # "1", "2", ... in registration order (Vertex's version id)
    artifact_uri: str
    run_id: str
    git_sha: str
    registry_version: str
    metrics: dict[str, float] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()
    framework: str = "scikit-learn"
    feature_names: tuple[str, ...] = ()
    classes: tuple[Any, ...] = ()
    serving_image: str | None = None
    image: str | None = None
    created_at: str = ""
    resource_name: str = ""  # projects/../models/ID@VERSION on Vertex; a path locally

    @property
    def short_sha(self) -> str:
        return self.git_sha[:7]


class ModelRegistry(Protocol):
    def register(self, candidate: ModelCandidate) -> ModelVersion:
        """A new version under the parent model, labelled with git SHA, pipeline, registry
        version and run id. A run already registered returns its existing version (re-running a
        promotion never registers twice)."""
        ...

    def set_aliases(self, model: str, version: str, aliases: Sequence[str]) -> ModelVersion:
        """Point each alias at this version; an alias names one version of a model at a time,
        so it is taken off the version that had it."""
        ...

    def get(self, model: str, version: str) -> ModelVersion | None:
        ...

    def versions(self, model: str | None = None) -> list[ModelVersion]:
        """Versions, newest first, optionally of one model only."""
        ...


@dataclass(frozen=True)
class DeployedModel:
    deployed_model_id: str
    model: str
    model_version: str
    # git_sha, image, registry_version, run_id
    lineage: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PromotionIntent:
    """What a promotion or rollback is about to change, written on the endpoint before its first
    change and removed after its last: a process killed in between leaves it, and the next
    deploy or rollback puts `traffic` back (undeploying what is not in it) before anything else.
    """

    action: str  # "deploy" or "rollback"
    traffic: dict[str, int]  # the split to put back: every deployed model id before, its share
    candidate: str  # "<model> version <version>": what was being deployed
    started_at: str  # when, in UTC (ISO 8601, seconds), as far as the backend keeps it


@dataclass(frozen=True)
class EndpointRecord:
    """An environment's endpoint as read at one moment; `etag` guards the next change."""

    environment: str
    name: str  # the endpoint's display name (`endpoint:` of the environment in mlops.yaml)
    etag: str
    deployed: tuple[DeployedModel, ...] = ()
    traffic: dict[str, int] = field(default_factory=dict)  # deployed_model_id -> percent
    url: str | None = None  # where predictions are sent, when known
    resource_name: str = ""
    intent: PromotionIntent | None = None  # a promotion under way, or stopped half-way

    def serving(self) -> DeployedModel | None:
        """The deployed model with the largest share of traffic (the champion), if any."""
        ranked = sorted(self.deployed, key=lambda d: self.traffic.get(d.deployed_model_id, 0),
                        reverse=True)
        if not ranked or self.traffic.get(ranked[0].deployed_model_id, 0) == 0:
            return None
        return ranked[0]


class EndpointService(Protocol):
    def get(self, environment: str) -> EndpointRecord | None:
        """The environment's endpoint, or None when it was never created."""
        ...

    def ensure(self, environment: str, name: str) -> EndpointRecord:
        """The environment's endpoint, created (empty) when missing."""
        ...

    def deploy(self, endpoint: EndpointRecord, model: ModelVersion,
               traffic: Mapping[str, int]) -> EndpointRecord:
        """Deploy `model` and apply `traffic` (the new model keyed by NEW_DEPLOYMENT; the split
        sums to 100). Raises ConcurrentChange when the endpoint's etag moved since `endpoint`
        was read; on any failure the endpoint is left as it was."""
        ...

    def set_traffic(self, endpoint: EndpointRecord, traffic: Mapping[str, int]) -> EndpointRecord:
        """Replace the traffic split exactly (conditional on the etag, as `deploy`)."""
        ...

    def undeploy(self, endpoint: EndpointRecord, deployed_model_id: str) -> EndpointRecord:
        """Remove a deployed model that no longer has traffic (conditional on the etag)."""
        ...

    def set_intent(self, endpoint: EndpointRecord,
                   intent: PromotionIntent | None) -> EndpointRecord:
        """Record `intent` on the endpoint (None: remove it), conditional on the etag; the
        record returned carries it (and the new etag)."""
        ...

    def predict(self, endpoint: EndpointRecord, instances: list[Any],
                deployed_model_id: str | None = None) -> list[Any]:
        """Predictions for `instances` from the endpoint, or from one deployed model of it
        (the smoke test of a canary). Raises UserError naming the endpoint on failure."""
        ...
