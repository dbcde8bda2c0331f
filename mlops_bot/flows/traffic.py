"""Changes to one endpoint made in order, each conditional on the record the last one returned,
remembered so that a failure can put the traffic split back exactly as it was read.

`begin` records the split to put back on the endpoint itself (a PromotionIntent) before the
first change, and `finish` removes it after the last: a process killed in between leaves the
record, and the next promotion or rollback puts that split back (mlops_bot.flows.recovery).
"""

from __future__ import annotations

from datetime import UTC, datetime

from mlops_bot.backends.model_types import (
    ConcurrentChange,
    EndpointRecord,
    EndpointService,
    ModelVersion,
    PromotionIntent,
)
from mlops_bot.console import progress
from mlops_bot.errors import UserError
from mlops_bot.flows.results.promote import TrafficStep

__all__ = ["EndpointChanges", "split_with"]


def split_with(current: dict[str, int], key: str, percent: int) -> dict[str, int]:
    """`key` gets `percent`; the others keep their proportions of what is left, summing to 100
    (largest remainders get the rounding)."""
    others = {k: v for k, v in current.items() if v > 0 and k != key}
    left, total = 100 - percent, sum(others.values())
    if not others or total == 0:
        return {key: 100}
    shares = {k: v * left / total for k, v in others.items()}
    split = {k: int(share) for k, share in shares.items()}
    by_remainder = sorted(shares, key=lambda k: shares[k] - split[k], reverse=True)
    for k in by_remainder[:left - sum(split.values())]:
        split[k] += 1
    return {key: percent, **split}


class EndpointChanges:
    def __init__(self, service: EndpointService, record: EndpointRecord,
                 steps: list[TrafficStep], before: dict[str, int] | None = None) -> None:
        """`before`: the split to restore (default: the one `record` has), every model
        deployed before keyed, with 0 for those without traffic."""
        self.service = service
        self.record = record
        self.steps = steps
        self.before = dict(record.traffic) if before is None else dict(before)
        self._before_ids = ([d.deployed_model_id for d in record.deployed] if before is None
                            else list(before))
        self._intent: PromotionIntent | None = None  # what `begin` recorded

    def begin(self, action: str, candidate: str) -> None:
        """Record on the endpoint what is about to change, before the first change."""
        self._intent = PromotionIntent(action, dict(self.before), candidate,
                                       datetime.now(UTC).isoformat(timespec="seconds"))
        self.record = self.service.set_intent(self.record, self._intent)

    def finish(self) -> None:
        """Remove that record: the endpoint is as this promotion (or its restore) left it."""
        if self.record.intent is not None:
            self.record = self.service.set_intent(self.record, None)

    def deploy(self, model: ModelVersion, traffic: dict[str, int]) -> str:
        """Deploy `model` with `traffic` (the model keyed by NEW_DEPLOYMENT); its deployed id."""
        known = {d.deployed_model_id for d in self.record.deployed}
        self.record = self.service.deploy(self.record, model, traffic)
        [new_id] = [d.deployed_model_id for d in self.record.deployed
                    if d.deployed_model_id not in known]
        self._step("deploy", f"{model.model} version {model.version} as {new_id}")
        return new_id

    def set_traffic(self, traffic: dict[str, int], action: str = "traffic") -> None:
        self.record = self.service.set_traffic(self.record, traffic)
        self._step(action)

    def undeploy(self, deployed_model_id: str, action: str = "undeploy") -> None:
        self.record = self.service.undeploy(self.record, deployed_model_id)
        self._step(action, deployed_model_id)

    def abandon(self) -> None:
        """Someone else changed the endpoint meanwhile: their split stays, and this promotion's
        record is taken off so that nobody puts the split back over theirs (best effort)."""
        if self._intent is None:
            return
        try:
            now = self.service.get(self.record.environment)
            if now is not None and _same(now.intent, self._intent):
                self.service.set_intent(now, None)
        except UserError as error:
            progress(f"mlops-bot: warning: the record of this {self._intent.action} stays on "
                     f"the {self.record.environment} endpoint ({error}); the next deploy or "
                     "rollback will put its split back")

    def restore(self) -> str | None:
        """Put back the split read at the start and undeploy what was deployed since; None when
        done, else why it could not be (the endpoint is then as the last step left it)."""
        if self.record.traffic == self.before and self._ids() == self._before_ids:
            return None
        gone = sorted(k for k, v in self.before.items() if v and k not in self._ids())
        if gone:
            return f"{', '.join(gone)} is no longer deployed, so the split cannot be put back"
        try:
            if self.before and self.record.traffic != self.before:
                self.set_traffic({k: v for k, v in self.before.items() if k in self._ids()},
                                 "restore")
            for deployed_model_id in [i for i in self._ids() if i not in self._before_ids]:
                self.undeploy(deployed_model_id, "restore-undeploy")
        except ConcurrentChange as error:
            return f"it changed under us while restoring ({error})"
        except UserError as error:
            return str(error)
        return None

    def _ids(self) -> list[str]:
        return [d.deployed_model_id for d in self.record.deployed]

    def _step(self, action: str, detail: str = "") -> None:
        split = ", ".join(f"{k} {v}%" for k, v in self.record.traffic.items()) or "nothing"
        what = f"{action} {detail}" if detail else action
        progress(f"  {self.record.environment}: {what} -> {split}")
        self.steps.append(TrafficStep(action, dict(self.record.traffic), self.record.etag, detail))


def _same(recorded: PromotionIntent | None, ours: PromotionIntent) -> bool:
    """Whether the record on the endpoint is the one `ours` wrote (a backend may keep the
    candidate's description only approximately: Vertex AI labels are lowercase)."""
    return recorded is not None and (recorded.action, recorded.traffic, recorded.started_at) == (
        ours.action, ours.traffic, ours.started_at)
