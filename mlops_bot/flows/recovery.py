"""Finishing what a killed promotion or rollback left half-done, before anything else.

A promotion records on the endpoint the split it is about to change (a PromotionIntent, written
by EndpointChanges.begin) and removes the record when it is done or has put the split back. A
record found by the next deploy or rollback therefore means its process was killed (SIGKILL, a
runner that vanished) in between: the split it recorded is put back and the candidate
undeployed. When that split can no longer be put back because its model was undeployed, the
promotion had already given the candidate all the traffic: only its aliases were left to move,
and they are moved, so that a rollback goes back to the model that served before.

Callers hold the environment's lock: a record is never another live promotion's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from mlops_bot.console import progress
from mlops_bot.flows.traffic import EndpointChanges

if TYPE_CHECKING:
    from mlops_bot.backends.factory import Backends
    from mlops_bot.backends.model_types import DeployedModel, ModelRegistry
    from mlops_bot.flows.results.promote import TrafficStep

__all__ = ["Recovered", "move_aliases", "previous_alias", "recover"]


@dataclass(frozen=True)
class Recovered:
    message: str  # what was found and done, one sentence
    restored: bool  # the recorded split is back (else: completed, or could not be restored)
    traffic_before: dict[str, int]  # as the killed process left it
    traffic_after: dict[str, int]


def previous_alias(environment: str) -> str:
    return f"{environment}-previous"


def move_aliases(models: ModelRegistry, environment: str, serving: DeployedModel | None,
                 model: str, version: str) -> None:
    """`<env>` names `version` of `model` now, `<env>-previous` the version that served before
    (when it is a version of the same model)."""
    if serving is not None and serving.model == model and serving.model_version != version:
        models.set_aliases(model, serving.model_version, [previous_alias(environment)])
    models.set_aliases(model, version, [environment])


def recover(backends: Backends, environment: str,
            steps: list[TrafficStep]) -> Recovered | None:
    """Put the environment's endpoint back as a killed promotion recorded it; what was done, or
    None when nothing was left half-done."""
    record = backends.endpoints.get(environment)
    intent = record.intent if record is not None else None
    if record is None or intent is None:
        return None
    what = (f"a {intent.action} of {intent.candidate} to {environment} (started "
            f"{intent.started_at or 'at an unknown time'}) stopped half-way")
    progress(f"mlops-bot: {what}: putting its endpoint back first")
    changes = EndpointChanges(backends.endpoints, record, steps, before=intent.traffic)
    why = changes.restore()
    if why is None:
        changes.finish()
        split = ", ".join(f"{k} {v}%" for k, v in changes.record.traffic.items()) or "nothing"
        return Recovered(f"{what}: the traffic split it recorded was put back ({split})", True,
                         dict(record.traffic), dict(changes.record.traffic))
    return _past_restoring(backends, changes, what, why, dict(record.traffic))


def _past_restoring(backends: Backends, changes: EndpointChanges, what: str, why: str,
                    before: dict[str, int]) -> Recovered:
    environment = changes.record.environment
    serving = changes.record.serving()
    if serving is not None and changes.record.traffic.get(serving.deployed_model_id) == 100:
        # Past the point of no return: the candidate had all the traffic and the previous model
        # was undeployed; the aliases a rollback reads were all that was left to do.
        held = _alias_holder(backends.models, serving.model, environment)
        move_aliases(backends.models, environment, held, serving.model, serving.model_version)
        changes.finish()
        return Recovered(f"{what} after giving {serving.model} version {serving.model_version} "
                         "all the traffic and undeploying the model before it, so it was "
                         f"completed; `mlops-bot rollback {environment}` goes back", False,
                         before, dict(changes.record.traffic))
    changes.finish()
    return Recovered(f"{what} and its traffic split could not be put back ({why}): look at "
                     f"`mlops-bot endpoints show {environment}`", False, before,
                     dict(changes.record.traffic))


def _alias_holder(models: ModelRegistry, model: str, environment: str) -> DeployedModel | None:
    """The version the `<env>` alias still names (the one that served before), as the serving
    model `move_aliases` takes."""
    from mlops_bot.backends.model_types import DeployedModel

    held = next((v for v in models.versions(model) if environment in v.aliases), None)
    return None if held is None else DeployedModel("", held.model, held.version)
