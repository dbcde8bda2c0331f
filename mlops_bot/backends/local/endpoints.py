"""Local endpoints: the serving state files `mlops-bot serve` follows, changed under an etag.

Each environment's endpoint is `<state>/endpoints/<env>.json` in the format of
`mlops_bot.serving.state` (written whole with `os.replace`). Its `revision` is the etag: every
change bumps it, and a change made from a stale read raises ConcurrentChange without writing.
The read-compare-write holds `<env>.lock`, so two promotions cannot both pass the compare.
`<env>.url` is written by a running `mlops-bot serve <env>` and names where it answers. A
promotion under way is recorded in the file's `promotion` key (model_types.PromotionIntent).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

from pydantic import StringConstraints

from mlops_bot.backends.local.files import (
    StateFileError,
    locked,
    move_aside,
    read_state,
    replace_json,
)
from mlops_bot.backends.model_types import (
    NEW_DEPLOYMENT,
    ConcurrentChange,
    DeployedModel,
    EndpointRecord,
    ModelVersion,
    PromotionIntent,
)
from mlops_bot.console import progress
from mlops_bot.errors import UserError

__all__ = ["LocalEndpoints", "deployed_model_id", "state_file_fix", "url_file"]

_Url = Annotated[str, StringConstraints(pattern=r"^https?://[^\s]+$")]
_LINEAGE = ("git_sha", "image", "registry_version", "run_id", "pipeline")


def deployed_model_id(model: ModelVersion) -> str:
    return f"{model.model}-{model.version}"


def url_file(state_dir: Path, environment: str) -> Path:
    """Where `mlops-bot serve <env>` records its URL while it runs."""
    return state_dir / "endpoints" / f"{environment}.url"


class LocalEndpoints:
    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self._folder = state_dir / "endpoints"

    def get(self, environment: str) -> EndpointRecord | None:
        document = self._read(environment)
        return None if document is None else self._record(environment, document)

    def ensure(self, environment: str, name: str) -> EndpointRecord:
        with locked(self._lock(environment)):
            document = self._read(environment)
            if document is None:
                document = {"environment": environment, "endpoint": name, "revision": 1,
                            "deployed": []}
                replace_json(self._path(environment), document)
        return self._record(environment, document)

    def deploy(self, endpoint: EndpointRecord, model: ModelVersion,
               traffic: Mapping[str, int]) -> EndpointRecord:
        new_id = deployed_model_id(model)
        entry = {"deployed_model_id": new_id, "model": model.model,
                 "model_version": int(model.version) if model.version.isdigit()
                 else model.version,
                 "artifact_uri": model.artifact_uri, "framework": model.framework,
                 "feature_names": list(model.feature_names), "classes": list(model.classes),
                 "traffic": 0, "lineage": _lineage(model)}
        self._loads(entry, endpoint.environment)  # a model that cannot load is never deployed
        with locked(self._lock(endpoint.environment)):
            document = self._current(endpoint)
            if any(e["deployed_model_id"] == new_id for e in document["deployed"]):
                raise UserError(f"{model.model} version {model.version} is already deployed to "
                                f"{endpoint.environment} as {new_id}: change its traffic instead")
            entries = [*document["deployed"], entry]
            split = {(new_id if key == NEW_DEPLOYMENT else key): value
                     for key, value in traffic.items()}
            return self._write(endpoint.environment, document, _split(entries, split))

    def set_traffic(self, endpoint: EndpointRecord, traffic: Mapping[str, int]) -> EndpointRecord:
        with locked(self._lock(endpoint.environment)):
            document = self._current(endpoint)
            return self._write(endpoint.environment, document,
                               _split(list(document["deployed"]), dict(traffic)))

    def undeploy(self, endpoint: EndpointRecord, deployed_model_id: str) -> EndpointRecord:
        with locked(self._lock(endpoint.environment)):
            document = self._current(endpoint)
            entries = list(document["deployed"])
            found = [e for e in entries if e["deployed_model_id"] == deployed_model_id]
            if not found:
                raise UserError(f"{deployed_model_id} is not deployed to {endpoint.environment}")
            if found[0]["traffic"] and len(entries) > 1:  # the last one may go (as on Vertex)
                raise UserError(f"{deployed_model_id} still gets {found[0]['traffic']}% of "
                                f"{endpoint.environment}'s traffic: move it elsewhere first")
            kept = [e for e in entries if e["deployed_model_id"] != deployed_model_id]
            return self._write(endpoint.environment, document, kept)

    def set_intent(self, endpoint: EndpointRecord,
                   intent: PromotionIntent | None) -> EndpointRecord:
        with locked(self._lock(endpoint.environment)):
            document = {k: v for k, v in self._current(endpoint).items() if k != "promotion"}
            if intent is not None:
                document["promotion"] = dataclasses.asdict(intent)
            return self._write(endpoint.environment, document, list(document["deployed"]))

    def predict(self, endpoint: EndpointRecord, instances: list[Any],
                deployed_model_id: str | None = None) -> list[Any]:
        from mlops_bot.serving.isolation import predict_isolated
        from mlops_bot.serving.models import ModelLoadError, PredictionError, RequestError

        document = self._read(endpoint.environment) or {"revision": 0, "deployed": []}
        entries = document["deployed"]
        if deployed_model_id is None:
            serving = self._record(endpoint.environment, document).serving()
            deployed_model_id = serving.deployed_model_id if serving else None
        chosen = [e for e in entries if e["deployed_model_id"] == deployed_model_id]
        if not chosen:
            raise UserError(f"endpoint {endpoint.name} ({endpoint.environment}) has no deployed "
                            f"model {deployed_model_id or 'with traffic'} to predict with")
        deployed = self._deployed(chosen[0], endpoint.environment)
        try:
            # A model file is a pickle a pipeline wrote: it is unpickled in a confined process,
            # never in this one, which may hold a token and credentials.
            predictions: list[Any] = predict_isolated(deployed, instances)
        except ModelLoadError as error:
            raise UserError(f"cannot deploy to {endpoint.environment}: {error}") from None
        except (RequestError, PredictionError) as error:
            raise UserError(f"endpoint {endpoint.name} ({endpoint.environment}): "
                            f"{deployed.deployed_model_id} cannot predict the sample instances: "
                            f"{error}") from None
        return predictions

    def _loads(self, entry: dict[str, Any], environment: str) -> None:
        """Loads the entry's model in the confined process, or says why it cannot."""
        from mlops_bot.serving.isolation import predict_isolated
        from mlops_bot.serving.models import ModelLoadError

        try:
            predict_isolated(self._deployed(entry, environment), [])
        except ModelLoadError as error:
            raise UserError(f"cannot deploy to {environment}: {error}") from None

    def _deployed(self, entry: dict[str, Any], environment: str) -> Any:
        """The entry as the serving code reads it (so what loads here loads in `serve`)."""
        from mlops_bot.serving.state import StateError, parse_state

        try:
            state = parse_state(json.dumps({"environment": environment, "revision": 1,
                                            "deployed": [{**entry, "traffic": 100}]}),
                                f"the deployment of {entry['deployed_model_id']}")
        except StateError as error:
            raise UserError(f"cannot deploy to {environment}: {error}") from None
        return state.deployed[0]

    def _url(self, environment: str) -> str | None:
        """Where a running `serve` answers; a garbled URL file is ignored (serve rewrites it)."""
        path = url_file(self.state_dir, environment)
        fix = f"{move_aside(path)}; the next `mlops-bot serve {environment}` writes it again"
        try:
            url: str | None = read_state(path, _Url, fix, text=True)
        except StateFileError as error:
            progress(f"mlops-bot: warning: ignored {environment}'s serving URL: {error}")
            return None
        return url

    def _path(self, environment: str) -> Path:
        return self._folder / f"{environment}.json"

    def _lock(self, environment: str) -> Path:
        return self._folder / f"{environment}.lock"

    def _read(self, environment: str) -> dict[str, Any] | None:
        """The endpoint's state file, checked as `serve` checks it; None when there is none."""
        from mlops_bot.serving.state import StateError, parse_state

        path = self._path(environment)
        fix = state_file_fix(path, environment)
        document: dict[str, Any] | None = read_state(path, dict[str, Any], fix)
        if document is not None:
            try:
                parse_state(json.dumps(document), str(path))
            except StateError as error:
                raise StateFileError(f"{error}: {fix}") from None
        return document

    def _current(self, endpoint: EndpointRecord) -> dict[str, Any]:
        """The document on disk, if it is still the revision `endpoint` was read at."""
        document = self._read(endpoint.environment)
        revision = None if document is None else str(document["revision"])
        if document is None or revision != endpoint.etag:
            raise ConcurrentChange(
                f"the {endpoint.environment} endpoint changed while this ran (revision "
                f"{endpoint.etag} was read, it is now {revision or 'gone'}): nothing was "
                "overwritten; look at `mlops-bot endpoints show "
                f"{endpoint.environment}` and run the command again")
        return document

    def _write(self, environment: str, document: dict[str, Any],
               entries: list[dict[str, Any]]) -> EndpointRecord:
        updated = {**document, "revision": int(document["revision"]) + 1, "deployed": entries}
        replace_json(self._path(environment), updated)
        return self._record(environment, updated)

    def _record(self, environment: str, document: dict[str, Any]) -> EndpointRecord:
        entries = document.get("deployed") or []
        deployed = tuple(DeployedModel(
            deployed_model_id=e["deployed_model_id"], model=str(e.get("model", "")),
            model_version=str(e.get("model_version", "")),
            lineage={k: str(v) for k, v in (e.get("lineage") or {}).items()})
            for e in entries)
        url = self._url(environment)
        return EndpointRecord(
            environment=environment, name=str(document.get("endpoint", "")),
            etag=str(document["revision"]), deployed=deployed,
            traffic={e["deployed_model_id"]: int(e["traffic"]) for e in entries},
            url=url or None, resource_name=str(self._path(environment)),
            intent=self._intent(environment, document.get("promotion")))

    def _intent(self, environment: str, recorded: Any) -> PromotionIntent | None:
        if recorded is None:
            return None
        try:
            intent = PromotionIntent(**recorded)
            if not all(type(v) is int for v in intent.traffic.values()):
                raise TypeError("a share is not a whole number")
        except (TypeError, AttributeError) as error:
            raise UserError(f"{self._path(environment)} records a promotion that cannot be read "
                            f"({error}): look at its `promotion` key, put the traffic split back "
                            "by hand if needed, and remove the key") from None
        return intent


