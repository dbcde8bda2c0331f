"""The one-time Google Cloud set-up, replacing seed 000's `magic()` set-up.

Creates the registry bucket and the Artifact Registry repositories when they are missing, leaves
them when they exist, and prints the rest of the set-up as commands to review and run: the two
service accounts of the workflows (build, deploy) with their custom roles and resource-level
bindings, the Workload Identity Federation provider whose attribute mapping decides which job
may mint which, and the GitHub variables the workflows read. All of it comes from
`mlops_bot.backends.gcp.identities`, the one definition of who may do what.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_bot.errors import UserError

if TYPE_CHECKING:
    from mlops_bot.backends.gcp.bootstrap import Resource
    from mlops_bot.backends.gcp.identities import Grant, Identity
    from mlops_bot.config import GcpConfig

__all__ = ["AccessPlan", "access_guide", "bootstrap"]

_POOL = "github"
_PROVIDER = "github"


def bootstrap(repo: Path, retention_days: int | None, dry_run: bool, github_repository: str,
              default_branch: str = "main") -> tuple[list[Resource], AccessPlan]:
    """Create what is missing (nothing when `dry_run`); the resources with what happened to
    each, and the access set-up still to review and run."""
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
    return resources, AccessPlan(config.gcp, github_repository, default_branch,
                                 list(config.environments))


def access_guide(gcp: GcpConfig, github_repository: str, default_branch: str = "main",
                 environments: list[str] | None = None) -> str:
    """The identities, roles, Workload Identity Federation and GitHub variables, as text."""
    return AccessPlan(gcp, github_repository, default_branch, environments or []).text()


class AccessPlan:
    """The set-up of both identities for one project and repository, as commands and data."""

    def __init__(self, gcp: GcpConfig, github_repository: str, default_branch: str,
                 environments: list[str]) -> None:
        from mlops_bot.backends.gcp.identities import Federation

        self.gcp = gcp
        self.federation = Federation(github_repository, default_branch, environments)
        self.provider = (f"projects/<project number>/locations/global/workloadIdentityPools/"
                         f"{_POOL}/providers/{_PROVIDER}")

    # -- data ------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        from mlops_bot.backends.gcp.identities import IDENTITIES

        return {
            "identities": [self._identity(i) for i in IDENTITIES],
            "workload_identity": {
                "provider": self.provider,
                "attribute_condition": self.federation.attribute_condition(),
                "attribute_mapping": self.federation.attribute_mapping()},
            "github_variables": self.variables(),
        }

    def _identity(self, identity: Identity) -> dict[str, Any]:
        return {"name": identity.name, "service_account": identity.email(self.gcp.project),
                "jobs": identity.jobs, "principal": self._principal(identity),
                "grants": [{"role": self._role_name(g), "on": self._resource(g.on),
                            "condition": (g.condition.expression(self._bucket(g.on))
                                          if g.condition else None),
                            "permissions": dict(g.permissions)} for g in self._grants(identity)]}

    def _grants(self, identity: Identity) -> list[Grant]:
        """The identity's grants on what this configuration has (no KFP repository, no grant)."""
        return [g for g in identity.grants if g.on != "kfp_repository" or self.gcp.kfp_repository]

    def variables(self) -> dict[str, Any]:
        from mlops_bot.backends.gcp.identities import BUILD, DEPLOY

        environments = self.federation.environments or ["<environment>"]
        return {"repository": {"GCP_WORKLOAD_IDENTITY_PROVIDER": self.provider,
                               BUILD.variable: BUILD.email(self.gcp.project)},
                "environments": {e: {DEPLOY.variable: DEPLOY.email(self.gcp.project)}
                                 for e in environments}}

    # -- text ------------------------------------------------------------------------------
    def text(self) -> str:
        from mlops_bot.backends.gcp.identities import IDENTITIES

        self._roles_printed: set[str] = set()
        lines = ["One identity per job (see the README's trust model). Review, then run:", ""]
        for identity in IDENTITIES:
            lines += self._identity_text(identity)
        lines += self._federation_text()
        lines += self._variables_text()
        lines += ["", "The pipelines themselves run as the runtime account "
                  f"({self.gcp.service_account or 'gcp.service_account, else the Compute default'}"
                  "): it needs to read and write the pipeline root and read the image repository "
                  "(roles/storage.objectUser on the pipeline root bucket, "
                  "roles/artifactregistry.reader on the repository).",
                  "No JSON key is ever created."]
        return "\n".join(lines)

    def _identity_text(self, identity: Identity) -> list[str]:
        project, email = self.gcp.project, identity.email(self.gcp.project)
        lines = [f"# {identity.name} identity: {email}", f"#   obtained by {identity.jobs}",
                 _command("gcloud", "iam", "service-accounts", "create", identity.account_id,
                          f"--project={project}", f"--display-name=mlops-bot {identity.name}")]
        for grant in self._grants(identity):
            role = grant.role
            if not role.predefined and role.id not in self._roles_printed:
                self._roles_printed.add(role.id)  # a role shared by both is created once
                lines += [f"#   role {role.id}:"]
                lines += [f"#     {p}: {why}" for p, why in role.permissions.items()]
                lines.append(_command("gcloud", "iam", "roles", "create", role.id,
                                      f"--project={project}", f"--title={role.title}",
                                      "--permissions=" + ",".join(role.permissions)))
            lines.append(self._binding(grant, f"serviceAccount:{email}"))
        lines.append(_command(
            "gcloud", "iam", "service-accounts", "add-iam-policy-binding", email,
            f"--project={project}", "--role=roles/iam.workloadIdentityUser",
            f"--member={self._principal(identity)}"))
        return [*lines, ""]

    def _binding(self, grant: Grant, member: str) -> str:
        role, on = self._role_name(grant), grant.on
        common = [f"--member={member}", f"--role={role}"]
        if grant.condition is not None:
            common.append(f"--condition=expression={grant.condition.expression(self._bucket(on))}"
                          f",title={grant.condition.title}")
        if on == "project":
            return _command("gcloud", "projects", "add-iam-policy-binding", self.gcp.project,
                            *common)
        if on in ("registry_bucket", "staging_bucket"):
            return _command("gcloud", "storage", "buckets", "add-iam-policy-binding",
                            f"gs://{self._bucket(on)}", *common)
        if on in ("artifact_repository", "kfp_repository"):
            return _command("gcloud", "artifacts", "repositories", "add-iam-policy-binding",
                            self._repository(on), f"--project={self.gcp.project}",
                            f"--location={self.gcp.region}", *common)
        return _command("gcloud", "iam", "service-accounts", "add-iam-policy-binding",
                        self._resource(on), f"--project={self.gcp.project}", *common)

    def _federation_text(self) -> list[str]:
        project, federation = self.gcp.project, self.federation
        # The mapping's expressions hold commas: `^;^` makes `;` gcloud's separator instead.
        mapping = ";".join(f"{k}={v}" for k, v in federation.attribute_mapping().items())
        return [
            "# Workload Identity Federation: GitHub's OIDC tokens of this repository only; the",
            "# mapping names each job build, deploy or none (deploy: a deploy job of the default",
            f"# branch's {' or '.join(federation.DEPLOY_WORKFLOWS)}, in an environment of "
            "mlops.yaml).",
            _command("gcloud", "iam", "workload-identity-pools", "create", _POOL,
                     f"--project={project}", "--location=global"),
            _command("gcloud", "iam", "workload-identity-pools", "providers", "create-oidc",
                     _PROVIDER, f"--project={project}", "--location=global",
                     f"--workload-identity-pool={_POOL}",
                     "--issuer-uri=https://token.actions.githubusercontent.com",
                     f"--attribute-mapping=^;^{mapping}",
                     f"--attribute-condition={federation.attribute_condition()}"),
            ""]

    def _variables_text(self) -> list[str]:
        variables = self.variables()
        repository = self.federation.repository
        lines = ["# GitHub variables (Settings > Secrets and variables > Actions > Variables):",
                 "# the build identity's for the whole repository, the deploy identity's only",
                 "# in each environment, where only its deploy job can read it."]
        lines += [_command("gh", "variable", "set", name, f"--repo={repository}",
                           f"--body={value}") for name, value in variables["repository"].items()]
        lines += [_command("gh", "variable", "set", name, f"--repo={repository}",
                           f"--env={environment}", f"--body={value}")
                  for environment, names in variables["environments"].items()
                  for name, value in names.items()]
        lines.append("# (<project number>: gcloud projects describe "
                     f"{self.gcp.project} --format='value(projectNumber)')")
        return lines

    # -- names -----------------------------------------------------------------------------
    def _principal(self, identity: Identity) -> str:
        return (f"principalSet://iam.googleapis.com/projects/<project number>/locations/global/"
                f"workloadIdentityPools/{_POOL}/attribute.mlops_job/{identity.name}")

    def _role_name(self, grant: Grant) -> str:
        role = grant.role
        return role.id if role.predefined else f"projects/{self.gcp.project}/roles/{role.id}"

    def _bucket(self, on: str) -> str:
        if on == "staging_bucket":
            return self.gcp.staging_bucket or self.gcp.registry_bucket
        return self.gcp.registry_bucket

    def _repository(self, on: str) -> str:
        if on == "kfp_repository" and self.gcp.kfp_repository:
            return self.gcp.kfp_repository
        return self.gcp.artifact_repository

    def _resource(self, on: str) -> str:
        gcp = self.gcp
        if on == "project":
            return f"projects/{gcp.project}"
        if on in ("registry_bucket", "staging_bucket"):
            return f"gs://{self._bucket(on)}"
        if on in ("artifact_repository", "kfp_repository"):
            return (f"projects/{gcp.project}/locations/{gcp.region}/repositories/"
                    f"{self._repository(on)}")
        return gcp.service_account or f"<runtime account>@{gcp.project}.iam.gserviceaccount.com"


def _command(*words: str) -> str:
    return "  " + " ".join(shlex.quote(w) for w in words)
