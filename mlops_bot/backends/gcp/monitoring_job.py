"""The `ModelDeploymentMonitoringJob` an environment's settings ask for, and what differs from
the job Vertex holds (the update mask), so an unchanged configuration writes nothing.

Vertex AI Model Monitoring measures skew and drift with its own distances (Jensen-Shannon for
numeric features, L-infinity for categorical ones) against one threshold per feature, else the
job's one default: it has no default per kind of feature. So each feature is given its own: its
`per_feature` override, else the categorical threshold for a categorical feature (one whose
training values are not all numbers, as `mlops-bot monitor` judges it) and the numeric one for
the others; the numeric threshold is the default. A ks threshold is a p-value (drifted when
small), not a distance, so Vertex's own default distance threshold stands in for it.
Skew needs the training data: without a training Dataset recorded by the run, skew is off and
drift alone is watched.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from mlops_bot.backends.gcp.api_errors import label_value
from mlops_bot.backends.gcp.endpoint_lookup import ENVIRONMENT_LABEL
from mlops_bot.backends.monitoring_types import MonitoredModel
from mlops_bot.monitoring_config import INTERVALS, duration_seconds

if TYPE_CHECKING:
    from google.cloud.aiplatform_v1 import ModelDeploymentMonitoringJob

    from mlops_bot.monitoring_config import FeatureCheck, Monitoring, Objective

__all__ = ["MANAGED", "MANAGED_FIELDS", "differing", "is_managed", "wanted_job"]

MANAGED = ("mlops-bot", "managed")  # the label that makes a job mlops-bot's own
VERTEX_DEFAULT_THRESHOLD = 0.3  # Vertex AI Model Monitoring's own default distance threshold
# The fields mlops-bot sets, in the order a diff names them (snake_case: update_mask paths).
MANAGED_FIELDS = ("labels", "model_deployment_monitoring_objective_configs",
                  "model_deployment_monitoring_schedule_config", "logging_sampling_strategy",
                  "model_monitoring_alert_config")


def labels_for(environment: str) -> dict[str, str]:
    return {MANAGED[0]: MANAGED[1], ENVIRONMENT_LABEL: label_value(environment)}


def is_managed(job: ModelDeploymentMonitoringJob) -> bool:
    return job.labels.get(MANAGED[0]) == MANAGED[1]


def wanted_job(environment: str, endpoint: str, deployed: Sequence[MonitoredModel],
               monitoring: Monitoring, unread: Mapping[str, str] | None = None,
               ) -> tuple[ModelDeploymentMonitoringJob, list[str]]:
    """The job for `endpoint` watching `deployed`, and notes (skew off for lack of data;
    thresholds of categorical features; `unread`: why a model's kinds of feature are unknown,
    by deployed model id)."""
    from google.cloud import aiplatform_v1 as v1
    from google.protobuf import duration_pb2

    notes: list[str] = []
    objectives = []
    for model in sorted(deployed, key=lambda m: m.deployed_model_id):
        config, note = _objective(model, monitoring)
        if note:
            notes.append(note)
        notes.extend(_kind_notes(model, monitoring, (unread or {}).get(model.deployed_model_id)))
        if config is not None:
            objectives.append(v1.ModelDeploymentMonitoringObjectiveConfig(
                deployed_model_id=model.deployed_model_id, objective_config=config))
    if any(_is_ks(objective) for objective in (monitoring.skew, monitoring.drift)):
        notes.append(f"ks thresholds are p-values, which Vertex AI does not measure: those "
                     f"features are judged at Vertex's distance threshold "
                     f"{VERTEX_DEFAULT_THRESHOLD:g}")
    hours = INTERVALS[monitoring.interval]
    job = v1.ModelDeploymentMonitoringJob(
        display_name=f"mlops-bot-{label_value(environment)}"[:128], endpoint=endpoint,
        labels=labels_for(environment),
        model_deployment_monitoring_objective_configs=objectives,
        model_deployment_monitoring_schedule_config=v1.ModelDeploymentMonitoringScheduleConfig(
            monitor_interval=duration_pb2.Duration(seconds=hours * 3600),
            monitor_window=duration_pb2.Duration(seconds=duration_seconds(monitoring.window))),
        logging_sampling_strategy=v1.SamplingStrategy(
            random_sample_config=v1.SamplingStrategy.RandomSampleConfig(
                sample_rate=monitoring.sampling_rate)),
        model_monitoring_alert_config=v1.ModelMonitoringAlertConfig(
            email_alert_config=v1.ModelMonitoringAlertConfig.EmailAlertConfig(
                user_emails=list(monitoring.alerts.emails))))
    return job, notes


def _objective(model: MonitoredModel, monitoring: Monitoring) -> tuple[Any, str]:
    from google.cloud import aiplatform_v1 as v1

    objective = v1.ModelMonitoringObjectiveConfig
    config = objective()
    note = ""
    watched = tuple(monitoring.features) or model.features
    if monitoring.skew is not None and model.training_data:
        config.training_dataset = objective.TrainingDataset(
            gcs_source=v1.GcsSource(uris=[model.training_data]), data_format="csv")
        default, per_feature = _thresholds(monitoring.skew, watched, model.categorical)
        config.training_prediction_skew_detection_config = (
            objective.TrainingPredictionSkewDetectionConfig(
                default_skew_threshold=default, skew_thresholds=per_feature))
    elif monitoring.skew is not None:
        note = (f"{model.model} version {model.model_version}: its run recorded no training "
                "Dataset (train_data), so skew is off and only drift is watched")
    if monitoring.drift is not None:
        default, per_feature = _thresholds(monitoring.drift, watched, model.categorical)
        config.prediction_drift_detection_config = (
            objective.PredictionDriftDetectionConfig(
                default_drift_threshold=default, drift_thresholds=per_feature))
    empty = (monitoring.drift is None and not model.training_data)
    return (None if empty else config), note


def _thresholds(objective: Objective, features: Sequence[str],
                categorical: Sequence[str] | None) -> tuple[Any, dict[str, Any]]:
    """The default (numeric) threshold and one per feature: the watched ones, the overridden
    ones and every categorical one, which the default must not reach."""
    from google.cloud.aiplatform_v1 import ThresholdConfig

    kinds = set(categorical or ())
    per_feature = {name: ThresholdConfig(value=_distance(objective.check(name, name in kinds)))
                   for name in sorted(set(features) | set(objective.per_feature) | kinds)}
    return ThresholdConfig(value=_distance(objective.numeric)), per_feature


def _kind_notes(model: MonitoredModel, monitoring: Monitoring, why: str | None) -> list[str]:
    """What the deploy should know of categorical features' thresholds on Vertex."""
    objectives = [o for o in (monitoring.skew if model.training_data else None,
                              monitoring.drift) if o is not None]
    if model.categorical is None:
        differ = [o for o in objectives if o.categorical.threshold != o.numeric.threshold]
        if not differ:
            return []
        return [f"{model.model} version {model.model_version}: which features are categorical "
                f"could not be told from its training data ({why or 'not read'}), so those "
                "without a per_feature override are given the numeric threshold on Vertex AI"]
    named: dict[tuple[str, float], set[str]] = {}
    for objective in objectives:
        for name in model.categorical:
            check = objective.check(name, True)
            if check.statistic not in ("l_infinity", "ks"):  # ks: the note of wanted_job
                named.setdefault((check.statistic, check.threshold), set()).add(name)
    return [f"Vertex AI measures categorical features by L-infinity: the {statistic} threshold "
            f"{threshold:g} of {', '.join(sorted(names))} is applied to that distance there "
            "(statistic l_infinity judges them alike locally and on Vertex)"
            for (statistic, threshold), names in sorted(named.items())]


