"""The gcp backends of `mlops.yaml`'s `backend: gcp`, sharing one set of clients.

Nothing here talks to Google: the clients are built on first use, inside the backends.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlops_bot.backends.bundle import Backends
    from mlops_bot.config import GcpConfig

__all__ = ["gcp_backends"]


def gcp_backends(gcp: GcpConfig, credentials: Any = None) -> Backends:
    """Cloud Build, the GCS registry and locks, Vertex AI Pipelines, Models, Endpoints and Model
    Monitoring.

    `credentials`: None for Application Default Credentials (Workload Identity Federation on
    GitHub Actions); plain-http endpoints in `gcp.api_endpoints` get anonymous ones.
    """
    from mlops_bot.backends.bundle import Backends
    from mlops_bot.backends.gcp.builder import CloudBuildBuilder
    from mlops_bot.backends.gcp.clients import GcpClients
    from mlops_bot.backends.gcp.endpoints import VertexEndpoints
    from mlops_bot.backends.gcp.locks import GcsLockStore
    from mlops_bot.backends.gcp.models import VertexModelRegistry
    from mlops_bot.backends.gcp.monitoring import VertexMonitoring
    from mlops_bot.backends.gcp.registry import GcsRegistry
    from mlops_bot.backends.gcp.runner import VertexRunner

    clients = GcpClients(gcp, credentials)
    serving = gcp.serving
    return Backends(
        builder=CloudBuildBuilder(clients),
        registry=GcsRegistry(clients),
        runner=VertexRunner(clients),
        locks=GcsLockStore(clients),
        models=VertexModelRegistry(clients),
        endpoints=VertexEndpoints(
            clients, machine_type=serving.machine_type, min_replicas=serving.min_replicas,
            max_replicas=serving.max_replicas, deploy_timeout=serving.deploy_timeout_seconds),
        artifact_root=gcp.pipeline_root or f"gs://{gcp.registry_bucket}/runs",
        monitoring=VertexMonitoring(clients),
    )
