"""`environments.<env>.monitoring` in mlops.yaml: what to watch on a deployed model, and how.

Two objectives, as Vertex AI Model Monitoring has them: `skew` compares recent requests with the
serving model's training data, `drift` compares them with the window before. Each has a default
statistic and threshold for numeric and for categorical features, and per-feature overrides.
Kept apart from config.py (the shared loader) so it can grow without crowding it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = ["INTERVALS", "Alerts", "FeatureCheck", "Monitoring", "Objective", "duration_seconds",
           "monitoring_problems"]

Statistic = Literal["psi", "ks", "jensen_shannon", "l_infinity"]
NUMERIC: tuple[str, ...] = ("psi", "ks", "jensen_shannon")
CATEGORICAL: tuple[str, ...] = ("psi", "jensen_shannon", "l_infinity")
# Vertex monitors at whole hours (at least 1h); the monitoring workflow's cron must fire evenly.
INTERVALS = {"1h": 1, "2h": 2, "3h": 3, "4h": 4, "6h": 6, "8h": 8, "12h": 12, "24h": 24, "1d": 24}
_DURATION = re.compile(r"^([1-9][0-9]{0,3})([mhd])$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]+$")
_UNIT_SECONDS = {"m": 60, "h": 3600, "d": 86400}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def duration_seconds(text: str) -> int:
    """Seconds of a duration such as 30m, 6h or 7d (ValueError naming what is allowed)."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a duration: use a whole number and m, h or d, "
                         "e.g. 30m, 6h or 7d")
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2)]


class FeatureCheck(_Model):
    statistic: Statistic = Field(
        description="psi (population stability index; numeric or categorical), ks (two-sample "
        "Kolmogorov-Smirnov; numeric; the threshold is a p-value), jensen_shannon (divergence, "
        "base 2) or l_infinity (largest category frequency change; categorical).")
    threshold: float = Field(
        gt=0, description="Over it the feature has drifted; for ks, a p-value under it does.")

    @model_validator(mode="after")
    def _in_range(self) -> FeatureCheck:
        if self.statistic != "psi" and self.threshold >= 1:
            raise ValueError(f"threshold {self.threshold} is out of range for {self.statistic}: "
                             "use a number between 0 and 1")
        return self


class Objective(_Model):
    numeric: FeatureCheck = Field(
        default_factory=lambda: FeatureCheck(statistic="psi", threshold=0.2),
        description="Statistic and threshold of numeric features.")
    categorical: FeatureCheck = Field(
        default_factory=lambda: FeatureCheck(statistic="jensen_shannon", threshold=0.1),
        description="Statistic and threshold of categorical (text) features.")
    per_feature: dict[str, FeatureCheck] = Field(
        default_factory=dict, description="Overrides for single features, by feature name.")

    @field_validator("numeric")
    @classmethod
    def _numeric(cls, value: FeatureCheck) -> FeatureCheck:
        if value.statistic not in NUMERIC:
            raise ValueError(f"{value.statistic} does not apply to numeric features: use "
                             f"{', '.join(NUMERIC)}")
        return value

    @field_validator("categorical")
    @classmethod
    def _categorical(cls, value: FeatureCheck) -> FeatureCheck:
        if value.statistic not in CATEGORICAL:
            raise ValueError(f"{value.statistic} does not apply to categorical features: use "
                             f"{', '.join(CATEGORICAL)}")
        return value

    def check(self, feature: str, categorical: bool) -> FeatureCheck:
        """The statistic and threshold `feature` is judged by."""
        if feature in self.per_feature:
            return self.per_feature[feature]
        return self.categorical if categorical else self.numeric


class Alerts(_Model):
    emails: list[str] = Field(
        default_factory=list, description="Who is emailed when a feature is over its threshold "
        "(Vertex AI Model Monitoring alerts).")
    github_issue: bool = Field(
        False, description="Also report drift on a GitHub issue, one per environment and "
        "window: a comment per drift episode, updated at each run, marked cleared when it ends.")

    @field_validator("emails")
    @classmethod
    def _emails(cls, value: list[str]) -> list[str]:
        bad = [email for email in value if not _EMAIL.match(email)]
        if bad:
            raise ValueError(f"{', '.join(map(repr, bad))} is not an email address: use "
                             "name@example.com")
        return value


class Monitoring(_Model):
    features: list[str] = Field(
        default_factory=list, description="Features to watch (empty: all the model's features).")
    skew: Objective | None = Field(
        default_factory=Objective, description="Recent requests against the serving model's "
        "training data (null: not checked).")
    drift: Objective | None = Field(
        default_factory=Objective, description="Recent requests against the window before "
        "(null: not checked).")
    sampling_rate: float = Field(
        1.0, gt=0, le=1, description="Share of requests logged and monitored, above 0 up to 1.")
    interval: str = Field(
        "1h", description="How often monitoring runs: 1h, 2h, 3h, 4h, 6h, 8h, 12h or 24h (1d).",
        json_schema_extra={"enum": list(INTERVALS)})  # editors complete it; the validator words it
    window: str = Field(
        "1d", description="How far back requests count as recent: e.g. 6h, 1d, 7d.",
        json_schema_extra={"pattern": _DURATION.pattern})
    min_samples: int = Field(
        100, ge=2, description="Fewest values of a feature on each side (the recent requests; "
        "the training data or the window before) for `mlops-bot monitor` to judge it; with "
        "fewer it has no verdict (too few), as a few requests say nothing of a distribution.")
    alerts: Alerts = Field(default_factory=Alerts, description="Who hears of drift.")
    retrain_on_drift: str | None = Field(
        None, description="Name of the schedule whose retraining starts when a feature is over "
        "its threshold, once per drift episode (its cron window is not waited for).")

    @field_validator("interval")
    @classmethod
    def _interval(cls, value: str) -> str:
        if value not in INTERVALS:
            raise ValueError(f"{value!r} is not an interval monitoring can run at: use one of "
                             f"{', '.join(INTERVALS)}")
        return value

    @field_validator("window")
    @classmethod
    def _window(cls, value: str) -> str:
        duration_seconds(value)
        return value

    @model_validator(mode="after")
    def _something_checked(self) -> Monitoring:
        if self.skew is None and self.drift is None:
            raise ValueError("checks nothing: keep skew, drift or both")
        return self


Problem = tuple[tuple[str | int, ...], str]


def monitoring_problems(environments: Mapping[str, object], schedules: list[str],
                        choices: Callable[[str, list[str]], str]) -> list[Problem]:
    """Each environment's `retrain_on_drift` must name a schedule (with a did-you-mean)."""
    found: list[Problem] = []
    for name, environment in environments.items():
        monitoring = getattr(environment, "monitoring", None)
        target = monitoring.retrain_on_drift if isinstance(monitoring, Monitoring) else None
        if target is not None and target not in schedules:
            found.append((("environments", name, "monitoring", "retrain_on_drift"),
                          f"{target!r} is not a schedule; {choices(target, schedules)}"))
    return found
