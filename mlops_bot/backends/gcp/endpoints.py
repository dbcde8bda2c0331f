"""Vertex AI Endpoints (GAPIC `EndpointServiceClient` and `PredictionServiceClient`, REST).

An environment's endpoint is found, re-read and shown as a record by `endpoint_lookup`; this
module changes it (create, deploy, traffic, undeploy) and predicts with it. Every change is
conditional on the etag the caller read: a traffic change sends it (Vertex answers ABORTED, or
FAILED_PRECONDITION, when it is stale), and deployModel / undeployModel, which take no etag, are
preceded by a re-read of the endpoint whose etag must still be the one read. A new model is
deployed with `traffic_split` key "0" standing for it (Vertex's convention, as NEW_DEPLOYMENT) on
dedicated resources (`machine_type`, `min_replicas`..`max_replicas`).

A write that fails without saying whether Vertex applied it (a 5xx, a timeout) is followed by a
re-read: the change is there (done), or the etag is unchanged (sent again), or something else
changed the endpoint (ConcurrentChange). A deployModel that fails as an operation (the container
never became ready) changes nothing on the endpoint, as on Vertex.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, NoReturn

from google.api_core import exceptions as gexc

from mlops_bot.backends.gcp.endpoint_intent import intent_labels
from mlops_bot.backends.gcp.endpoint_lookup import (
    ENVIRONMENT_LABEL,
    EndpointLookup,
    concurrent_change,
    deployed_as,
    named,
)
from mlops_bot.backends.gcp.models import model_id_for
from mlops_bot.backends.gcp.vertex_calls import (
    OperationFailed,
    OperationTimedOut,
    Unsure,
    VertexCalls,
    label_value,
    message_of,
)
from mlops_bot.backends.model_types import (
    NEW_DEPLOYMENT,
    EndpointRecord,
    EndpointService,
    ModelVersion,
    PromotionIntent,
)
from mlops_bot.errors import UserError

if TYPE_CHECKING:
    from google.cloud.aiplatform_v1 import Endpoint

    from mlops_bot.backends.gcp.clients import GcpClients

__all__ = ["VertexEndpoints"]


class VertexEndpoints:
    def __init__(self, clients: GcpClients, *, machine_type: str = "n1-standard-2",
                 min_replicas: int = 1, max_replicas: int | None = None,
                 request_timeout: float = 60.0, deploy_timeout: float = 1800.0,
                 poll_seconds: float = 5.0, settle_seconds: float = 60.0, write_tries: int = 3,
                 smoke_tries: int = 50) -> None:
        self._clients = clients
        self._calls = VertexCalls(clients.config, request_timeout=request_timeout,
                                  poll_seconds=poll_seconds)
        self._machine, self._replicas = machine_type, (min_replicas, max_replicas or min_replicas)
        self._deploy_timeout, self._settle_seconds = deploy_timeout, settle_seconds
        self._write_tries, self._smoke_tries = write_tries, smoke_tries
        self._lookup = EndpointLookup(clients, self._calls)

    # -- EndpointService -------------------------------------------------------------------
    def get(self, environment: str) -> EndpointRecord | None:
        found = self._lookup.find(environment)
        return None if found is None else self._lookup.record(environment, found)

    def ensure(self, environment: str, name: str) -> EndpointRecord:
        from google.cloud.aiplatform_v1 import Endpoint

        wanted = Endpoint(display_name=name, labels={
            ENVIRONMENT_LABEL: label_value(environment), "mlops_bot": "true"})
        doing = f"create endpoint {name} for {environment}"
        for _ in range(self._write_tries):
            found = self._lookup.find(environment)
            if found is not None:
                return self._lookup.record(environment, found)
            try:
                operation = self._calls.write(
                    doing, lambda: self._clients.endpoints.create_endpoint(
                        parent=self._calls.parent, endpoint=wanted, timeout=self._calls.timeout))
                created = self._calls.wait(operation, doing, self._deploy_timeout)
                return self._lookup.record(environment, created)
            except Unsure:
                found = self._wait_for(lambda: self._lookup.find(environment))
                if found is not None:
                    return self._lookup.record(environment, found)
        raise UserError(f"could not {doing} in Vertex AI after {self._write_tries} tries; run "
                        "the command again")

    def deploy(self, endpoint: EndpointRecord, model: ModelVersion,
               traffic: Mapping[str, int]) -> EndpointRecord:
        from google.cloud import aiplatform_v1 as v1

        current = self._lookup.current(endpoint)
        ref = model.resource_name or (f"{self._calls.parent}/models/{model_id_for(model.model)}"
                                      f"@{model.version}")
        if deployed_as(current, ref) is not None:
            raise UserError(f"{model.model} version {model.version} is already deployed to "
                            f"{named(endpoint)}: change its traffic instead")
        split = _split({d.id for d in current.deployed_models} | {NEW_DEPLOYMENT}, traffic)
        request = v1.DeployModelRequest(
            endpoint=current.name, traffic_split=split, deployed_model=v1.DeployedModel(
                model=ref, display_name=f"{model.model}-v{model.version}"[:128],
                dedicated_resources=v1.DedicatedResources(
                    machine_spec=v1.MachineSpec(machine_type=self._machine),
                    min_replica_count=self._replicas[0], max_replica_count=self._replicas[1])))
        doing = f"deploy {model.model} version {model.version} to {named(endpoint)}"
        for _ in range(self._write_tries):
            try:
                operation = self._calls.write(doing, lambda: self._clients.endpoints.deploy_model(
                    request=request, timeout=self._calls.timeout))
                self._calls.wait(operation, doing, self._deploy_timeout)
                return self._lookup.record(endpoint.environment, self._lookup.read(current.name))
            except OperationFailed as failure:
                raise UserError(f"{failure}; the endpoint was left as it was: see the "
                                "model's container logs in Cloud Logging") from failure
            except OperationTimedOut as late:
                self._take_back(late, current, ref, doing)
            except Unsure:
                found = self._wait_for(lambda: deployed_as(self._lookup.read(current.name), ref))
                if found is not None:
                    return self._lookup.record(endpoint.environment,
                                               self._lookup.read(current.name))
                self._lookup.current(endpoint)  # another change meanwhile: ConcurrentChange
        raise UserError(f"could not {doing} after {self._write_tries} tries; run the command "
                        "again")

    def set_traffic(self, endpoint: EndpointRecord, traffic: Mapping[str, int]) -> EndpointRecord:
        from google.cloud.aiplatform_v1 import Endpoint
        from google.protobuf import field_mask_pb2

        split = _split({d.deployed_model_id for d in endpoint.deployed}, traffic)
        body = Endpoint(name=endpoint.resource_name, traffic_split=split, etag=endpoint.etag)
        mask = field_mask_pb2.FieldMask(paths=["traffic_split"])
        doing = f"set the traffic of {named(endpoint)} to {split}"
        return self._update(endpoint, body, mask, doing, lambda current: {
            k: v for k, v in current.traffic_split.items() if v} == {
            k: v for k, v in split.items() if v})

    def set_intent(self, endpoint: EndpointRecord,
                   intent: PromotionIntent | None) -> EndpointRecord:
        from google.cloud.aiplatform_v1 import Endpoint
        from google.protobuf import field_mask_pb2

        current = self._lookup.current(endpoint)
        labels = intent_labels(current.labels, intent)
        body = Endpoint(name=endpoint.resource_name, labels=labels, etag=endpoint.etag)
        mask = field_mask_pb2.FieldMask(paths=["labels"])
        doing = (f"record the {intent.action} under way on {named(endpoint)}" if intent
                 else f"remove the record of a promotion from {named(endpoint)}")
        return self._update(endpoint, body, mask, doing,
                            lambda now: dict(now.labels) == labels)

    def _update(self, endpoint: EndpointRecord, body: Endpoint, mask: Any, doing: str,
                applied: Callable[[Endpoint], bool]) -> EndpointRecord:
        """An etag-guarded update_endpoint; a lost answer is judged by `applied` on a re-read."""
        for _ in range(self._write_tries):
            try:
                updated = self._calls.write(doing, lambda: self._clients.endpoints.update_endpoint(
                    endpoint=body, update_mask=mask, timeout=self._calls.timeout),
                    passthrough=(gexc.Conflict, gexc.BadRequest))
                return self._lookup.record(endpoint.environment, updated)
            except (gexc.Conflict, gexc.BadRequest) as error:
                if _stale_etag(error):
                    now = self._lookup.read(endpoint.resource_name).etag
                    raise concurrent_change(endpoint, now) from error
                raise UserError(self._calls.sentence(doing, error)) from error
            except Unsure:
                current = self._lookup.read(endpoint.resource_name)
                if applied(current):
                    return self._lookup.record(endpoint.environment, current)
                self._lookup.current(endpoint)
        raise UserError(f"could not {doing} after {self._write_tries} tries; run the command "
                        "again")

    def undeploy(self, endpoint: EndpointRecord, deployed_model_id: str) -> EndpointRecord:
        current = self._lookup.current(endpoint)
        ids = [d.id for d in current.deployed_models]
        if deployed_model_id not in ids:
            raise UserError(f"{deployed_model_id} is not deployed to {named(endpoint)}")
        share = int(current.traffic_split.get(deployed_model_id, 0))
        if share and len(ids) > 1:  # the last one may go (Vertex allows it)
            raise UserError(f"{deployed_model_id} still gets {share}% of {named(endpoint)}'s "
                            "traffic: move it elsewhere first")
        doing = f"undeploy {deployed_model_id} from {named(endpoint)}"
        for _ in range(self._write_tries):
            try:
                operation = self._calls.write(
                    doing, lambda: self._clients.endpoints.undeploy_model(
                        endpoint=current.name, deployed_model_id=deployed_model_id,
                        timeout=self._calls.timeout))
                self._calls.wait(operation, doing, self._deploy_timeout)
                return self._lookup.record(endpoint.environment, self._lookup.read(current.name))
            except Unsure:
                after = self._wait_for(
                    lambda: _gone(self._lookup.read(current.name), deployed_model_id))
                if after is not None:
                    return self._lookup.record(endpoint.environment, after)
                self._lookup.current(endpoint)
        raise UserError(f"could not {doing} after {self._write_tries} tries; run the command "
                        "again")

    def predict(self, endpoint: EndpointRecord, instances: list[Any],
                deployed_model_id: str | None = None) -> list[Any]:
        """Predictions from the endpoint, or from one of its deployed models.

        Vertex AI's PredictionService (v1 `predict`) routes every request by the endpoint's
        traffic split: a request cannot name a deployed model (only the `invoke` routes of
        dedicated and Private Service Connect endpoints can). So for one deployed model, requests
        are sent until one is answered by it (each answer names its `deployedModelId`), at most
        `smoke_tries` times; a deployed model without traffic cannot be reached this way.
        """
        if deployed_model_id is not None and not endpoint.traffic.get(deployed_model_id):
            raise UserError(f"{deployed_model_id} gets no traffic on {named(endpoint)}: Vertex "
                            "AI routes predictions by the traffic split only, so give it a share "
                            "before predicting with it")
        tries = 1 if deployed_model_id is None else self._smoke_tries
        doing = f"predict with {named(endpoint)}"
        for _ in range(tries):
            try:
                answer = self._calls.read(doing, lambda: self._clients.prediction.predict(
                    endpoint=endpoint.resource_name, instances=instances,
                    timeout=self._calls.timeout))
            except (gexc.NotFound, UserError) as error:
                cause = error.__cause__ if isinstance(error, UserError) else error
                detail = message_of(cause) if isinstance(cause, Exception) else str(error)
                raise UserError(f"{named(endpoint)} cannot predict the sample "
                                f"instances{_by(deployed_model_id)}: {detail}") from error
            if deployed_model_id in (None, answer.deployed_model_id):
                return [_plain(p) for p in answer.predictions]
        share = endpoint.traffic.get(deployed_model_id or "", 0)
        raise UserError(f"none of {tries} predictions on {named(endpoint)} was answered by "
                        f"{deployed_model_id} ({share}% of the "
                        "traffic): raise its share, or run the smoke test again")

    # -- waiting for a write to show -------------------------------------------------------
    def _take_back(self, late: OperationTimedOut, before: Endpoint, ref: str,
                   doing: str) -> NoReturn:
        """A deploy past its deadline must not land later and give an untested model its
        canary share: cancel it, wait (bounded) for it to end, undeploy the model if it landed,
        with the split put back as it was."""
        operation = late.operation
        with contextlib.suppress(Exception):  # not every operation can be cancelled
            operation.cancel()
        deadline = time.monotonic() + max(self._settle_seconds, self._deploy_timeout)
        while not _done(operation):
            if time.monotonic() >= deadline:
                raise UserError(f"{late}. It could not be stopped and may still give the model "
                                f"its share of {before.display_name}: check `mlops-bot "
                                "endpoints show` and roll back if it does") from late
            time.sleep(self._calls.poll_seconds)
        landed = deployed_as(self._lookup.read(before.name), ref)
        if landed is not None:
            undo = f"undeploy {landed.id}, which landed after the deadline"
            operation = self._calls.write(undo, lambda: self._clients.endpoints.undeploy_model(
                endpoint=before.name, deployed_model_id=landed.id,
                traffic_split=dict(before.traffic_split), timeout=self._calls.timeout))
            self._calls.wait(operation, undo, self._deploy_timeout)
        raise UserError(f"could not {doing} in time: it was not done after "
                        f"{self._deploy_timeout:g} s and was "
                        + ("undone" if landed is not None else "stopped")) from late

    def _wait_for(self, look: Any) -> Any:
        """`look()` until it finds something or `settle_seconds` pass (a write that Vertex
        accepted shows up when its operation ends)."""
        deadline = time.monotonic() + self._settle_seconds
        while True:
            found = look()
            if found is not None or time.monotonic() >= deadline:
                return found
            time.sleep(self._calls.poll_seconds)


def _split(known: set[str], traffic: Mapping[str, int]) -> dict[str, int]:
    """`traffic` checked as Vertex checks it, with the messages the local endpoints give."""
    unknown = sorted(set(traffic) - known)
    if unknown:
        raise UserError(f"the traffic split names {', '.join(unknown)}, which is not deployed")
    if any(type(v) is not int or not 0 <= v <= 100 for v in traffic.values()):
        raise UserError(f"traffic percentages must be whole numbers from 0 to 100: "
                        f"{dict(traffic)}")
    if known and sum(traffic.values()) != 100:
        raise UserError(f"the traffic split must sum to 100, not {sum(traffic.values())}: "
                        f"{dict(traffic)}")
    return dict(traffic)


def _stale_etag(error: gexc.GoogleAPICallError) -> bool:
    """ABORTED (409) is what AIP-154 prescribes for a stale etag; older services answer
    FAILED_PRECONDITION (400) instead."""
    response: Any = getattr(error, "response", None)
    status = ""
    with contextlib.suppress(Exception):  # not a JSON error body: judge by code and message
        status = str(response.json()["error"].get("status", ""))
    return (isinstance(error, gexc.Conflict) or status in ("ABORTED", "FAILED_PRECONDITION")
            or "etag" in message_of(error).lower())


def _gone(endpoint: Endpoint, deployed_model_id: str) -> Endpoint | None:
    return None if any(d.id == deployed_model_id for d in endpoint.deployed_models) else endpoint


def _done(operation: Any) -> bool:
    try:
        return bool(operation.done())
    except Exception:  # a poll that fails is asked again until the deadline
        return False


def _by(deployed_model_id: str | None) -> str:
    return f" with {deployed_model_id}" if deployed_model_id else ""


def _plain(value: Any) -> Any:
    """A prediction as plain JSON values (proto-plus hands back its own containers)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple) or type(value).__name__ == "RepeatedComposite":
        return [_plain(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)  # JSON numbers travel as doubles: class 2 comes back as 2.0
    return value


if TYPE_CHECKING:
    # mypy checks VertexEndpoints against the EndpointService Protocol here.
    def _satisfies_the_protocol(service: VertexEndpoints) -> EndpointService:
        return service
