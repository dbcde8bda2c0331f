"""The monitoring Protocol: what watches the models an environment's endpoint serves.

On Vertex AI it is the endpoint's `ModelDeploymentMonitoringJob`, which promotion and rollback
point at the deployed models after traffic moves; locally `mlops-bot serve` logs requests and
`mlops-bot monitor` judges them, so there is nothing to point (status reads the last verdicts).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from mlops_bot.backends.model_types import EndpointRecord
    from mlops_bot.monitoring_config import Monitoring

__all__ = ["FeatureAnomaly", "MonitoredModel", "MonitoringChange", "MonitoringService",
           "MonitoringStatus", "NoMonitoring"]

ChangeStatus = Literal["created", "updated", "unchanged", "deleted", "foreign", "off"]


@dataclass(frozen=True)
class MonitoredModel:
    """A deployed model to watch, with what skew compares its requests with."""

    deployed_model_id: str
    model: str
    model_version: str
    training_data: str | None = None  # a CSV (gs:// on Vertex) of the run; None: drift only
    features: tuple[str, ...] = ()
    # The features whose training values are not all numbers (the local check's rule), which
    # Vertex measures by L-infinity; None while not known (read by the adapter that needs it).
    categorical: tuple[str, ...] | None = None


@dataclass(frozen=True)
class MonitoringChange:
    status: ChangeStatus
    message: str  # one sentence for the promotion's notes ("" when there is nothing to say)
    job: str = ""  # the job's resource name, where there is one


@dataclass(frozen=True)
class FeatureAnomaly:
    feature: str
    objective: str  # "skew" or "drift"
    score: float | None
    threshold: float | None
    deployed_model_id: str = ""
    at: str = ""  # when the monitoring run that measured it ended (ISO 8601)
    statistic: str = ""  # locally psi, ks...; "" on Vertex (its own distance per feature type)

    @property
    def over(self) -> bool:
        if self.score is None or self.threshold is None:
            return False
        if self.statistic == "ks":  # a p-value: drift is a small one
            return self.score < self.threshold
        return self.score > self.threshold


@dataclass
class MonitoringStatus:
    environment: str
    backend: str  # "gcp" or "local"
    job: str  # the job's resource name, or the local file the verdicts were read from
    state: str  # the job's state (JOB_STATE_RUNNING...), or "measured" / "never run" locally
    last_run: str = ""  # when monitoring last ran
    last_error: str = ""  # the last monitoring run's error, if it failed
    features: list[FeatureAnomaly] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def anomalies(self) -> list[FeatureAnomaly]:
        return [f for f in self.features if f.over]

    def to_dict(self) -> dict[str, Any]:
        document = asdict(self)
        for feature, item in zip(self.features, document["features"], strict=True):
            item["over"] = feature.over
        document["anomalies"] = len(self.anomalies)
        return document


class MonitoringService(Protocol):
    def ensure(self, endpoint: EndpointRecord, deployed: Sequence[MonitoredModel],
               monitoring: Monitoring | None) -> MonitoringChange:
        """Point the endpoint's monitoring at `deployed` with `monitoring`'s settings: created
        when missing, updated only when something differs, removed when `monitoring` is None
        (only what this backend made: another's job is left alone and named in the message).
        Raises UserError (one sentence) when the service refuses."""
        ...

    def status(self, environment: str) -> MonitoringStatus:
        """The environment's monitoring as last measured: state, last run, per-feature scores
        against thresholds. Raises UserError when there is no monitoring to read."""
        ...


class NoMonitoring:
    """A backend that watches nothing (the default of Backends built by hand, in tests)."""

    def ensure(self, endpoint: EndpointRecord, deployed: Sequence[MonitoredModel],
               monitoring: Monitoring | None) -> MonitoringChange:
        return MonitoringChange("off", "")

    def status(self, environment: str) -> MonitoringStatus:
        from mlops_bot.errors import UserError

        raise UserError(f"this backend does not monitor {environment}")