def state_file_fix(path: Path, environment: str) -> str:
    """The fix for a bad endpoint state file (what `serve` and the promotion say)."""
    return (f"{move_aside(path)}; the next `mlops-bot deploy {environment}` writes it again "
            f"(until then nothing is deployed to {environment})")


def _split(entries: list[dict[str, Any]], traffic: dict[str, int]) -> list[dict[str, Any]]:
    """`entries` with `traffic` applied exactly (unnamed ones get 0), checked like Vertex does."""
    known = {e["deployed_model_id"] for e in entries}
    unknown = sorted(set(traffic) - known)
    if unknown:
        raise UserError(f"the traffic split names {', '.join(unknown)}, which is not deployed")
    if any(type(v) is not int or not 0 <= v <= 100 for v in traffic.values()):
        raise UserError(f"traffic percentages must be whole numbers from 0 to 100: {traffic}")
    if entries and sum(traffic.values()) != 100:
        raise UserError(f"the traffic split must sum to 100, not {sum(traffic.values())}: "
                        f"{traffic}")
    return [{**e, "traffic": traffic.get(e["deployed_model_id"], 0)} for e in entries]


def _lineage(model: ModelVersion) -> dict[str, str]:
    values = {"git_sha": model.git_sha, "image": model.image or "",
              "registry_version": model.registry_version, "run_id": model.run_id,
              "pipeline": model.model, "model_version": model.version}
    return {k: v for k, v in values.items() if v and (k in _LINEAGE or k == "model_version")}
