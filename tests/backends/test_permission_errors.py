"""What a 403 from Google tells the user, with the fake servers holding each identity to its roles
(`mlops_bot.backends.gcp.identities`): the refused permission, which mlops-bot identity holds it
and by which role, and the fix. The build identity is never told to get deploy rights: deploys
run in the approved deploy job. The caller is known the way it is on a runner: from the
credentials file google-github-actions/auth writes (Workload Identity Federation, impersonating
the job's service account), or from Cloud Storage's answer."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from google.api_core import exceptions as gexc

from mlops_bot.backends.gcp.api_errors import denied_sentence
from mlops_bot.backends.gcp.clients import GcpClients
from mlops_bot.backends.gcp.endpoints import VertexEndpoints
from mlops_bot.backends.gcp.identities import BUILD, DEPLOY, Federation
from mlops_bot.backends.gcp.models import VertexModelRegistry
from mlops_bot.backends.gcp.registry import GcsRegistry
from mlops_bot.backends.gcp.runner import VertexRunner
from mlops_bot.backends.gcp.schedules import VertexSchedules
from mlops_bot.backends.model_types import NEW_DEPLOYMENT
from mlops_bot.backends.types import RunRequest
from mlops_bot.config import ApiEndpoints, GcpConfig
from mlops_bot.errors import UserError
from tests.support.fake_gcs import FakeGcs
from tests.support.fake_iam import Iam, credentials_for
from tests.support.fake_sts import PROVIDER, FakeSts
from tests.support.fake_vertex_models import FakeVertexModels
from tests.support.fake_vertex_pipelines import FakeVertexPipelines
from tests.support.fake_vertex_schedules import FakeVertexSchedules
from tests.support.models import candidate, wine_features

PROJECT, REGION, BUCKET = "acme-ml", "europe-west4", "acme-registry"
BUILDER, DEPLOYER = BUILD.email(PROJECT), DEPLOY.email(PROJECT)
RUNTIME = f"pipelines@{PROJECT}.iam.gserviceaccount.com"
IMAGE = f"{REGION}-docker.pkg.dev/{PROJECT}/images/wine@sha256:{'b' * 64}"
FEDERATION = Federation("acme/models", "main", ["staging"])
PUSH_CLAIMS = {"repository": "acme/models", "ref": "refs/heads/feature", "event_name": "push",
               "job_workflow_ref": "acme/models/.github/workflows/mlops-push.yml@refs/heads/feature"}
DEPLOYS_RUN_THERE = ("deploys run in the approved deploy job (the deploy jobs of "
                     "mlops-comment.yml, mlops-retrain.yml and mlops-monitor.yml on the default "
                     "branch, after the "
                     "GitHub Environment's reviewers approve)")


def _config(**endpoints: str) -> GcpConfig:
    return GcpConfig(project=PROJECT, region=REGION, artifact_repository="images",
                     registry_bucket=BUCKET, service_account=RUNTIME,
                     api_endpoints=ApiEndpoints(**endpoints))


def _signed_in_as(folder: Path, sts: FakeSts, account: str, claims: dict[str, str]) -> Path:
    """The credentials file google-github-actions/auth writes for `account` (Workload Identity
    Federation: the job's OIDC token exchanged, then the account impersonated)."""
    def part(data: dict[str, str]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    (folder / "oidc.jwt").write_text(f"{part({'alg': 'none'})}.{part(claims)}.unsigned")
    path = folder / "gha-creds-0123.json"
    path.write_text(json.dumps({
        "type": "external_account", "audience": f"//iam.googleapis.com/{PROVIDER}",
        "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
        "token_url": f"{sts.endpoint}/v1/token",
        "service_account_impersonation_url":
            f"{sts.endpoint}/v1/projects/-/serviceAccounts/{account}:generateAccessToken",
        "credential_source": {"file": str(folder / "oidc.jwt")}}))
    return path


@pytest.fixture
def iam() -> Iam:
    return Iam(PROJECT, BUCKET, runtime_account=RUNTIME)


def _backends(vertex: FakeVertexModels, credentials: Any = None) -> tuple[Any, Any]:
    clients = GcpClients(_config(aiplatform=vertex.endpoint), credentials)
    return (VertexModelRegistry(clients, poll_seconds=0.02),
            VertexEndpoints(clients, request_timeout=2.0, poll_seconds=0.02, settle_seconds=0.3))


def _candidate(run: str = "1") -> Any:
    return candidate(f"run-{run}", "gs://models/wine/1", serving_image=IMAGE, git_sha=run * 40,
                     registry_version=f"v-{run}", feature_names=tuple(wine_features()),
                     classes=(0, 1, 2))


@pytest.fixture
def staging(vertex: FakeVertexModels) -> tuple[Any, Any]:
    """A registered version and the staging endpoint, made by the deploy identity."""
    models, endpoints = _backends(vertex, credentials_for(DEPLOYER))
    return models.register(_candidate()), endpoints.ensure("staging", "wine-staging")


# -- the build identity asked to deploy ---------------------------------------------------------

def test_the_push_job_refused_a_deploy_is_told_deploys_run_in_the_approved_deploy_job(
        vertex: FakeVertexModels, iam: Iam, staging: tuple[Any, Any], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    version, endpoint = staging
    with FakeSts(FEDERATION, PROJECT) as sts:
        monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS",
                           str(_signed_in_as(tmp_path, sts, BUILDER, PUSH_CLAIMS)))
        models, endpoints = _backends(vertex)  # Application Default Credentials, as on a runner

        with pytest.raises(UserError) as deploying:
            endpoints.deploy(endpoint, version, {NEW_DEPLOYMENT: 100})
        with pytest.raises(UserError) as moving:
            models.set_aliases(version.model, version.version, ["production"])
        assert sts.granted() == [BUILDER]

    said = str(deploying.value)
    assert said.startswith("permission denied to deploy ")
    assert "Permission 'aiplatform.endpoints.deploy' denied on resource" in said
    assert (f"aiplatform.endpoints.deploy is held by the deploy identity ({DEPLOYER}, custom "
            f"role mlopsBotDeploy on project {PROJECT}): this job runs as the build identity, "
            f"which is not meant to deploy: {DEPLOYS_RUN_THERE}") in said
    assert "bootstrap" not in said and "roles/" not in said  # nothing to grant here
    assert "aiplatform.models.update is held by the deploy identity" in str(moving.value)
    assert DEPLOYS_RUN_THERE in str(moving.value)
    assert [(who, what) for who, what, _ in iam.denied] == [
        (BUILDER, "aiplatform.endpoints.deploy"), (BUILDER, "aiplatform.models.update")]
    assert not vertex.endpoint_state().get("deployedModels")


def test_a_deploy_permission_refused_to_an_unnamed_caller_names_the_deploy_identity(
        vertex: FakeVertexModels, staging: tuple[Any, Any]) -> None:
    # Credentials given in code (no credentials file): the caller is not known.
    models, _ = _backends(vertex, credentials_for(BUILDER))
    with pytest.raises(UserError) as refused:
        models.register(_candidate("2"))
    said = str(refused.value)
    assert "Permission 'aiplatform.models.upload' denied" in said
    assert (f"aiplatform.models.upload is held by the deploy identity ({DEPLOYER}, custom role "
            f"mlopsBotDeploy on project {PROJECT}): push and retrain jobs run as the build "
            f"identity, which is not meant to deploy: {DEPLOYS_RUN_THERE}; if this is that job, "
            "its roles are missing: `mlops-bot bootstrap` prints them") in said


# -- the deploy identity asked to build ---------------------------------------------------------

def test_the_deploy_identity_refused_a_registry_write_is_sent_to_the_build_jobs(
        iam: Iam) -> None:
    spec = b"pipelineInfo: {name: alpha}\n"
    with FakeGcs(buckets=[BUCKET]).enforce(iam) as gcs:
        config = _config(storage=gcs.endpoint)
        version = GcsRegistry(GcpClients(config, credentials_for(BUILDER))).publish(
            "alpha", spec, {"git_sha": "a" * 40}).version
        registry = GcsRegistry(GcpClients(config, credentials_for(DEPLOYER)))
        with pytest.raises(UserError) as refused:
            registry.tag("alpha", "production", version)
    # Cloud Storage names the caller: the deploy identity.
    assert (f"storage.objects.create is held by the build identity ({BUILDER}, custom role "
            f"mlopsBotCreateObjects on the registry bucket gs://{BUCKET}, objects under "
            "pipelines/), not by the deploy identity this job runs as: run this in push and "
            "retrain jobs") in str(refused.value)


def test_the_deploy_identity_refused_a_run_names_the_build_identity(
        iam: Iam, tmp_path: Path) -> None:
    with FakeVertexPipelines().enforce(iam) as vertex:
        runner = VertexRunner(GcpClients(_config(aiplatform=vertex.endpoint),
                                         credentials_for(DEPLOYER)), poll_seconds=0.02)
        record = runner.run(_run_request())
    assert record.status == "failed" and not vertex.jobs
    assert ("Permission 'aiplatform.pipelineJobs.create' denied" in (record.error or ""))
    assert (f"aiplatform.pipelineJobs.create is held by the build identity ({BUILDER}, custom "
            f"role mlopsBotBuild on project {PROJECT}): run this in push and retrain jobs") in (
        record.error or "")


def test_a_run_as_another_account_names_actas_on_the_runtime_account(iam: Iam) -> None:
    with FakeVertexPipelines().enforce(iam) as vertex:
        config = _config(aiplatform=vertex.endpoint).model_copy(
            update={"service_account": f"someone-else@{PROJECT}.iam.gserviceaccount.com"})
        runner = VertexRunner(GcpClients(config, credentials_for(BUILDER)), poll_seconds=0.02)
        record = runner.run(_run_request())
    assert record.status == "failed"
    assert ("iam.serviceAccounts.actAs is held by the build identity" in (record.error or ""))
    assert "roles/iam.serviceAccountUser on the runtime account someone-else@" in (
        record.error or "")


def _run_request() -> RunRequest:
    spec = b"pipelineInfo: {name: alpha}\nroot: {dag: {tasks: {}}}\nschemaVersion: 2.1.0\n"
    return RunRequest(pipeline="alpha", version="v-1", spec=spec, run_id="alpha-v-1",
                      git_sha="a" * 40, parameters={}, trigger="push")


# -- nobody's: schedules ------------------------------------------------------------------------

@pytest.mark.parametrize("caller", [BUILDER, DEPLOYER])
def test_schedules_sync_in_a_workflow_is_told_it_needs_a_maintainer(iam: Iam, caller: str) -> None:
    with FakeVertexSchedules().enforce(iam) as vertex:
        schedules = VertexSchedules(GcpClients(_config(aiplatform=vertex.endpoint),
                                               credentials_for(caller)))
        with pytest.raises(UserError) as refused:
            schedules.listing()
    assert str(refused.value) == (
        "permission denied to list schedules in Vertex AI (Permission 'aiplatform.schedules.list' "
        f"denied on resource '//aiplatform.googleapis.com/projects/{PROJECT}/locations/{REGION}/"
        "schedules' (or it may not exist).): no workflow identity holds aiplatform.schedules.*, "
        "so `mlops-bot schedules sync` needs a maintainer's credentials: run it locally after "
        "`gcloud auth application-default login`, as someone who holds aiplatform.schedules.* "
        f"on project {PROJECT}")


# -- an identity refused what it should hold ----------------------------------------------------

def test_an_identity_refused_its_own_permission_is_told_to_run_bootstrap(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The roles were set up before a permission was added to them: the sentence, not the fake.
    with FakeSts(FEDERATION, PROJECT) as sts:
        monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS",
                           str(_signed_in_as(tmp_path, sts, DEPLOYER, {})))
        error = gexc.Forbidden("Permission 'aiplatform.endpoints.predict' denied on resource "
                               "'//aiplatform.googleapis.com/projects/acme-ml/locations/"
                               "europe-west4/endpoints/1' (or it may not exist).")
        said = denied_sentence("smoke-test the candidate", error, _config(), " in Vertex AI")
    assert said.endswith(
        f"aiplatform.endpoints.predict is held by the deploy identity ({DEPLOYER}, custom role "
        f"mlopsBotDeploy on project {PROJECT}), which this job runs as: its roles are missing "
        "or out of date; `mlops-bot bootstrap` prints them")
