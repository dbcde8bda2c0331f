"""`mlops-bot push` and `mlops-bot bootstrap` with `backend: gcp`, end to end through the CLI.

The real google-cloud clients in the `mlops-bot` process talk to local fakes: Cloud Storage
(`FakeGcs`), Cloud Build and Artifact Registry (`FakeGcp`), Vertex AI Pipelines
(`FakeVertexPipelines`) and Artifact Registry repositories (`FakeRepositories`), named by
`gcp.api_endpoints` in mlops.yaml.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from google.cloud import artifactregistry_v1 as ar

from tests.support.cli import cli, cli_json
from tests.support.fake_ar_repositories import FakeRepositories
from tests.support.fake_gcp import FakeGcp
from tests.support.fake_gcs import FakeGcs
from tests.support.fake_vertex_pipelines import FakeVertexPipelines
from tests.support.gitrepo import GitRepoBuilder, pipeline_files

PROJECT, REGION, REPOSITORY, BUCKET = "acme-ml", "europe-west4", "images", "acme-registry"
REGISTRY = f"{REGION}-docker.pkg.dev/{PROJECT}/{REPOSITORY}"
LOCATION = f"projects/{PROJECT}/locations/{REGION}"


def mlops_yaml(**endpoints: str) -> str:
    return yaml.safe_dump({"backend": "gcp", "gcp": {
        "project": PROJECT, "region": REGION, "artifact_repository": REPOSITORY,
        "registry_bucket": BUCKET, "api_endpoints": endpoints}})


@dataclass
class Cloud:
    gcs: FakeGcs
    gcp: FakeGcp
    vertex: FakeVertexPipelines

    def config(self) -> str:
        return mlops_yaml(storage=self.gcs.endpoint, cloudbuild=self.gcp.endpoint,
                          artifactregistry=self.gcp.endpoint, aiplatform=self.vertex.endpoint)


@pytest.fixture
def cloud() -> Iterator[Cloud]:
    with FakeGcs(buckets=[BUCKET]) as gcs, FakeGcp() as gcp, FakeVertexPipelines() as vertex:
        gcp.set_outcome("SUCCESS", after_polls=1)  # the builder polls every 5 s
        vertex.set_outcome("SUCCEEDED", after_polls=1)
        yield Cloud(gcs, gcp, vertex)


@pytest.fixture
def builder(tmp_path: Path) -> GitRepoBuilder:
    return GitRepoBuilder(tmp_path / "repo")


def _registry_objects(gcs: FakeGcs) -> dict[str, bytes]:
    return {name: data for (bucket, name), data in gcs.objects.items()
            if bucket == BUCKET and name.startswith("pipelines/")}


@pytest.mark.slow
def test_push_builds_publishes_and_runs_on_google_cloud_once(cloud: Cloud,
                                                             builder: GitRepoBuilder) -> None:
    head = builder.commit({"mlops.yaml": cloud.config(), **pipeline_files("alpha")})

    document = cli_json("push", cwd=builder.path)

    # One build of the one changed image, tagged with the SHA and the content hash.
    [build] = document["builds"]
    sent_by_image = {b.request["images"][0].split(":")[0]: (i, b.request)
                     for i, b in cloud.gcp.builds.items()}
    (build_id, sent), (serving_id, _) = (sent_by_image[f"{REGISTRY}/alpha"],
                                         sent_by_image[f"{REGISTRY}/alpha-serving"])
    digest = FakeGcp.digest(build_id)
    assert (build["image"], build["status"]) == ("alpha", "built")
    assert build["ref"] == f"{REGISTRY}/alpha@{digest}"
    [sha_tag, hash_tag] = sent["images"]
    assert sha_tag == f"{REGISTRY}/alpha:{head}" and hash_tag.startswith(f"{REGISTRY}/alpha:ch-")
    assert "mlops-bot" in sent["tags"]

    # The compiled spec in the bucket, in the registry layout, images pinned by digest.
    [version] = document["versions"]
    assert (version["status"], version["tags"]) == ("published", ["latest", "main"])
    v = version["version"]
    objects = _registry_objects(cloud.gcs)
    assert set(objects) == {f"pipelines/alpha/versions/{v}/pipeline.yaml",
                            f"pipelines/alpha/versions/{v}/manifest.json",
                            "pipelines/alpha/tags/latest", "pipelines/alpha/tags/main"}
    assert objects["pipelines/alpha/tags/main"] == v.encode()
    manifest = json.loads(objects[f"pipelines/alpha/versions/{v}/manifest.json"])
    assert (manifest["git_sha"], manifest["images"]) == (head, {"alpha": build["ref"]})
    # The image its models will be served by, built from it right after (serving_image.py).
    assert manifest["serving_image"] == f"{REGISTRY}/alpha-serving@{FakeGcp.digest(serving_id)}"

    # One PipelineJob, running exactly that spec.
    [run] = document["runs"]
    [(job_id, job)] = cloud.vertex.jobs.items()
    assert (run["status"], run["run_id"]) == ("succeeded", job_id)
    assert run["url"].endswith(f"/pipelines/runs/{job_id}?project={PROJECT}")
    spec = yaml.safe_load(objects[f"pipelines/alpha/versions/{v}/pipeline.yaml"])
    assert job.request["pipelineSpec"] == spec
    executors = spec["deploymentSpec"]["executors"].values()
    assert {e["container"]["image"] for e in executors} == {build["ref"]}
    labels = job.request["labels"]
    assert (labels["git_sha"], labels["pipeline"], labels["version"]) == (head, "alpha", v)
    assert job.request["runtimeConfig"] == {"gcsOutputDirectory": f"gs://{BUCKET}/runs",
                                            "parameterValues": {"size": 1.0}}

    # The same push again: nothing is built, published or started.
    again = cli_json("push", cwd=builder.path)
    assert [b["status"] for b in again["builds"]] == ["reused"]
    assert [v["status"] for v in again["versions"]] == ["unchanged"]
    assert [(r["status"], r["run_id"]) for r in again["runs"]] == [("existing", job_id)]
    assert len(cloud.gcp.builds) == 2 and cloud.gcp.calls("create_build") == 2
    assert len(cloud.vertex.jobs) == 1 and cloud.vertex.calls("create_pipeline_job") == 1
    assert _registry_objects(cloud.gcs) == objects

    # The run is found again by its commit, as a deploy would look for it.
    [found] = cli_json("runs", "list", "--sha", head, cwd=builder.path)["runs"]
    assert (found["run_id"], found["status"], found["git_sha"]) == (job_id, "succeeded", head)


@pytest.mark.slow
def test_a_failed_pipeline_job_fails_the_push_naming_the_task(cloud: Cloud,
                                                             builder: GitRepoBuilder) -> None:
    cloud.vertex.set_outcome("FAILED", after_polls=1, failing_task="train",
                             task_error="ValueError: no rows to train on")
    builder.commit({"mlops.yaml": cloud.config(), **pipeline_files("alpha")})

    result = cli("push", "--json", cwd=builder.path)

    assert result.returncode == 1, result.stderr
    [run] = json.loads(result.stdout)["runs"]
    assert run["status"] == "failed"
    assert "task train failed: ValueError: no rows to train on" in run["error"]


# -- bootstrap -------------------------------------------------------------------------------

def _bootstrap(repo: Path, *args: str) -> dict[str, Any]:
    return cli_json("bootstrap", "--github-repository", "acme/models", *args, cwd=repo)


def test_bootstrap_creates_the_missing_bucket_and_image_repository(
        builder: GitRepoBuilder) -> None:
    with FakeGcs(buckets=[]) as gcs, FakeRepositories() as repositories:
        builder.commit({"mlops.yaml": mlops_yaml(storage=gcs.endpoint,
                                                 artifactregistry=repositories.endpoint)})

        document = _bootstrap(builder.path)

        name = f"{LOCATION}/repositories/{REPOSITORY}"
        assert [(r["kind"], r["name"], r["status"]) for r in document["resources"]] == [
            ("bucket", f"gs://{BUCKET}", "created"), ("repository", name, "created")]
        [sent] = repositories.created
        assert sent["format"] == ar.Repository.Format.DOCKER  # sent as a number
        assert sent["dockerConfig"] == {"immutableTags": True}
        assert gcs.buckets == {BUCKET}
        assert [i["name"] for i in document["identities"]] == ["build", "deploy"]

        # Run again: everything exists, nothing is created or changed.
        again = _bootstrap(builder.path)
        assert [r["status"] for r in again["resources"]] == ["exists", "exists"]
        assert len(repositories.created) == 1 and repositories.calls("create_repository") == 1


def test_bootstrap_dry_run_creates_nothing(builder: GitRepoBuilder) -> None:
    with FakeGcs(buckets=[]) as gcs, FakeRepositories() as repositories:
        builder.commit({"mlops.yaml": mlops_yaml(storage=gcs.endpoint,
                                                 artifactregistry=repositories.endpoint)})

        document = _bootstrap(builder.path, "--dry-run")

        assert [r["status"] for r in document["resources"]] == ["would create", "would create"]
        assert not repositories.created and gcs.buckets == set()


def test_bootstrap_without_permission_names_the_role(builder: GitRepoBuilder) -> None:
    with FakeGcs(buckets=[BUCKET]) as gcs, FakeRepositories() as repositories:
        repositories.fail("get_repository", 403)
        builder.commit({"mlops.yaml": mlops_yaml(storage=gcs.endpoint,
                                                 artifactregistry=repositories.endpoint)})

        result = cli("bootstrap", cwd=builder.path)

        assert result.returncode == 1
        assert "roles/artifactregistry.admin on project acme-ml" in result.stderr
        assert not repositories.created
