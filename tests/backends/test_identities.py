"""One identity per job, held by the fake Google servers to the roles `mlops-bot bootstrap` sets up
(`mlops_bot.backends.gcp.identities`): the build identity pushes but cannot deploy, move model
aliases, overwrite a version or write outside the registry; the deploy identity promotes; no
identity gets nothing. The real google-cloud clients send the caller's token, as on a runner."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from google.api_core import exceptions as gexc
from google.auth.credentials import AnonymousCredentials
from google.auth.exceptions import InvalidOperation
from google.cloud import storage

from mlops_bot.backends.gcp.clients import GcpClients
from mlops_bot.backends.gcp.endpoints import VertexEndpoints
from mlops_bot.backends.gcp.identities import BUILD, DEPLOY, Federation, identity_for_claims
from mlops_bot.backends.gcp.models import VertexModelRegistry
from mlops_bot.backends.gcp.registry import GcsRegistry
from mlops_bot.backends.model_types import NEW_DEPLOYMENT
from mlops_bot.config import ApiEndpoints, GcpConfig
from mlops_bot.errors import UserError
from tests.support.cli import cli, cli_json
from tests.support.fake_gcp import FakeGcp
from tests.support.fake_gcs import FakeGcs
from tests.support.fake_iam import Iam, TokenServer, credentials_for
from tests.support.fake_vertex_models import FakeVertexModels
from tests.support.fake_vertex_pipelines import FakeVertexPipelines
from tests.support.gitrepo import GitRepoBuilder, pipeline_files
from tests.support.models import candidate, wine_features

PROJECT, REGION, BUCKET = "acme-ml", "europe-west4", "acme-registry"
BUILDER, DEPLOYER = BUILD.email(PROJECT), DEPLOY.email(PROJECT)
IMAGE = f"{REGION}-docker.pkg.dev/{PROJECT}/images/wine@sha256:{'b' * 64}"
SPEC = b"pipelineInfo: {name: alpha}\n"


def _config(**endpoints: str) -> GcpConfig:
    return GcpConfig(project=PROJECT, region=REGION, artifact_repository="images",
                     registry_bucket=BUCKET, api_endpoints=ApiEndpoints(**endpoints))


@pytest.fixture
def iam() -> Iam:
    return Iam(PROJECT, BUCKET)


# -- the registry bucket -----------------------------------------------------------------------

@pytest.fixture
def gcs(iam: Iam) -> Iterator[FakeGcs]:
    with FakeGcs(buckets=[BUCKET]).enforce(iam) as fake:
        yield fake


def _bucket(gcs: FakeGcs, email: str | None) -> storage.Bucket:
    credentials = credentials_for(email) if email else AnonymousCredentials()
    client = storage.Client(project=PROJECT, credentials=credentials,
                            client_options={"api_endpoint": gcs.endpoint})
    return client.bucket(BUCKET)


def test_the_build_identity_publishes_and_moves_tags_but_cannot_overwrite_a_version(
        gcs: FakeGcs, iam: Iam) -> None:
    registry = GcsRegistry(GcpClients(_config(storage=gcs.endpoint), credentials_for(BUILDER)))
    first = registry.publish("alpha", SPEC, {"git_sha": "a" * 40})
    registry.tag("alpha", "main", first.version)
    second = registry.publish("alpha", SPEC + b"# changed\n", {"git_sha": "b" * 40})
    registry.tag("alpha", "main", second.version)  # replaces the tag object: allowed on tags
    assert registry.resolve("alpha", "main").version == second.version
    assert registry.publish("alpha", SPEC, {"git_sha": "c" * 40}).status == "unchanged"
    assert iam.denied == []

    bucket = _bucket(gcs, BUILDER)
    spec = f"pipelines/alpha/versions/{first.version}/pipeline.yaml"
    with pytest.raises(gexc.Forbidden, match=r"storage\.objects\.delete"):
        bucket.blob(spec).upload_from_string(b"something else")  # no precondition: overwrite
    with pytest.raises(gexc.Forbidden, match=r"storage\.objects\.delete"):
        bucket.blob(spec).delete()
    with pytest.raises(gexc.Forbidden, match=r"storage\.objects\.create"):
        bucket.blob("locks/production.json").upload_from_string(b"{}")
    assert gcs.objects[(BUCKET, spec)] == SPEC
    assert (BUCKET, "locks/production.json") not in gcs.objects


def test_the_deploy_identity_reads_the_registry_and_writes_nothing(gcs: FakeGcs) -> None:
    GcsRegistry(GcpClients(_config(storage=gcs.endpoint), credentials_for(BUILDER))).publish(
        "alpha", SPEC, {"git_sha": "a" * 40})
    registry = GcsRegistry(GcpClients(_config(storage=gcs.endpoint), credentials_for(DEPLOYER)))
    [record] = registry.versions("alpha")
    with pytest.raises(UserError, match=r"storage\.objects\.create"):
        registry.tag("alpha", "production", record.version)


def test_no_identity_reads_nothing(gcs: FakeGcs, iam: Iam) -> None:
    # GCS answers an anonymous caller 401, on which google-auth tries to refresh anonymous
    # credentials and gives up: either way, no byte is read.
    with pytest.raises(InvalidOperation):
        _bucket(gcs, None).blob("pipelines/alpha/tags/main").download_as_bytes()
    assert (None, "storage.objects.get", f"gs://{BUCKET}/pipelines/alpha/tags/main") in iam.denied
    stranger = _bucket(gcs, "someone@elsewhere.iam.gserviceaccount.com")
    with pytest.raises(gexc.Forbidden):
        stranger.blob("pipelines/alpha/tags/main").download_as_bytes()


# -- models and endpoints ------------------------------------------------------------------------

def _vertex_backends(vertex: FakeVertexModels, email: str) -> tuple[Any, Any]:
    clients = GcpClients(_config(aiplatform=vertex.endpoint), credentials_for(email))
    return (VertexModelRegistry(clients, poll_seconds=0.02),
            VertexEndpoints(clients, request_timeout=2.0, poll_seconds=0.02, settle_seconds=0.3))


def _candidate(run: str = "1") -> Any:
    return candidate(f"run-{run}", "gs://models/wine/1", serving_image=IMAGE, git_sha=run * 40,
                     registry_version=f"v-{run}", feature_names=tuple(wine_features()),
                     classes=(0, 1, 2))


def test_the_deploy_identity_registers_deploys_and_moves_aliases(
        vertex: FakeVertexModels, iam: Iam) -> None:
    models, endpoints = _vertex_backends(vertex, DEPLOYER)
    version = models.register(_candidate())
    record = endpoints.deploy(endpoints.ensure("staging", "wine-staging"), version,
                              {NEW_DEPLOYMENT: 100})
    models.set_aliases(version.model, version.version, ["staging"])
    assert list(record.traffic.values()) == [100]
    assert "staging" in models.get(version.model, version.version).aliases
    assert iam.denied == []


def test_the_build_identity_cannot_deploy_register_or_move_aliases(
        vertex: FakeVertexModels, iam: Iam) -> None:
    deployer_models, deployer_endpoints = _vertex_backends(vertex, DEPLOYER)
    version = deployer_models.register(_candidate())
    record = deployer_endpoints.ensure("staging", "wine-staging")
    models, endpoints = _vertex_backends(vertex, BUILDER)

    assert endpoints.get("staging") is not None  # retrain reads the champion
    with pytest.raises(UserError, match=r"Permission 'aiplatform\.endpoints\.deploy' denied"):
        endpoints.deploy(record, version, {NEW_DEPLOYMENT: 100})
    with pytest.raises(UserError, match=r"Permission 'aiplatform\.models\.update' denied"):
        models.set_aliases(version.model, version.version, ["production"])
    with pytest.raises(UserError, match=r"Permission 'aiplatform\.models\.upload' denied"):
        models.register(_candidate("2"))
    assert vertex.calls("deploy_model") == vertex.calls("merge_version_aliases") == 1
    assert {(who, what) for who, what, _ in iam.denied} == {
        (BUILDER, "aiplatform.endpoints.deploy"), (BUILDER, "aiplatform.models.update"),
        (BUILDER, "aiplatform.models.upload")}
    assert not vertex.endpoint_state().get("deployedModels")


def test_no_identity_cannot_read_an_endpoint(vertex: FakeVertexModels, iam: Iam,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    clients = GcpClients(_config(aiplatform=vertex.endpoint))  # plain http, no ADC: anonymous
    with pytest.raises(InvalidOperation):  # 401, and anonymous credentials cannot refresh
        VertexEndpoints(clients, request_timeout=2.0).get("staging")
    assert [(who, what) for who, what, _ in iam.denied] == [(None, "aiplatform.endpoints.list")]


RUNTIME = f"pipelines@{PROJECT}.iam.gserviceaccount.com"


@pytest.mark.parametrize(("caller", "account", "denied"), [
    (BUILDER, f"someone-else@{PROJECT}.iam.gserviceaccount.com", "iam.serviceAccounts.actAs"),
    (DEPLOYER, RUNTIME, "aiplatform.pipelineJobs.create"),
], ids=["build identity, as another account", "deploy identity"])
def test_runs_start_only_as_the_build_identity_and_only_as_the_runtime_account(
        caller: str, account: str, denied: str) -> None:
    iam = Iam(PROJECT, BUCKET, runtime_account=RUNTIME)
    with FakeVertexPipelines().enforce(iam) as vertex:
        clients = GcpClients(_config(aiplatform=vertex.endpoint), credentials_for(caller))
        with pytest.raises(gexc.Forbidden, match=rf"Permission '{denied}' denied"):
            clients.pipelines.create_pipeline_job(
                parent=f"projects/{PROJECT}/locations/{REGION}",
                pipeline_job={"display_name": "alpha", "service_account": account})
        assert not vertex.jobs


# -- who can mint which identity ---------------------------------------------------------------

FEDERATION = Federation("acme/models", "main", ["staging", "production"])
DEPLOY_REF = "acme/models/.github/workflows/mlops-comment.yml@refs/heads/main"


@pytest.mark.parametrize(("claims", "identity"), [
    ({"event_name": "issue_comment", "ref": "refs/heads/main", "environment": "staging",
      "job_workflow_ref": DEPLOY_REF}, "deploy"),
    ({"event_name": "schedule", "ref": "refs/heads/main", "environment": "production",
      "job_workflow_ref": DEPLOY_REF.replace("comment", "retrain")}, "deploy"),
    # The same job file on a branch, another workflow, no environment, an unknown environment:
    ({"event_name": "workflow_dispatch", "ref": "refs/heads/x", "environment": "staging",
      "job_workflow_ref": DEPLOY_REF.replace("main", "x")}, "build"),
    ({"event_name": "push", "ref": "refs/heads/x", "environment": "staging",
      "job_workflow_ref": "acme/models/.github/workflows/evil.yml@refs/heads/main"}, "build"),
    ({"event_name": "issue_comment", "ref": "refs/heads/main",
      "job_workflow_ref": DEPLOY_REF}, None),
    ({"event_name": "issue_comment", "ref": "refs/heads/main", "environment": "sandbox",
      "job_workflow_ref": DEPLOY_REF}, None),
    ({"event_name": "push", "ref": "refs/heads/feature", "job_workflow_ref": "x"}, "build"),
    ({"event_name": "pull_request", "ref": "refs/pull/3/merge", "job_workflow_ref": "x"}, None),
    ({"event_name": "push", "ref": "refs/tags/v1", "job_workflow_ref": "x"}, None),
], ids=["comment deploy job", "retrain deploy job", "deploy job on a branch",
        "other workflow in the environment", "comment job", "unknown environment",
        "push on a branch", "pull request", "tag"])
def test_only_the_default_branch_deploy_jobs_mint_the_deploy_identity(
        claims: dict[str, str], identity: str | None) -> None:
    found = identity_for_claims(FEDERATION, {"repository": "acme/models", **claims})
    assert (found.name if found else None) == identity
    other = identity_for_claims(FEDERATION, {**claims, "repository": "acme/fork"})
    assert other is None


def test_the_printed_mapping_names_the_same_workflows_and_environments() -> None:
    mapping = FEDERATION.attribute_mapping()["attribute.mlops_job"]
    for value in (DEPLOY_REF, DEPLOY_REF.replace("comment", "retrain"), '"staging"',
                  '"production"', "refs/heads/", '"push"'):
        assert value in mapping
    assert FEDERATION.attribute_condition() == 'assertion.repository == "acme/models"'


def test_the_credentials_file_is_found_in_the_workspace_of_a_docker_action(
        tmp_path: Path, gcs: FakeGcs, iam: Iam, monkeypatch: pytest.MonkeyPatch) -> None:
    # google-github-actions/auth names the file by its path on the runner; a Docker action sees
    # the workspace under /github/workspace (GITHUB_WORKSPACE inside the container).
    with TokenServer(DEPLOYER) as tokens:
        written = tokens.credentials_file(tmp_path)
        monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS",
                           f"/home/runner/work/models/models/{written.name}")
        monkeypatch.setenv("GITHUB_WORKSPACE", str(tmp_path))
        registry = GcsRegistry(GcpClients(_config(storage=gcs.endpoint)))
        assert registry.versions() == []
        assert tokens.requests >= 1 and iam.denied == []

        # The variable now names the file where it is, for google.auth and child processes.
        assert Path(os.environ["GOOGLE_APPLICATION_CREDENTIALS"]) == written
        monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS",
                           f"/home/runner/work/models/models/{written.name}")
        monkeypatch.setenv("GITHUB_WORKSPACE", str(tmp_path / "elsewhere"))
        with pytest.raises(UserError, match="GOOGLE_APPLICATION_CREDENTIALS names /home/runner"):
            GcsRegistry(GcpClients(_config(storage=gcs.endpoint))).versions()


# -- a whole push with Application Default Credentials ------------------------------------------

@pytest.mark.slow
def test_push_on_google_cloud_runs_as_the_build_identity_from_adc(tmp_path: Path) -> None:
    iam = Iam(PROJECT, BUCKET, runtime_account=RUNTIME)
    with (FakeGcs(buckets=[BUCKET]).enforce(iam) as gcs, FakeGcp().enforce(iam) as gcp,
          FakeVertexPipelines().enforce(iam) as vertex, TokenServer(BUILDER) as tokens):
        gcp.set_outcome("SUCCESS", after_polls=1)
        vertex.set_outcome("SUCCEEDED", after_polls=1)
        builder = GitRepoBuilder(tmp_path / "repo")
        config = _config(storage=gcs.endpoint, cloudbuild=gcp.endpoint,
                         artifactregistry=gcp.endpoint, aiplatform=vertex.endpoint).model_copy(
            update={"service_account": RUNTIME})
        builder.commit({"mlops.yaml": _mlops_yaml(config), **pipeline_files("alpha")})
        env = {"GOOGLE_APPLICATION_CREDENTIALS": str(tokens.credentials_file(tmp_path))}

        document = cli_json("push", cwd=builder.path, env=env)

        assert [b["status"] for b in document["builds"]] == ["built"]
        assert [v["status"] for v in document["versions"]] == ["published"]
        assert [r["status"] for r in document["runs"]] == ["succeeded"]
        [job] = vertex.jobs.values()
        assert job.request["serviceAccount"] == RUNTIME
        assert tokens.requests >= 1 and iam.denied == []

        # Without the credentials file the same clients are anonymous, and refused.
        refused = cli("runs", "list", cwd=builder.path)
        assert refused.returncode != 0 and iam.denied[-1][:2] == (
            None, "aiplatform.pipelineJobs.list"), refused.stderr


def _mlops_yaml(config: GcpConfig) -> str:
    import yaml

    return yaml.safe_dump({"backend": "gcp", "gcp": config.model_dump(
        include={"project", "region", "artifact_repository", "registry_bucket",
                 "service_account"})
        | {"api_endpoints": config.api_endpoints.model_dump(exclude_none=True)}})
