"""bootstrap: creates missing buckets with the intended settings, leaves existing ones alone."""

from __future__ import annotations

import shlex

import pytest

from mlops_bot.backends.gcp.bootstrap import ensure_buckets
from mlops_bot.backends.gcp.clients import GcpClients
from mlops_bot.backends.gcp.identities import BUILD, DEPLOY, IDENTITIES
from mlops_bot.config import GcpConfig
from mlops_bot.errors import UserError
from mlops_bot.flows.bootstrap import access_guide
from tests.support.fake_gcs import FakeGcs


def clients(endpoint: str, **extra: str) -> GcpClients:
    # A plain-http endpoint is an emulator: the clients use anonymous credentials by themselves.
    return GcpClients(GcpConfig(project="acme-ml", region="europe-west4",
                                artifact_repository="mlops", registry_bucket="acme-registry",
                                api_endpoints={"storage": endpoint}, **extra))


def test_missing_buckets_are_created_with_uniform_access_and_no_versioning():
    with FakeGcs(buckets=[]) as gcs:
        created = ensure_buckets(clients(gcs.endpoint, staging_bucket="acme-staging"), 30, False)
        assert [(r.name, r.status) for r in created] == [
            ("gs://acme-registry", "created"), ("gs://acme-staging", "created")]
        assert gcs.buckets == {"acme-registry", "acme-staging"}
        body = gcs.bucket_settings["acme-registry"]
        assert body["iamConfiguration"]["uniformBucketLevelAccess"]["enabled"] is True
        assert body["versioning"]["enabled"] is False
        assert body["retentionPolicy"]["retentionPeriod"] == str(30 * 86400)
        assert body["location"] == "europe-west4"


def test_existing_buckets_are_left_alone_and_dry_run_creates_nothing():
    with FakeGcs(buckets=["acme-registry"]) as gcs:
        assert [r.status for r in ensure_buckets(clients(gcs.endpoint), None, False)] == ["exists"]
        assert not [r for r in gcs.requests if r.method == "POST"]
    with FakeGcs(buckets=[]) as gcs:
        assert [r.status for r in ensure_buckets(clients(gcs.endpoint), None, True)] == [
            "would create"]
        assert gcs.buckets == set()


def test_no_permission_names_the_role():
    with FakeGcs(buckets=[]) as gcs:
        gcs.deny("acme-registry")
        with pytest.raises(UserError, match=r"needs roles/storage\.admin on project acme-ml"):
            ensure_buckets(clients(gcs.endpoint), None, False)


GCP = GcpConfig(project="acme-ml", region="europe-west4", artifact_repository="mlops",
                registry_bucket="acme-registry", service_account="runner@acme-ml.iam.gserviceaccount.com")


def _commands(guide: str) -> list[list[str]]:
    return [shlex.split(line) for line in guide.splitlines() if line.startswith("  ")]


def _flag(command: list[str], name: str) -> str:
    [value] = [w.split("=", 1)[1] for w in command if w.startswith(f"--{name}=")]
    return value


def test_access_guide_creates_each_custom_role_once_with_the_permissions_of_identities():
    commands = _commands(access_guide(GCP, "acme/models", "main", ["staging"]))
    created = {c[4]: set(_flag(c, "permissions").split(",")) for c in commands
               if c[:4] == ["gcloud", "iam", "roles", "create"]}
    assert len(created) == len([c for c in commands if c[:4] == ["gcloud", "iam", "roles",
                                                                  "create"]])
    expected = {g.role.id: set(g.permissions) for i in IDENTITIES for g in i.grants
                if not g.role.predefined}
    assert created == expected
    granted = {p for ps in created.values() for p in ps}
    # Nothing a deploy needs is granted to anyone but the deploy role.
    build = {p for g in BUILD.grants for p in g.permissions}
    assert not build & {"aiplatform.endpoints.deploy", "aiplatform.endpoints.undeploy",
                        "aiplatform.endpoints.update", "aiplatform.models.update",
                        "aiplatform.models.upload"}
    assert "aiplatform.endpoints.deploy" in granted
    assert not any(c[:3] == ["gcloud", "projects", "add-iam-policy-binding"]
                   and _flag(c, "role").startswith("roles/") for c in commands), \
        "no predefined role on the project"


