"""Identities for the fake Google servers: who calls, and whether their roles allow the call.

The caller is read from `Authorization: Bearer fake-token:<service-account-email>` (the token a
fake token exchange hands out, see `token_for`); no header, or any other token, is anonymous.
A service account's permissions are those `mlops_bot.backends.gcp.identities` grants it, the
same definitions `mlops-bot bootstrap` prints, so a test proves what the real set-up allows:

    iam = Iam(project="acme-ml", registry_bucket="acme-registry")
    with FakeVertexModels().enforce(iam) as vertex, FakeGcs().enforce(iam) as gcs:
        clients = GcpClients(config, credentials_for(BUILD.email("acme-ml")))
        ...  # a deploy by the build identity answers 403 PERMISSION_DENIED, as Vertex does

Enforcement is opt-in per fake (`enforce`), so tests about other behaviour keep anonymous clients.
Refusals are recorded in `iam.denied` as (caller, permission, resource).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

from mlops_bot.backends.gcp.identities import IDENTITIES, Identity, permissions_of
from tests.support.loopback import LoopbackServer

__all__ = ["ROUTE_PERMISSIONS", "TOKEN_PREFIX", "Denied", "Iam", "TokenServer", "credentials_for",
           "token_for"]

TOKEN_PREFIX = "fake-token:"

# The permission each route of the JSON fakes checks, as the real services document them.
ROUTE_PERMISSIONS: dict[str, str] = {
    "create_build": "cloudbuild.builds.create",
    "list_builds": "cloudbuild.builds.list",
    "get_build": "cloudbuild.builds.get",
    "get_tag": "artifactregistry.tags.get",
    "create_tag": "artifactregistry.tags.create",
    "get_repository": "artifactregistry.repositories.get",
    "create_repository": "artifactregistry.repositories.create",
    "create_pipeline_job": "aiplatform.pipelineJobs.create",
    "list_pipeline_jobs": "aiplatform.pipelineJobs.list",
    "get_pipeline_job": "aiplatform.pipelineJobs.get",
    "create_schedule": "aiplatform.schedules.create",
    "list_schedules": "aiplatform.schedules.list",
    "get_schedule": "aiplatform.schedules.get",
    "update_schedule": "aiplatform.schedules.update",
    "pause_schedule": "aiplatform.schedules.pause",
    "resume_schedule": "aiplatform.schedules.resume",
    "delete_schedule": "aiplatform.schedules.delete",
    "upload_model": "aiplatform.models.upload",
    "list_models": "aiplatform.models.list",
    "get_model": "aiplatform.models.get",
    "list_model_versions": "aiplatform.models.list",
    "merge_version_aliases": "aiplatform.models.update",
    "create_endpoint": "aiplatform.endpoints.create",
    "list_endpoints": "aiplatform.endpoints.list",
    "get_endpoint": "aiplatform.endpoints.get",
    "update_endpoint": "aiplatform.endpoints.update",
    "deploy_model": "aiplatform.endpoints.deploy",
    "undeploy_model": "aiplatform.endpoints.undeploy",
    "predict": "aiplatform.endpoints.predict",
    "create_monitoring_job": "aiplatform.modelDeploymentMonitoringJobs.create",
    "get_monitoring_job": "aiplatform.modelDeploymentMonitoringJobs.get",
    "list_monitoring_jobs": "aiplatform.modelDeploymentMonitoringJobs.list",
    "update_monitoring_job": "aiplatform.modelDeploymentMonitoringJobs.update",
    "delete_monitoring_job": "aiplatform.modelDeploymentMonitoringJobs.delete",
    "search_monitoring_anomalies":
        "aiplatform.modelDeploymentMonitoringJobs.searchModelDeploymentMonitoringStatsAnomalies",
}
# An operation is read with the get permission of the resource it belongs to.
_OPERATION_OWNERS = {"/models/": "aiplatform.models.get",
                     "/endpoints/": "aiplatform.endpoints.get",
                     "/schedules/": "aiplatform.schedules.get",
                     "/modelDeploymentMonitoringJobs/":
                         "aiplatform.modelDeploymentMonitoringJobs.get"}
_HOSTS = {"aiplatform": "aiplatform.googleapis.com", "cloudbuild": "cloudbuild.googleapis.com",
          "artifactregistry": "artifactregistry.googleapis.com", "iam": "iam.googleapis.com"}


def token_for(email: str) -> str:
    return TOKEN_PREFIX + email


def credentials_for(email: str) -> Any:
    """google-auth credentials that send `email`'s fake token, as a token exchange would."""
    from google.oauth2.credentials import Credentials

    return Credentials(token=token_for(email))


