"""Local monitoring: `mlops-bot serve` logs the requests of whatever serves, and `mlops-bot
monitor` judges them against the serving model's run when asked, so a promotion has nothing to
point; status reads the verdicts the last `mlops-bot monitor` recorded
(`<state_dir>/monitoring/<env>/last.json`)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_bot.backends.monitoring_types import (
    FeatureAnomaly,
    MonitoredModel,
    MonitoringChange,
    MonitoringService,
    MonitoringStatus,
)
from mlops_bot.errors import UserError

if TYPE_CHECKING:
    from mlops_bot.backends.model_types import EndpointRecord
    from mlops_bot.monitoring_config import Monitoring

__all__ = ["LocalMonitoring", "last_result_path", "record_last"]


def last_result_path(state: Path, environment: str) -> Path:
    return state / "monitoring" / environment / "last.json"


def record_last(state: Path, environment: str, document: dict[str, Any]) -> None:
    """Keep what `mlops-bot monitor` found, for `mlops-bot monitoring status`."""
    from mlops_bot.backends.local.files import write_atomic

    write_atomic(last_result_path(state, environment),
                 json.dumps(document, indent=2, sort_keys=True).encode())


class LocalMonitoring:
    def __init__(self, state: Path) -> None:
        self._state = state

    def ensure(self, endpoint: EndpointRecord, deployed: Sequence[MonitoredModel],
               monitoring: Monitoring | None) -> MonitoringChange:
        # The request log follows what serves by itself: nothing to point.
        return MonitoringChange("unchanged" if monitoring else "off", "")

    def status(self, environment: str) -> MonitoringStatus:
        path = last_result_path(self._state, environment)
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
            features = [dict(item) for item in document["features"]]
            model = dict(document.get("model") or {})
        except FileNotFoundError:
            raise UserError(f"{environment} was never monitored on this machine ({path} does "
                            f"not exist): run `mlops-bot monitor {environment}`") from None
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise UserError(f"{path} is damaged ({error}): run `mlops-bot monitor "
                            f"{environment}` again to rewrite it") from None
        status = MonitoringStatus(environment, "local", str(path), "measured",
                                  last_run=str(document.get("until", "")))
        for item in features:
            status.features.append(FeatureAnomaly(
                str(item.get("feature")), str(item.get("objective")), item.get("value"),
                item.get("threshold"), str(model.get("deployed_model_id", "")),
                status.last_run, str(item.get("statistic", ""))))
        status.notes.extend(str(n) for n in document.get("notes") or [])
        return status


if TYPE_CHECKING:
    # mypy checks LocalMonitoring against the MonitoringService Protocol here.
    def _satisfies_the_protocol(service: LocalMonitoring) -> MonitoringService:
        return service
