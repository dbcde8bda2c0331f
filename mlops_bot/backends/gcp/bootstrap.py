"""What `mlops-bot bootstrap` creates on Google Cloud: the registry bucket(s) and the Artifact
Registry repositories. Creates what is missing, leaves what exists (never changes it), and says
which was which."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from google.api_core import exceptions as gexc

from mlops_bot.errors import UserError

if TYPE_CHECKING:
    from mlops_bot.backends.gcp.clients import GcpClients

__all__ = ["Resource", "ensure_buckets", "ensure_repositories"]


@dataclass(frozen=True)
class Resource:
    kind: str  # bucket or repository
    name: str
    status: str  # created, exists or would create (dry run)
    note: str = ""


def ensure_buckets(clients: GcpClients, retention_days: int | None,
                   dry_run: bool) -> list[Resource]:
    config = clients.config
    names = dict.fromkeys([config.registry_bucket, config.staging_bucket or config.registry_bucket])
    return [_ensure_bucket(clients, name, retention_days, dry_run) for name in names]


def _ensure_bucket(clients: GcpClients, name: str, retention_days: int | None,
                   dry_run: bool) -> Resource:
    storage = clients.storage
    try:
        if storage.lookup_bucket(name) is not None:
            return Resource("bucket", f"gs://{name}", "exists")
        if dry_run:
            return Resource("bucket", f"gs://{name}", "would create")
        bucket = storage.bucket(name)
        # Uniform access: IAM on the bucket decides everything, no per-object ACLs to audit.
        bucket.iam_configuration.uniform_bucket_level_access_enabled = True
        bucket.versioning_enabled = False  # versions are immutable by precondition, not history
        if retention_days:
            bucket.retention_period = retention_days * 86400
        storage.create_bucket(bucket, location=clients.config.region)
    except gexc.Conflict:
        return Resource("bucket", f"gs://{name}", "exists", "created concurrently or owned by "
                        "another project: bucket names are global")
    except gexc.Forbidden as error:
        raise UserError(f"permission denied on bucket gs://{name} ({error.message}): the "
                        "identity running bootstrap needs roles/storage.admin on project "
                        f"{clients.config.project}") from error
    note = f"retention {retention_days} days" if retention_days else ""
    return Resource("bucket", f"gs://{name}", "created", note)


def ensure_repositories(clients: GcpClients, dry_run: bool) -> list[Resource]:
    from google.cloud import artifactregistry_v1 as ar

    config = clients.config
    wanted = [(config.artifact_repository, ar.Repository.Format.DOCKER)]
    if config.kfp_repository:
        wanted.append((config.kfp_repository, ar.Repository.Format.KFP))
    return [_ensure_repository(clients, repository, kind, dry_run) for repository, kind in wanted]


def _ensure_repository(clients: GcpClients, repository_id: str, kind: object,
                       dry_run: bool) -> Resource:
    from google.cloud import artifactregistry_v1 as ar

    config = clients.config
    parent = f"projects/{config.project}/locations/{config.region}"
    name = f"{parent}/repositories/{repository_id}"
    docker = kind == ar.Repository.Format.DOCKER
    client = clients.artifact_registry
    try:
        client.get_repository(name=name)
        return Resource("repository", name, "exists")
    except gexc.NotFound:
        pass
    except gexc.Forbidden as error:
        raise _repository_denied(name, config.project, error) from error
    if dry_run:
        return Resource("repository", name, "would create")
    repository = ar.Repository(
        format_=kind, description="mlops-bot: pipeline images" if docker else
        "mlops-bot: compiled pipelines",
        # Immutable tags: a SHA or content-hash tag can never be pointed at other bytes.
        docker_config=ar.Repository.DockerRepositoryConfig(immutable_tags=True) if docker
        else None)
    try:
        _wait(client.create_repository(parent=parent, repository_id=repository_id,
                                       repository=repository))
    except gexc.AlreadyExists:
        return Resource("repository", name, "exists", "created concurrently")
    except gexc.Forbidden as error:
        raise _repository_denied(name, config.project, error) from error
    return Resource("repository", name, "created", "immutable tags" if docker else "")


def _wait(operation: Any) -> None:
    operation.result(timeout=300)


def _repository_denied(name: str, project: str, error: gexc.GoogleAPICallError) -> UserError:
    return UserError(f"permission denied on {name} ({error.message}): the identity running "
                     f"bootstrap needs roles/artifactregistry.admin on project {project}")
