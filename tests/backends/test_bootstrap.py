"""bootstrap: creates missing buckets with the intended settings, leaves existing ones alone."""

from __future__ import annotations

import pytest

from mlops_bot.backends.gcp.bootstrap import ensure_buckets
from mlops_bot.backends.gcp.clients import GcpClients
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


def test_access_guide_names_every_identity_and_no_key():
    guide = access_guide("acme-ml", "europe-west4", "acme-registry", "mlops",
                         "runner@acme-ml.iam.gserviceaccount.com", "acme/models")
    for role in ("roles/cloudbuild.builds.editor", "roles/artifactregistry.writer",
                 "roles/aiplatform.user", "roles/iam.workloadIdentityUser"):
        assert role in guide
    assert "assertion.repository=='acme/models'" in guide
    assert "No JSON key is ever created" in guide
