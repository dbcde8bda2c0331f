"""Who may do what on Google Cloud: the two identities of the workflows, in one place.

`mlops-bot bootstrap` prints (and `--json` lists) exactly these definitions, and the tests' fake
Google servers enforce them, so what the README promises, what bootstrap sets up and what the
tests prove cannot drift apart.

- The build identity (push and retrain jobs) builds images, publishes new registry versions,
  moves registry tags and starts pipeline runs. It cannot deploy or undeploy models on endpoints,
  register models or move their aliases, overwrite or delete a registry version, or write
  anything outside `pipelines/` and the build sources (so no locks). Any job of the repository
  that runs on a branch may mint it: the push workflow runs a branch's `definition.py` while
  compiling, so whoever can push a branch can reach this identity, and nothing more.
- The deploy identity (only the `deploy` jobs of mlops-comment.yml, mlops-retrain.yml and
  mlops-monitor.yml, as they are on the default branch, inside one of the GitHub Environments of
  mlops.yaml, so only after the Environment's reviewers approved) registers models, moves their
  aliases and deploys, shifts and undeploys them on endpoints.

Vertex AI's predefined roles are too coarse (roles/aiplatform.user can deploy and undeploy), so
each identity gets custom roles with the permissions listed below, each with its reason, granted
on the narrowest resource: the project for Vertex AI and Cloud Build (they have no finer IAM),
the Artifact Registry repository, and the buckets, where IAM conditions on the object name keep
the build identity to `pipelines/` (create-only: overwriting needs storage.objects.delete, which
it holds only on tag objects).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar

__all__ = ["BUILD", "DEPLOY", "IDENTITIES", "Federation", "Grant", "Identity", "ObjectCondition",
           "Role", "identity_for_claims", "permissions_of"]


@dataclass(frozen=True)
class Role:
    """A custom role (or, `predefined`, one of Google's, listed for what we use of it):
    `permissions` maps each permission to why the identity needs it."""

    id: str  # the custom role id, projects/<project>/roles/<id>; or roles/... when predefined
    title: str
    permissions: Mapping[str, str]
    predefined: bool = False


@dataclass(frozen=True)
class ObjectCondition:
    """An IAM condition on object names of a bucket: under `prefix`, and (when `tags_only`) a
    registry tag object `pipelines/<pipeline>/tags/<tag>`."""

    title: str
    prefix: str
    tags_only: bool = False

    def expression(self, bucket: str) -> str:
        """The condition in IAM's CEL, as `gcloud ... --condition=expression=...` takes it."""
        objects = f"projects/_/buckets/{bucket}/objects/"
        cel = f'resource.name.startsWith("{objects}{self.prefix}")'
        if self.tags_only:
            cel += f' && resource.name.extract("{objects}pipelines/{{pipeline}}/tags/") != ""'
        return cel

    def allows(self, name: str) -> bool:
        """Whether the condition holds for object `name`: the same test as `expression`."""
        if not name.startswith(self.prefix):
            return False
        if not self.tags_only:
            return True
        # extract() takes the text up to the first '/tags/' after 'pipelines/': non-empty then.
        rest = name.removeprefix("pipelines/") if name.startswith("pipelines/") else None
        return rest is not None and rest.find("/tags/") > 0


@dataclass(frozen=True)
class Grant:
    """`role` bound on `on`: project, registry_bucket, staging_bucket, artifact_repository,
    kfp_repository (only when gcp.kfp_repository is set) or runtime_account (the service account
    pipelines run as)."""

    role: Role
    on: str
    condition: ObjectCondition | None = None

    @property
    def permissions(self) -> Mapping[str, str]:
        return self.role.permissions


@dataclass(frozen=True)
class Identity:
    name: str  # build or deploy
    account_id: str  # the service account is <account_id>@<project>.iam.gserviceaccount.com
    jobs: str  # who obtains it, for people
    variable: str  # the GitHub variable holding its email
    variable_scope: str  # repository or environment
    grants: tuple[Grant, ...]

    def email(self, project: str) -> str:
        return f"{self.account_id}@{project}.iam.gserviceaccount.com"


_BUILDS = Role("mlopsBotBuild", "mlops-bot build: images, runs", {
    "cloudbuild.builds.create": "build a pipeline's image from its Dockerfile",
    "cloudbuild.builds.get": "follow the build until it ends",
    "cloudbuild.builds.list": "find the build of an image's content hash made by an earlier push",
    "aiplatform.pipelineJobs.create": "start a run of a published version",
    "aiplatform.pipelineJobs.get": "follow a run and read its metrics",
    "aiplatform.pipelineJobs.list": "find the run of a version and parameters started earlier",
    "aiplatform.endpoints.get": "retrain: read the champion serving an environment",
    "aiplatform.endpoints.list": "retrain: find an environment's endpoint by its label",
    "aiplatform.models.get": "retrain: read the champion model's metrics",
    "aiplatform.models.list": "retrain: find the champion's model",
})
_IMAGES = Role("mlopsBotImages", "mlops-bot build: image tags", {
    "artifactregistry.tags.get": "see whether an image of this content hash already exists",
    "artifactregistry.tags.create": "add the commit tag to an image (tags are immutable)",
    "artifactregistry.repositories.uploadArtifacts": "push images; upload compiled pipelines to "
                                                     "the kfp repository",
})
_READ_OBJECTS = Role("mlopsBotReadObjects", "mlops-bot: read the registry", {
    "storage.objects.get": "read versions, manifests and tags",
    "storage.objects.list": "list versions and tags",
    "storage.buckets.get": "the storage client reads the bucket's location after a 404 "
                           "(tracing metadata); refused, it only logs",
})
_CREATE_OBJECTS = Role("mlopsBotCreateObjects", "mlops-bot build: new objects", {
    "storage.objects.create": "write new versions (create-only), new tags and build sources",
})
_REPLACE_OBJECTS = Role("mlopsBotReplaceObjects", "mlops-bot build: move tags", {
    "storage.objects.delete": "move a tag, re-upload a build source: replacing an object needs "
                              "delete on it; granted only on those objects, so versions stay "
                              "create-only",
})
_DEPLOYS = Role("mlopsBotDeploy", "mlops-bot deploy: models and endpoints", {
    "aiplatform.models.upload": "register the approved run's model as a version",
    "aiplatform.models.get": "read a registered version",
    "aiplatform.models.list": "find the pipeline's model and its versions",
    "aiplatform.models.update": "move the environment's alias to the promoted version",
    "aiplatform.endpoints.create": "create an environment's endpoint the first time",
    "aiplatform.endpoints.get": "read the endpoint's deployed models and traffic",
    "aiplatform.endpoints.list": "find an environment's endpoint by its label",
    "aiplatform.endpoints.update": "shift traffic (canary, then 100%, or back)",
    "aiplatform.endpoints.deploy": "deploy the candidate next to the champion",
    "aiplatform.endpoints.undeploy": "undeploy the previous model, or the failed candidate",
    "aiplatform.endpoints.predict": "smoke-test the candidate before it takes traffic",
    "aiplatform.pipelineJobs.get": "check the approved run against Vertex before promoting",
    "aiplatform.pipelineJobs.list": "find the approved run by its labels",
    "aiplatform.modelDeploymentMonitoringJobs.create": "monitor the endpoint the first time",
    "aiplatform.modelDeploymentMonitoringJobs.get": "read the endpoint's monitoring job",
    "aiplatform.modelDeploymentMonitoringJobs.list": "find the endpoint's monitoring job",
    "aiplatform.modelDeploymentMonitoringJobs.update": "point monitoring at what serves now",
    "aiplatform.modelDeploymentMonitoringJobs.delete": "stop monitoring removed from mlops.yaml",
    "aiplatform.modelDeploymentMonitoringJobs.searchModelDeploymentMonitoringStatsAnomalies":
        "monitoring status: read the latest anomalies",
})

_ACT_AS = Role("roles/iam.serviceAccountUser", "Service Account User", {
    "iam.serviceAccounts.actAs": "start pipeline runs that execute as the runtime account",
}, predefined=True)

_PIPELINES = ObjectCondition("mlops-bot registry pipelines", "pipelines/")
_SOURCES = ObjectCondition("mlops-bot build sources", "mlops-bot/sources/")
_TAGS = ObjectCondition("mlops-bot registry tags", "pipelines/", tags_only=True)

BUILD = Identity(
    "build", "mlops-bot-build", "push and retrain jobs (any branch of the repository)",
    "GCP_BUILD_SERVICE_ACCOUNT", "repository", (
        Grant(_BUILDS, "project"),
        Grant(_IMAGES, "artifact_repository"),
        # Compiled pipelines go to the KFP repository as well when one is configured.
        Grant(_IMAGES, "kfp_repository"),
        Grant(_READ_OBJECTS, "registry_bucket"),
        Grant(_CREATE_OBJECTS, "registry_bucket", _PIPELINES),
        Grant(_REPLACE_OBJECTS, "registry_bucket", _TAGS),
        Grant(_CREATE_OBJECTS, "staging_bucket", _SOURCES),
        Grant(_REPLACE_OBJECTS, "staging_bucket", _SOURCES),
        # Runs execute as the runtime account; starting one needs actAs on it, and nothing else.
        Grant(_ACT_AS, "runtime_account"),
    ))
DEPLOY = Identity(
    "deploy", "mlops-bot-deploy", "the approved deploy jobs (default branch, in a GitHub "
    "Environment)", "GCP_DEPLOY_SERVICE_ACCOUNT", "environment", (
        Grant(_DEPLOYS, "project"),
        Grant(_READ_OBJECTS, "registry_bucket"),
    ))
IDENTITIES: tuple[Identity, ...] = (BUILD, DEPLOY)


def permissions_of(identity: Identity, resource: str, object_name: str | None = None) -> set[str]:
    """What `identity` may do on `resource` (a Grant's `on`), for object `object_name` when one
    is named: conditional grants hold only for objects that match their condition."""
    return {permission for grant in identity.grants if grant.on == resource
            if grant.condition is None or (object_name is not None
                                           and grant.condition.allows(object_name))
            for permission in grant.permissions}


@dataclass(frozen=True)
class Federation:
    """The Workload Identity Federation provider for one GitHub repository.

    The provider admits only tokens of `repository`, and maps each token to one attribute,
    `attribute.mlops_job`: `deploy` for a deploy job of the default branch's comment or retrain
    workflow inside one of `environments`, `build` for any other job of a branch (push,
    workflow_dispatch or schedule events), `none` otherwise. Each service account trusts one
    value, so no other workflow, branch, event or job can mint the deploy identity."""

    repository: str  # OWNER/REPO
    default_branch: str
    environments: Sequence[str]

    DEPLOY_WORKFLOWS: ClassVar[tuple[str, ...]] = ("mlops-comment.yml", "mlops-retrain.yml",
                                                   "mlops-monitor.yml")
    BUILD_EVENTS: ClassVar[tuple[str, ...]] = ("push", "workflow_dispatch", "schedule")

    @property
    def deploy_workflow_refs(self) -> list[str]:
        return [f"{self.repository}/.github/workflows/{name}@refs/heads/{self.default_branch}"
                for name in self.DEPLOY_WORKFLOWS]

    def attribute_condition(self) -> str:
        return f'assertion.repository == "{self.repository}"'

    def attribute_mapping(self) -> dict[str, str]:
        environments, refs, events = (", ".join(f'"{v}"' for v in values) for values in (
            self.environments, self.deploy_workflow_refs, self.BUILD_EVENTS))
        job = (f'("environment" in assertion && assertion.environment in [{environments}] '
               f'&& assertion.job_workflow_ref in [{refs}]) ? "deploy" : '
               f'((assertion.ref.startsWith("refs/heads/") && assertion.event_name in '
               f'[{events}]) ? "build" : "none")')
        return {"google.subject": "assertion.sub", "attribute.repository": "assertion.repository",
                "attribute.mlops_job": job}

    def job_of(self, claims: Mapping[str, str]) -> str | None:
        """`attribute.mlops_job` for the OIDC `claims`, evaluated as the mapping above is (for
        fakes of Google's token exchange); None when the attribute condition refuses them."""
        if claims.get("repository") != self.repository:
            return None
        if (claims.get("environment") in self.environments
                and claims.get("job_workflow_ref") in self.deploy_workflow_refs):
            return "deploy"
        if (str(claims.get("ref", "")).startswith("refs/heads/")
                and claims.get("event_name") in self.BUILD_EVENTS):
            return "build"
        return "none"


def identity_for_claims(federation: Federation, claims: Mapping[str, str]) -> Identity | None:
    """The identity a job with OIDC `claims` can impersonate, or None."""
    job = federation.job_of(claims)
    return next((i for i in IDENTITIES if i.name == job), None)
