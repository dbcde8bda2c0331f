"""Promotion and rollback of a model to an environment's endpoint.

promote: run -> model -> gate (thresholds, champion) -> register -> endpoint -> canary -> smoke
test -> 100% -> undeploy the previous model -> aliases. Any failure after the endpoint was
touched puts its traffic split back exactly as it was read (and undeploys the candidate), and so
does an interruption (Ctrl-C, or SIGTERM inside mlops_bot.interrupts.stoppable); a concurrent
change to the endpoint stops everything without writing. The split to put back is recorded on
the endpoint before the first change, so what a killed process left half-done is put back by
the next promotion or rollback before anything else (mlops_bot.flows.recovery). The
environment's aliases record the history a rollback needs: `<env>` names the version serving
it, `<env>-previous` the one that served it before.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from mlops_bot.backends.model_types import (
    NEW_DEPLOYMENT,
    ConcurrentChange,
    DeployedModel,
    EndpointRecord,
    ModelVersion,
)
from mlops_bot.backends.run_metrics import sources_of
from mlops_bot.errors import UserError
from mlops_bot.flows.gate import check_gate
from mlops_bot.flows.promote_inputs import (
    Refusal,
    champion_metrics,
    environment_of,
    find_run,
    model_candidate,
    smoke_instances,
)
from mlops_bot.flows.recovery import move_aliases, previous_alias, recover
from mlops_bot.flows.results.promote import PromotionResult, RollbackResult, TrafficStep
from mlops_bot.flows.traffic import EndpointChanges, split_with
from mlops_bot.serving_image import serving_candidate

if TYPE_CHECKING:
    from mlops_bot.backends.factory import Backends
    from mlops_bot.config import Config

__all__ = ["previous_alias", "promote", "rollback"]


class _SmokeFailed(UserError):
    pass


def promote(backends: Backends, config: Config, environment: str, pipeline: str, *,
            repo_root: Path, sha: str | None = None, run_id: str | None = None,
            traffic: int | None = None) -> PromotionResult:
    env = environment_of(config, environment)
    canary = env.canary_percent if traffic is None else traffic
    if not 1 <= canary <= 100:
        raise UserError(f"--traffic {canary} must be a percentage from 1 to 100")
    result = PromotionResult(environment, pipeline, "promoted", "", endpoint=env.endpoint)
    try:
        run = find_run(backends, pipeline, repo_root, sha, run_id)
        result.git_sha, result.run_id, result.registry_version = (run.git_sha, run.run_id,
                                                                   run.version)
        candidate = model_candidate(backends, run)
    except Refusal as refusal:
        result.status, result.message = refusal.status, str(refusal)
        return result
    result.image = candidate.image
    recovered = recover(backends, environment, result.steps)
    if recovered is not None:
        result.notes.append(recovered.message)
    current = backends.endpoints.get(environment)
    serving = current.serving() if current else None
    if current is not None:
        result.traffic_before = result.traffic_after = dict(current.traffic)
        result.url = current.url
    if serving is not None:
        result.previous = _describe(serving)
    if current is not None and serving is not None and _serves_run(current, serving, run.run_id):
        result.status, result.model_version = "unchanged", serving.model_version
        result.deployed_model_id = serving.deployed_model_id
        result.message = (f"{pipeline} version {serving.model_version} from run {run.run_id} "
                          f"already serves 100% of {environment}: nothing to do")
        return result
    result.gate = check_gate(candidate.metrics, champion_metrics(backends, current), env,
                             sources=sources_of(run.artifacts))
    if not result.gate.passed:
        result.status = "gate_failed"
        result.message = (f"run {run.run_id} of {pipeline} is not promoted to {environment}: "
                          + "; ".join(result.gate.reasons))
        return result
    instances, source = smoke_instances(config, env, pipeline, repo_root)
    # The image that serves it (recorded by the push on gcp); a framework nothing serves stops here.
    candidate = serving_candidate(config, backends.registry, candidate)
    version = backends.models.register(candidate)
    backends.models.set_aliases(pipeline, version.version, [f"sha-{version.short_sha}"])
    result.model_version = version.version
    record = backends.endpoints.ensure(environment, env.endpoint)
    if current is None:
        result.steps.append(TrafficStep("create", {}, record.etag, record.name))
    result.url = record.url
    if current is not None and record.etag != current.etag:  # the champion read is stale
        result.status = "concurrent_change"
        result.message = (f"the {environment} endpoint changed while this ran (revision "
                          f"{current.etag} was read, it is now {record.etag}): nothing was "
                          "changed; run the command again")
        return result
    changes = EndpointChanges(backends.endpoints, record, result.steps)
    try:
        changes.begin("deploy", f"{version.model} version {version.version}")
        _roll_out(backends, changes, version, canary, serving, instances, source, result)
        changes.finish()
        _follow(backends, config, changes.record, result.notes)
    except ConcurrentChange as error:
        result.status, result.message = "concurrent_change", str(error)
        changes.abandon()
    except UserError as error:
        result.status = "smoke_failed" if isinstance(error, _SmokeFailed) else "deploy_failed"
        result.message = f"{error}; {_restored(changes)}"
    except BaseException as error:
        # Interrupted, a bug or an untranslated backend error: still leave it as it was.
        error.add_note(f"mlops-bot: {_undone(backends, changes)}")
        raise
    result.traffic_after = _traffic_after(backends, changes, result.status)
    return result


def _roll_out(backends: Backends, changes: EndpointChanges, version: ModelVersion, canary: int,
              serving: DeployedModel | None, instances: list[object] | None, source: str,
              result: PromotionResult) -> None:
    existing = _deployed_id(changes.record, version)  # a promotion stopped half-way before
    if existing is None:
        candidate = changes.deploy(version, split_with(changes.before, NEW_DEPLOYMENT, canary))
    else:
        candidate = existing
        changes.set_traffic(split_with(changes.before, candidate, canary), "canary")
    result.deployed_model_id = candidate
    result.smoke = _smoke(backends, changes.record, candidate, instances, source)
    if result.smoke["instances"] == 0:
        result.notes.append(f"smoke test: no sample instances ({source}); only checked that "
                            "the model loads")
    if changes.record.traffic.get(candidate) != 100:
        changes.set_traffic({candidate: 100})
    for other in [d.deployed_model_id for d in changes.record.deployed]:
        if other != candidate:
            changes.undeploy(other)
    environment = changes.record.environment
    move_aliases(backends.models, environment, serving, version.model, version.version)
    result.message = (f"{version.model} version {version.version} (run {version.run_id}, commit "
                      f"{version.short_sha}) now serves 100% of {environment}"
                      + (f" at {changes.record.url}" if changes.record.url else ""))


def _smoke(backends: Backends, record: EndpointRecord, deployed_model_id: str,
           instances: list[object] | None, source: str) -> dict[str, object]:
    if instances is None:
        return {"source": None, "instances": 0, "predictions": 0}
    try:
        predictions = backends.endpoints.predict(record, list(instances), deployed_model_id)
    except UserError as error:
        raise _SmokeFailed(f"smoke test failed: {error}") from None
    if len(predictions) != len(instances):
        raise _SmokeFailed(f"smoke test failed: {deployed_model_id} answered "
                           f"{len(predictions)} predictions for the {len(instances)} instances "
                           f"of {source}")
    return {"source": source, "instances": len(instances), "predictions": len(predictions),
            "sample": predictions[:3]}


def rollback(backends: Backends, config: Config, environment: str, pipeline: str | None, *,
             repo_root: Path) -> RollbackResult:
    """Traffic back to the version that served before (redeployed if needed); no rebuild."""
    env = environment_of(config, environment)
    result = RollbackResult(environment, pipeline, "rolled_back", "", endpoint=env.endpoint)
    recovered = recover(backends, environment, result.steps)
    if recovered is not None and recovered.restored:
        # What served before the last promotion serves again: that is the rollback.
        result.message = f"{environment} rolled back: {recovered.message}"
        result.traffic_before, result.traffic_after = (recovered.traffic_before,
                                                       recovered.traffic_after)
        now = backends.endpoints.get(environment)
        if now is not None:
            _follow(backends, config, now, result.notes)
        return result
    if recovered is not None:
        result.notes.append(recovered.message)
    current = backends.endpoints.get(environment)
    serving = current.serving() if current else None
    if current is None or serving is None:
        result.status = "nothing_deployed"
        result.message = f"nothing is deployed to {environment}: there is nothing to roll back"
        return result
    result.traffic_before = result.traffic_after = dict(current.traffic)
    result.url = current.url
    model = pipeline or serving.model
    result.pipeline = model
    result.from_version = serving.model_version if serving.model == model else None
    target = next((v for v in backends.models.versions(model)
                   if previous_alias(environment) in v.aliases), None)
    if target is None or (model, target.version) == (serving.model, serving.model_version):
        result.status = "no_previous"
        result.message = (f"no earlier version of {model} served {environment}: there is "
                          "nothing to roll back to")
        return result
    result.to_version = target.version
    result.to_lineage = {"git_sha": target.git_sha, "run_id": target.run_id,
                         "registry_version": target.registry_version, "image": target.image or ""}
    changes = EndpointChanges(backends.endpoints, current, result.steps)
    try:
        changes.begin("rollback", f"{model} version {target.version}")
        _roll_back(backends, changes, target, serving)
        changes.finish()
        _follow(backends, config, changes.record, result.notes)
        result.message = (f"{environment} rolled back from {serving.model} version "
                          f"{serving.model_version} to {model} version {target.version} "
                          f"(run {target.run_id}, commit {target.short_sha})")
    except ConcurrentChange as error:
        result.status, result.message = "concurrent_change", str(error)
        changes.abandon()
    except UserError as error:
        result.status, result.message = "deploy_failed", f"{error}; {_restored(changes)}"
    except BaseException as error:
        error.add_note(f"mlops-bot: {_undone(backends, changes)}")
        raise
    result.traffic_after = _traffic_after(backends, changes, result.status)
    return result


def _roll_back(backends: Backends, changes: EndpointChanges, target: ModelVersion,
               serving: DeployedModel) -> None:
    deployed = _deployed_id(changes.record, target)
    if deployed is None:
        deployed = changes.deploy(target, {NEW_DEPLOYMENT: 100})
    else:
        changes.set_traffic({deployed: 100})
    for other in [d.deployed_model_id for d in changes.record.deployed]:
        if other != deployed:
            changes.undeploy(other)
    move_aliases(backends.models, changes.record.environment, serving, target.model,
                 target.version)


def _follow(backends: Backends, config: Config, record: EndpointRecord, notes: list[str]) -> None:
    """Monitoring watches what serves now (mlops_bot.flows.monitoring_sync)."""
    from mlops_bot.flows.monitoring_sync import follow_serving

    note = follow_serving(backends, config, record)
    if note:
        notes.append(note)


def _traffic_after(backends: Backends, changes: EndpointChanges, status: str) -> dict[str, int]:
    if status != "concurrent_change":
        return dict(changes.record.traffic)
    # Someone else wrote last: report the endpoint as it is now, not this flow's last write.
    now = backends.endpoints.get(changes.record.environment)
    return dict(now.traffic) if now else {}


def _undone(backends: Backends, changes: EndpointChanges) -> str:
    """The endpoint put back as it was read; past the point where the previous model was
    undeployed, the promotion is completed instead (a rollback goes back)."""
    restored = _restored(changes)
    if changes.record.intent is None:
        return restored
    recovered = recover(backends, changes.record.environment, changes.steps)
    return recovered.message if recovered is not None else restored


def _restored(changes: EndpointChanges) -> str:
    why = changes.restore()
    if why is not None:  # the record of what to put back stays for the next command to retry
        return f"the endpoint could not be restored: {why}"
    split = ", ".join(f"{k} {v}%" for k, v in changes.record.traffic.items()) or "nothing deployed"
    try:
        changes.finish()
    except UserError as error:  # the next deploy or rollback looks again and finishes it
        why = ("the endpoint changed meanwhile" if isinstance(error, ConcurrentChange)
               else str(error))
        return (f"the traffic split was restored ({split}); the record of this change stays on "
                f"the endpoint ({why}) for the next deploy or rollback to check")
    return f"the traffic split was restored ({split})"


def _serves_run(record: EndpointRecord, serving: DeployedModel, run_id: str) -> bool:
    return (serving.lineage.get("run_id") == run_id
            and record.traffic.get(serving.deployed_model_id) == 100)


def _deployed_id(record: EndpointRecord, version: ModelVersion) -> str | None:
    for deployed in record.deployed:
        if (deployed.model, deployed.model_version) == (version.model, version.version):
            return deployed.deployed_model_id
    return None


def _describe(deployed: DeployedModel) -> dict[str, str]:
    return {"deployed_model_id": deployed.deployed_model_id, "model": deployed.model,
            "model_version": deployed.model_version, **deployed.lineage}