def test_access_guide_binds_versions_create_only_and_tags_by_condition():
    commands = _commands(access_guide(GCP, "acme/models"))
    bucket = [c for c in commands if c[:4] == ["gcloud", "storage", "buckets",
                                               "add-iam-policy-binding"]]
    build = "serviceAccount:" + BUILD.email("acme-ml")
    deletes = [_flag(c, "condition") for c in bucket if _flag(c, "member") == build
               and _flag(c, "role").endswith("/mlopsBotReplaceObjects")]
    assert deletes == [
        'expression=resource.name.startsWith("projects/_/buckets/acme-registry/objects/'
        'pipelines/") && resource.name.extract("projects/_/buckets/acme-registry/objects/'
        'pipelines/{pipeline}/tags/") != "",title=mlops-bot registry tags',
        'expression=resource.name.startsWith("projects/_/buckets/acme-registry/objects/'
        'mlops-bot/sources/"),title=mlops-bot build sources']


def test_access_guide_lets_only_the_deploy_jobs_mint_the_deploy_identity():
    guide = access_guide(GCP, "acme/models", "trunk", ["staging", "production"])
    commands = _commands(guide)
    [provider] = [c for c in commands if "create-oidc" in c]
    assert _flag(provider, "attribute-condition") == 'assertion.repository == "acme/models"'
    mapping = _flag(provider, "attribute-mapping")
    assert mapping.startswith("^;^google.subject=assertion.sub;")
    assert ('assertion.job_workflow_ref in ["acme/models/.github/workflows/mlops-comment.yml@'
            'refs/heads/trunk", "acme/models/.github/workflows/mlops-retrain.yml@refs/heads/'
            'trunk", "acme/models/.github/workflows/mlops-monitor.yml@refs/heads/trunk"]'
            ) in mapping
    assert 'assertion.environment in ["staging", "production"]' in mapping
    members = {c[4]: _flag(c, "member") for c in commands
               if c[:4] == ["gcloud", "iam", "service-accounts", "add-iam-policy-binding"]
               and _flag(c, "role") == "roles/iam.workloadIdentityUser"}
    assert members[DEPLOY.email("acme-ml")].endswith("/attribute.mlops_job/deploy")
    assert members[BUILD.email("acme-ml")].endswith("/attribute.mlops_job/build")
    variables = [c for c in commands if c[:3] == ["gh", "variable", "set"]]
    assert {(c[3], next((w for w in c if w.startswith("--env=")), None)) for c in variables} == {
        ("GCP_WORKLOAD_IDENTITY_PROVIDER", None), ("GCP_BUILD_SERVICE_ACCOUNT", None),
        ("GCP_DEPLOY_SERVICE_ACCOUNT", "--env=staging"),
        ("GCP_DEPLOY_SERVICE_ACCOUNT", "--env=production")}
    assert "No JSON key is ever created" in guide and "keys create" not in guide


def test_access_guide_lets_the_build_identity_upload_to_a_kfp_repository_only_when_one_is_set():
    def repository_bindings(gcp: GcpConfig) -> dict[str, str]:
        return {c[4]: _flag(c, "member") for c in _commands(access_guide(gcp, "acme/models"))
                if c[:4] == ["gcloud", "artifacts", "repositories", "add-iam-policy-binding"]}

    build = "serviceAccount:" + BUILD.email("acme-ml")
    assert repository_bindings(GCP) == {"mlops": build}
    with_kfp = GCP.model_copy(update={"kfp_repository": "pipelines"})
    assert repository_bindings(with_kfp) == {"mlops": build, "pipelines": build}
