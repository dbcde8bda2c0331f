"""Google Cloud clients, built lazily from `mlops.yaml` and passed to the gcp backends.

Every client uses the REST transport, so `gcp.api_endpoints` can point a service at an emulator,
a private endpoint or (in tests) a local fake server, e.g. `http://127.0.0.1:8080`. Credentials
are Application Default Credentials (Workload Identity Federation on GitHub Actions) unless given;
a service whose endpoint is plain `http://` is an emulator or a test's fake server, which gets
anonymous credentials (as the storage client does for STORAGE_EMULATOR_HOST) unless the
environment names credentials (GOOGLE_APPLICATION_CREDENTIALS, as google-github-actions/auth
sets it): then it gets those, so a server that checks identities sees who calls.
"""

from __future__ import annotations

import os
from functools import cached_property
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from google.cloud.aiplatform_v1 import (
        EndpointServiceClient,
        JobServiceClient,
        ModelServiceClient,
        PipelineServiceClient,
        PredictionServiceClient,
        ScheduleServiceClient,
    )
    from google.cloud.artifactregistry_v1 import ArtifactRegistryClient
    from google.cloud.devtools.cloudbuild_v1 import CloudBuildClient
    from google.cloud.storage import Client as StorageClient

    from mlops_bot.config import GcpConfig

__all__ = ["GcpClients"]


class GcpClients:
    def __init__(self, config: GcpConfig, credentials: Any = None) -> None:
        self.config = config
        self._credentials = credentials

    def _options(self, service: str, default: str | None = None) -> dict[str, str]:
        endpoint = getattr(self.config.api_endpoints, service) or default
        return {"api_endpoint": endpoint} if endpoint else {}

    def _credentials_for(self, service: str) -> Any:
        if self._credentials is not None:
            return self._credentials
        if os.environ.get("GOOGLE_APPLICATION_CREDENTIALS"):
            return self._credentials_file
        endpoint = getattr(self.config.api_endpoints, service) or ""
        if endpoint.startswith("http://"):
            from google.auth import credentials

            anonymous: Any = credentials.AnonymousCredentials
            return anonymous()
        return None

    @cached_property
    def _credentials_file(self) -> Any:
        import google.auth
        from google.auth.credentials import with_scopes_if_required

        named = os.environ["GOOGLE_APPLICATION_CREDENTIALS"]
        found = _credentials_path(named)
        if found != named:  # google.auth reads the variable itself, and so do child processes
            os.environ["GOOGLE_APPLICATION_CREDENTIALS"] = found
        # Unscoped, then scoped: a scoped default() asks Resource Manager for the project of
        # Workload Identity credentials, which mlops.yaml names anyway.
        loaded: Any = google.auth.default()
        return with_scopes_if_required(  # type: ignore[no-untyped-call]
            loaded[0], ["https://www.googleapis.com/auth/cloud-platform"])

    @cached_property
    def cloud_build(self) -> CloudBuildClient:
        from google.cloud.devtools.cloudbuild_v1 import CloudBuildClient

        return CloudBuildClient(credentials=self._credentials_for("cloudbuild"), transport="rest",
                                client_options=self._options("cloudbuild"))

    @cached_property
    def artifact_registry(self) -> ArtifactRegistryClient:
        from google.cloud.artifactregistry_v1 import ArtifactRegistryClient

        return ArtifactRegistryClient(credentials=self._credentials_for("artifactregistry"),
                                      transport="rest",
                                      client_options=self._options("artifactregistry"))

    @cached_property
    def storage(self) -> StorageClient:
        from google.cloud.storage import Client as StorageClient

        return StorageClient(project=self.config.project,
                             credentials=self._credentials_for("storage"),
                              client_options=self._options("storage"))

    def _vertex_options(self) -> dict[str, str]:
        # Vertex AI is regional: the default endpoint names the region.
        return self._options("aiplatform", f"{self.config.region}-aiplatform.googleapis.com")

    @cached_property
    def pipelines(self) -> PipelineServiceClient:
        from google.cloud.aiplatform_v1 import PipelineServiceClient

        return PipelineServiceClient(credentials=self._credentials_for("aiplatform"),
                                     transport="rest", client_options=self._vertex_options())

    @cached_property
    def models(self) -> ModelServiceClient:
        from google.cloud.aiplatform_v1 import ModelServiceClient

        return ModelServiceClient(credentials=self._credentials_for("aiplatform"),
                                  transport="rest", client_options=self._vertex_options())

    @cached_property
    def endpoints(self) -> EndpointServiceClient:
        from google.cloud.aiplatform_v1 import EndpointServiceClient

        return EndpointServiceClient(credentials=self._credentials_for("aiplatform"),
                                     transport="rest", client_options=self._vertex_options())

    @cached_property
    def prediction(self) -> PredictionServiceClient:
        from google.cloud.aiplatform_v1 import PredictionServiceClient

        return PredictionServiceClient(credentials=self._credentials_for("aiplatform"),
                                       transport="rest", client_options=self._vertex_options())

    @cached_property
    def jobs(self) -> JobServiceClient:
        """Model monitoring jobs (ModelDeploymentMonitoringJob) live in the JobService."""
        from google.cloud.aiplatform_v1 import JobServiceClient

        return JobServiceClient(credentials=self._credentials_for("aiplatform"),
                                transport="rest", client_options=self._vertex_options())

    @cached_property
    def schedules(self) -> ScheduleServiceClient:
        from google.cloud.aiplatform_v1 import ScheduleServiceClient

        return ScheduleServiceClient(credentials=self._credentials_for("aiplatform"),
                                     transport="rest", client_options=self._vertex_options())


def _credentials_path(named: str) -> str:
    """The credentials file, also when this runs in a Docker action: google-github-actions/auth
    names it by its path on the runner (in the workspace), which the container sees under its
    own GITHUB_WORKSPACE (/github/workspace)."""
    from pathlib import Path

    from mlops_bot.errors import UserError

    if Path(named).is_file():
        return named
    workspace = os.environ.get("GITHUB_WORKSPACE")
    moved = Path(workspace) / Path(named).name if workspace else None
    if moved is not None and moved.is_file():
        return str(moved)
    raise UserError(f"GOOGLE_APPLICATION_CREDENTIALS names {named}, which does not exist"
                    + (f" (nor does {moved})" if moved else "") + ": run "
                    "google-github-actions/auth before mlops-bot in the same job, or unset it")