class TokenServer(LoopbackServer):
    """A token exchange (STS) that hands out `email`'s fake token for any subject token, for
    Application Default Credentials read from a file (`GOOGLE_APPLICATION_CREDENTIALS`) of the
    kind google-github-actions/auth writes on a runner (`external_account`, Workload Identity
    Federation); it evaluates no claims (a fake of the provider does, with `Federation.job_of`):

        with TokenServer(BUILD.email("acme-ml")) as tokens:
            env = {"GOOGLE_APPLICATION_CREDENTIALS": str(tokens.credentials_file(tmp_path))}
    """

    def __init__(self, email: str) -> None:
        self.email = email
        self.requests = 0
        super().__init__(_token_handler(self))

    @property
    def endpoint(self) -> str:
        return f"{self.base_url}/v1/token"

    def credentials_file(self, folder: Path) -> Path:
        """An `external_account` ADC file whose token exchange comes here."""
        (folder / "oidc-token").write_text("a GitHub OIDC token")
        path = folder / "gha-creds.json"
        path.write_text(json.dumps({
            "type": "external_account",
            "audience": "//iam.googleapis.com/projects/123/locations/global/"
                        "workloadIdentityPools/github/providers/github",
            "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
            "token_url": self.endpoint,
            "credential_source": {"file": str(folder / "oidc-token")}}))
        return path


def _token_handler(server: TokenServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            server.requests += 1
            body = json.dumps({
                "access_token": token_for(server.email), "expires_in": 3600,
                "token_type": "Bearer",
                "issued_token_type": "urn:ietf:params:oauth:token-type:access_token"}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler


@dataclass(frozen=True)
class Denied:
    status: int  # 401 anonymous, 403 not allowed
    message: str


@dataclass
class Iam:
    """The service accounts of one project and what each may do, from the product's roles."""

    project: str
    registry_bucket: str
    staging_bucket: str | None = None
    runtime_account: str | None = None  # gcp.service_account: the account runs execute as
    superusers: Iterable[str] = ()  # emails allowed everything (an administrator running set-up)
    denied: list[tuple[str | None, str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.accounts: dict[str, Identity] = {i.email(self.project): i for i in IDENTITIES}
        self.superusers = set(self.superusers)
        self._lock = threading.Lock()

    @staticmethod
    def caller(authorization: str | None) -> str | None:
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.startswith(TOKEN_PREFIX):
            return None
        return token.removeprefix(TOKEN_PREFIX) or None

    def allows(self, caller: str | None, permission: str, on: Iterable[str],
               object_name: str | None = None) -> bool:
        if caller is None:
            return False
        if caller in self.superusers:
            return True
        identity = self.accounts.get(caller)
        return identity is not None and any(
            permission in permissions_of(identity, resource, object_name) for resource in on)

    # -- the JSON APIs (Cloud Build, Artifact Registry, Vertex AI) -------------------------
    def check_route(self, authorization: str | None, route: str, path: str,
                    apis: Iterable[str], body: Any = None) -> Denied | None:
        """`apis`: the discovery names the fake serves, which say whose operations it polls."""
        permission = ROUTE_PERMISSIONS.get(route) or _operation_permission(path, set(apis))
        if permission is None:
            return None
        denied = self._check(authorization, permission, path)
        account = body.get("serviceAccount") if isinstance(body, dict) else None
        if denied is None and route == "create_pipeline_job" and account:
            # A job that runs as a service account needs actAs on it (Vertex checks that too).
            denied = self._check(authorization, "iam.serviceAccounts.actAs",
                                 f"/v1/projects/-/serviceAccounts/{account}",
                                 on="runtime_account" if account == self.runtime_account else "")
        return denied

    def _check(self, authorization: str | None, permission: str, path: str,
               on: str | None = None) -> Denied | None:
        service = permission.split(".", 1)[0]
        if on is None:
            on = "artifact_repository" if service == "artifactregistry" else "project"
        resource = "//{}/{}".format(_HOSTS[service], path.split("/", 2)[-1].split(":")[0])
        caller = self.caller(authorization)
        if self.allows(caller, permission, [on]):
            return None
        self._record(caller, permission, resource)
        if caller is None:
            return Denied(401, "Request is missing required authentication credential. Expected "
                          "OAuth 2 access token, login cookie or other valid authentication "
                          "credential.")
        return Denied(403, f"Permission '{permission}' denied on resource '{resource}' (or it "
                      "may not exist).")

    # -- Cloud Storage ---------------------------------------------------------------------
    def check_storage(self, authorization: str | None, permission: str, bucket: str,
                      name: str | None) -> Denied | None:
        on = [kind for kind, named in (("registry_bucket", self.registry_bucket),
                                       ("staging_bucket", self.staging_bucket
                                        or self.registry_bucket)) if named == bucket]
        caller = self.caller(authorization)
        if self.allows(caller, permission, on, name):
            return None
        kind = "object" if permission.startswith("storage.objects") else "bucket"
        self._record(caller, permission, f"gs://{bucket}/{name or ''}")
        if caller is None:
            return Denied(401, f"Anonymous caller does not have {permission} access to the "
                          f"Google Cloud Storage {kind}. Permission '{permission}' denied on "
                          "resource (or it may not exist).")
        return Denied(403, f"{caller} does not have {permission} access to the Google Cloud "
                      f"Storage {kind}. Permission '{permission}' denied on resource (or it may "
                      "not exist).")

    def _record(self, caller: str | None, permission: str, resource: str) -> None:
        with self._lock:
            self.denied.append((caller, permission, resource))


def _operation_permission(path: str, apis: set[str]) -> str | None:
    if "operations/" not in path:
        return None
    if "cloudbuild.v1" in apis:
        return "cloudbuild.builds.get"
    if "artifactregistry.v1" in apis:
        return "artifactregistry.repositories.get"
    return next((p for marker, p in _OPERATION_OWNERS.items() if marker in path), None)
