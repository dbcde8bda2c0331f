"""`Backends`: the one of each backend a flow receives, whichever implementation built them.

It lives apart from the factory that fills it (mlops_bot.backends.factory) so that each backend's
own factory (mlops_bot.backends.gcp.factory) can return one without importing the module that
imports it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mlops_bot.backends.model_types import EndpointService, ModelRegistry
from mlops_bot.backends.monitoring_types import MonitoringService, NoMonitoring
from mlops_bot.backends.types import ImageBuilder, LockStore, PipelineRegistry, PipelineRunner

__all__ = ["Backends"]


@dataclass(frozen=True)
class Backends:
    builder: ImageBuilder
    registry: PipelineRegistry
    runner: PipelineRunner
    locks: LockStore
    models: ModelRegistry
    endpoints: EndpointService
    builder_note: str = ""  # which builder was chosen and why, for push to say
    # Where runs write their artifacts: a run's own lie under `<artifact_root>/<run id>/` (local)
    # or `<artifact_root>/<project number>/<run id>/` (gs://, Vertex's pipeline root); "" checks
    # nothing. A promotion refuses a model or metrics artifact anywhere else.
    artifact_root: str = ""
    # What watches the deployed models (Vertex AI Model Monitoring; locally `mlops-bot monitor`).
    monitoring: MonitoringService = field(default_factory=NoMonitoring)
