"""Vertex AI Model Registry (GAPIC `ModelServiceClient`, REST) as the promote flow's registry.

Each pipeline has one parent model whose id is derived from the pipeline name (`model_id_for`),
so finding it is one GET and two first registrations racing cannot make two parents: the second
upload gets ALREADY_EXISTS and registers under the first. Every version is uploaded with
`parent_model` set, the pipeline name as display name, and labels `mlops_bot`, `pipeline`,
`git_sha`, `registry_version`, `run_id` (label values must be at most 63 of [a-z0-9_-], so they
are sanitised); the exact values, with the metrics, feature names and classes, are kept as JSON
in the version's `versionDescription` (free text per version: `metadata` is immutable and bound
to a schema). The serving container is `candidate.serving_image`, the image the promote flow had
built from the run's pipeline image with mlops-bot's server in it (mlops_bot/serving_image.py),
running `python3 -m mlops_bot.serving --host 0.0.0.0` on port 8080 with the routes /health and
/predict; Vertex passes the model folder as AIP_STORAGE_URI (a gs:// copy of `artifact_uri`),
which the server copies before it listens. A candidate without a serving image, or of a framework
no image serves, is refused before any call: the pipeline image alone has no server, and a model
uploaded with it would only fail when its container exits at deploy time.

A run is registered once: `register` first lists the parent's versions by the `run_id` label.
An upload that fails in a way that leaves unknown whether Vertex accepted it (a 5xx, a timeout)
is followed by looking for the run's version again, for up to `settle_seconds` (the version
appears when Vertex finishes the upload), before uploading again.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from google.api_core import exceptions as gexc

from mlops_bot.backends.gcp.vertex_calls import Unsure, VertexCalls, label_value
from mlops_bot.backends.model_types import ModelCandidate, ModelRegistry, ModelVersion
from mlops_bot.errors import UserError
from mlops_bot.serving_image import (
    HEALTH_ROUTE,
    PREDICT_ROUTE,
    SERVING_ARGS,
    SERVING_COMMAND,
    SERVING_PORT,
    check_framework,
)

if TYPE_CHECKING:
    from google.cloud.aiplatform_v1 import Model

    from mlops_bot.backends.gcp.clients import GcpClients

__all__ = ["SERVING_COMMAND", "SERVING_PORT", "VertexModelRegistry", "model_id_for", "version_of"]

_MARKER = "mlops_bot"
_LINEAGE = "mlops_bot"  # the key of the JSON document in versionDescription
# Vertex's alias format: it must not look like a version id.
_ALIAS = re.compile(r"^[a-z][a-zA-Z0-9-]{0,126}[a-z0-9]$")
_MODEL_ID_LENGTH = 63


def model_id_for(model: str) -> str:
    """The parent model's id for a pipeline: `[a-z][a-z0-9_-]{0,62}`, the same every time.

    A name that had to be changed to fit gets a hash of the original, so `Wine` and `wine` never
    share a parent model.
    """
    slug = re.sub(r"[^a-z0-9_-]+", "-", model.lower()).strip("-")
    if not slug[:1].isalpha():
        slug = "m-" + slug
    if slug != model or len(slug) > _MODEL_ID_LENGTH:
        digest = hashlib.sha256(model.encode()).hexdigest()[:10]
        slug = f"{slug[:_MODEL_ID_LENGTH - 11].rstrip('-')}-{digest}"
    return slug


class VertexModelRegistry:
    def __init__(self, clients: GcpClients, *, request_timeout: float = 60.0,
                 upload_timeout: float = 900.0, poll_seconds: float = 5.0,
                 settle_seconds: float = 60.0, upload_tries: int = 3) -> None:
        self._clients = clients
        self._calls = VertexCalls(clients.config, request_timeout=request_timeout,
                                  poll_seconds=poll_seconds)
        self._upload_timeout, self._settle_seconds = upload_timeout, settle_seconds
        self._upload_tries = upload_tries

    # -- ModelRegistry ---------------------------------------------------------------------
    def register(self, candidate: ModelCandidate) -> ModelVersion:
        image = self._check(candidate)
        last: Unsure | None = None
        for _ in range(self._upload_tries):
            parent_exists, found = self._find_run(candidate)
            if found is not None:
                return found
            try:
                return self._upload(candidate, image, parent_exists)
            except gexc.Conflict:
                # Another registration is creating the parent: register under it once it is.
                self._settle(candidate, until_parent=True)
            except Unsure as unsure:
                last = unsure
                _, found = self._settle(candidate)
                if found is not None:
                    return found
        raise UserError(f"could not register run {candidate.run_id} of {candidate.model} in "
                        f"Vertex AI after {self._upload_tries} tries ({last or 'conflicts'}); "
                        "run the command again: a version that did get registered is reused")

    def set_aliases(self, model: str, version: str, aliases: Sequence[str]) -> ModelVersion:
        bad = [a for a in aliases if not _ALIAS.match(a)]
        if bad:
            raise UserError(f"{', '.join(bad)} cannot be a Vertex AI model version alias: use "
                            "lowercase letters, digits and '-', starting with a letter (rename "
                            "the environment in mlops.yaml)")
        from google.cloud.aiplatform_v1 import MergeVersionAliasesRequest

        name = f"{self._model_name(model)}@{version}"
        request = MergeVersionAliasesRequest(name=name, version_aliases=list(aliases))
        try:
            merged = self._calls.read(
                f"set aliases {', '.join(aliases)} on {model} version {version}",
                lambda: self._clients.models.merge_version_aliases(
                    request=request, timeout=self._calls.timeout))
        except gexc.NotFound:
            raise UserError(f"model {model} has no version {version} in Vertex AI "
                            f"({name}): `mlops-bot endpoints list` shows the registered "
                            "versions") from None
        return version_of(merged)

    def get(self, model: str, version: str) -> ModelVersion | None:
        if not version.isdigit():
            return None
        name = f"{self._model_name(model)}@{version}"
        try:
            found = self._calls.read(f"read model {name}", lambda: self._clients.models.get_model(
                name=name, timeout=self._calls.timeout))
        except gexc.NotFound:
            return None
        return version_of(found)

    def versions(self, model: str | None = None) -> list[ModelVersion]:
        if model is not None:
            names = [self._model_name(model)]
        else:
            from google.cloud.aiplatform_v1 import ListModelsRequest

            request = ListModelsRequest(parent=self._calls.parent,
                                        filter=f'labels.{_MARKER}="true"', page_size=100)
            names = [m.name for m in self._calls.read("list models", lambda: list(
                self._clients.models.list_models(request=request, timeout=self._calls.timeout)))]
        found = [v for name in names for v in self._versions_of(name)]
        return sorted(found, key=lambda v: (v.created_at, v.model, int(v.version or 0)),
                      reverse=True)

    # -- registration ----------------------------------------------------------------------
    def _check(self, candidate: ModelCandidate) -> str:
        check_framework(candidate)
        image = candidate.serving_image
        if not image:
            raise UserError(f"no serving image for run {candidate.run_id} of {candidate.model}: "
                            "the pipeline image has no model server; `mlops-bot deploy` builds "
                            "one from it (mlops_bot.serving_image) before registering")
        if not candidate.artifact_uri.startswith("gs://"):
            raise UserError(f"Vertex AI serves models from Cloud Storage, and the model of run "
                            f"{candidate.run_id} is at {candidate.artifact_uri}: deploy a run "
                            "made on Vertex AI Pipelines (backend: gcp)")
        return image

    def _find_run(self, candidate: ModelCandidate) -> tuple[bool, ModelVersion | None]:
        """Whether the parent model exists, and the version of this run if it has one."""
        from google.cloud.aiplatform_v1 import ListModelVersionsRequest

        name = self._model_name(candidate.model)
        request = ListModelVersionsRequest(
            name=name, filter=f'labels.run_id="{label_value(candidate.run_id)}"', page_size=100)
        try:
            listed = self._calls.read(f"list the versions of {name}", lambda: list(
                self._clients.models.list_model_versions(request=request,
                                                         timeout=self._calls.timeout)))
        except gexc.NotFound:
            return False, None
        mine = [v for v in map(version_of, listed) if v.run_id == candidate.run_id]
        return True, min(mine, key=lambda v: int(v.version), default=None)

    def _settle(self, candidate: ModelCandidate,
                until_parent: bool = False) -> tuple[bool, ModelVersion | None]:
        """`_find_run` until it finds the run's version (or the parent model), at most
        `settle_seconds`: an upload Vertex accepted shows up when its operation ends."""
        deadline = time.monotonic() + self._settle_seconds
        while True:
            exists, found = self._find_run(candidate)
            if (found is not None or (until_parent and exists)
                    or time.monotonic() >= deadline):
                return exists, found
            time.sleep(self._calls.poll_seconds)

    def _upload(self, candidate: ModelCandidate, image: str, parent_exists: bool) -> ModelVersion:
        from google.cloud.aiplatform_v1 import UploadModelRequest

        name = self._model_name(candidate.model)
        where = {"parent_model": name} if parent_exists else {
            "model_id": model_id_for(candidate.model)}
        request = UploadModelRequest(parent=self._calls.parent, model=_model(candidate, image),
                                     **where)
        doing = f"register run {candidate.run_id} as a version of {name}"
        operation = self._calls.write(doing, lambda: self._clients.models.upload_model(
            request=request, timeout=self._calls.timeout), passthrough=(gexc.Conflict,))
        response = self._calls.wait(operation, doing, self._upload_timeout)
        registered = self.get(candidate.model, str(response.model_version_id))
        if registered is None:
            raise UserError(f"Vertex AI registered {response.model} version "
                            f"{response.model_version_id} but cannot find it: run the command "
                            "again")
        return registered

    def _versions_of(self, name: str) -> list[ModelVersion]:
        try:
            listed = self._calls.read(f"list the versions of {name}", lambda: list(
                self._clients.models.list_model_versions(name=name, timeout=self._calls.timeout)))
        except gexc.NotFound:
            return []
        return [version_of(m) for m in listed]

    def _model_name(self, model: str) -> str:
        return f"{self._calls.parent}/models/{model_id_for(model)}"


def _model(candidate: ModelCandidate, image: str) -> Model:
    from google.cloud.aiplatform_v1 import Model, ModelContainerSpec, Port

    lineage = {"run_id": candidate.run_id, "git_sha": candidate.git_sha,
               "registry_version": candidate.registry_version, "image": candidate.image,
               "framework": candidate.framework, "metrics": candidate.metrics,
               "feature_names": list(candidate.feature_names), "classes": list(candidate.classes)}
    labels = {_MARKER: "true", "pipeline": label_value(candidate.model),
              "git_sha": label_value(candidate.git_sha),
              "registry_version": label_value(candidate.registry_version),
              "run_id": label_value(candidate.run_id)}
    return Model(
        display_name=candidate.model[:128],
        description=f"Models of the {candidate.model} pipeline, registered by mlops-bot",
        version_description=json.dumps({_LINEAGE: lineage}, sort_keys=True),
        artifact_uri=candidate.artifact_uri, labels=labels,
        container_spec=ModelContainerSpec(
            image_uri=image, command=list(SERVING_COMMAND), args=list(SERVING_ARGS),
            ports=[Port(container_port=SERVING_PORT)], predict_route=PREDICT_ROUTE,
            health_route=HEALTH_ROUTE))


def version_of(model: Model) -> ModelVersion:
    """A registered version; lineage from its description, else from its labels."""
    lineage = _lineage(model.version_description)
    labels = dict(model.labels)
    created = model.version_create_time or model.create_time
    return ModelVersion(
        model=model.display_name, version=str(model.version_id),
        artifact_uri=model.artifact_uri,
        run_id=str(lineage.get("run_id") or labels.get("run_id", "")),
        git_sha=str(lineage.get("git_sha") or labels.get("git_sha", "")),
        registry_version=str(lineage.get("registry_version")
                             or labels.get("registry_version", "")),
        metrics={str(k): float(v) for k, v in (lineage.get("metrics") or {}).items()},
        aliases=tuple(model.version_aliases),
        framework=str(lineage.get("framework") or "scikit-learn"),
        feature_names=tuple(str(n) for n in lineage.get("feature_names") or ()),
        classes=tuple(lineage.get("classes") or ()),
        serving_image=model.container_spec.image_uri or None,
        image=lineage.get("image") or None,
        created_at=created.isoformat() if created else "",
        resource_name=f"{model.name}@{model.version_id}")


def _lineage(description: str) -> dict[str, Any]:
    try:
        document = json.loads(description or "{}")
    except ValueError:
        return {}  # a version registered by hand, with prose for a description
    found = document.get(_LINEAGE) if isinstance(document, dict) else None
    return found if isinstance(found, dict) else {}


if TYPE_CHECKING:
    # mypy checks VertexModelRegistry against the ModelRegistry Protocol here.
    def _satisfies_the_protocol(registry: VertexModelRegistry) -> ModelRegistry:
        return registry