def _distance(check: FeatureCheck) -> float:
    # A p-value of 0.01 taken as a distance would alert on nearly every window.
    return VERTEX_DEFAULT_THRESHOLD if check.statistic == "ks" else check.threshold


def _is_ks(objective: Objective | None) -> bool:
    checks = [objective.numeric, *objective.per_feature.values()] if objective else []
    return any(check.statistic == "ks" for check in checks)


def differing(current: ModelDeploymentMonitoringJob,
              wanted: ModelDeploymentMonitoringJob) -> list[str]:
    """The managed fields whose values differ (the update mask); [] when nothing does."""
    kind = type(wanted)
    now = kind.to_dict(current, preserving_proto_field_name=True)
    ask = kind.to_dict(wanted, preserving_proto_field_name=True)
    return [name for name in MANAGED_FIELDS if _plain(now.get(name)) != _plain(ask.get(name))]


def _plain(value: Any) -> Any:
    """Objective configs in deployed-model order; a missing message equals an empty one."""
    if isinstance(value, list):
        items = [_plain(v) for v in value]
        if all(isinstance(v, dict) and "deployed_model_id" in v for v in items):
            items.sort(key=lambda v: str(v["deployed_model_id"]))
        return items
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if v not in (None, {}, [], "", 0)}
    return value
