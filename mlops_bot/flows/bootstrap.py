"""`mlops-bot bootstrap`: the one-time Google Cloud set-up, replacing seed 000's `magic()` set-up.

Creates the registry bucket and the Artifact Registry repositories when they are missing, leaves
them when they exist, and prints the least-privilege roles each identity needs and the Workload
Identity Federation set-up that lets GitHub Actions act without a JSON key.
"""

from __future__ import annotations

from pathlib import Path

from mlops_bot.console import emit_json, say
from mlops_bot.errors import UserError

__all__ = ["access_guide", "run_bootstrap"]


def run_bootstrap(repo: Path, retention_days: int | None, dry_run: bool,
                  github_repository: str, as_json: bool) -> int:
    from mlops_bot.backends.gcp.bootstrap import ensure_buckets, ensure_repositories
    from mlops_bot.backends.gcp.clients import GcpClients
    from mlops_bot.config import load_config

    config = load_config(repo)
    if config.gcp is None:
        raise UserError("bootstrap sets up Google Cloud, and mlops.yaml has no gcp: section: add "
                        "project, region, artifact_repository and registry_bucket")
    clients = GcpClients(config.gcp)
    resources = ensure_buckets(clients, retention_days, dry_run) + ensure_repositories(
        clients, dry_run)
    guide = access_guide(config.gcp.project, config.gcp.region, config.gcp.registry_bucket,
                         config.gcp.artifact_repository, config.gcp.service_account,
                         github_repository)
    if as_json:
        emit_json({"resources": [vars(r) for r in resources], "access": guide})
        return 0
    for r in resources:
        say(f"{r.status:<13} {r.kind:<10} {r.name}" + (f"  ({r.note})" if r.note else ""))
    say("")
    say(guide)
    return 0


def access_guide(project: str, region: str, bucket: str, repository: str,
                 runtime_account: str | None, github_repository: str) -> str:
    """Who needs which role, and the Workload Identity Federation commands, as text."""
    runtime = runtime_account or f"<runtime account>@{project}.iam.gserviceaccount.com"
    repo_path = f"projects/{project}/locations/{region}/repositories/{repository}"
    return f"""Least-privilege roles (grant on the resource named, not the project, where one is):

  builder (push job)          roles/cloudbuild.builds.editor     project {project}
                              roles/artifactregistry.writer      {repo_path}
                              roles/storage.objectAdmin          gs://{bucket} (build sources)
  registry writer (push job)  roles/storage.objectAdmin          gs://{bucket}
  pipeline runner (push job)  roles/aiplatform.user              project {project}
                              roles/iam.serviceAccountUser       {runtime}
  pipelines at run time       roles/storage.objectAdmin          the pipeline root bucket
  ({runtime})
                              roles/artifactregistry.reader      {repo_path}
  deployer (deploy job)       roles/aiplatform.user              project {project}
                              roles/storage.objectAdmin          gs://{bucket} (versions, locks)

GitHub Actions without keys (Workload Identity Federation), once per project:

  gcloud iam workload-identity-pools create github --project={project} --location=global
  gcloud iam workload-identity-pools providers create-oidc github --project={project} \\
      --location=global --workload-identity-pool=github \\
      --issuer-uri=https://token.actions.githubusercontent.com \\
      --attribute-mapping=google.subject=assertion.sub,attribute.repository=assertion.repository \\
      --attribute-condition="assertion.repository=='{github_repository}'"
  gcloud iam service-accounts add-iam-policy-binding <the CI service account> \\
      --project={project} --role=roles/iam.workloadIdentityUser \\
      --member="principalSet://iam.googleapis.com/projects/<project number>/locations/global/\
workloadIdentityPools/github/attribute.repository/{github_repository}"

Then set the repository variables GCP_WORKLOAD_IDENTITY_PROVIDER
(projects/<project number>/locations/global/workloadIdentityPools/github/providers/github) and
GCP_SERVICE_ACCOUNT (the CI service account's email), which the workflows pass to
google-github-actions/auth. No JSON key is ever created."""
