"""Our fake Google servers are held to Google's discovery documents (`tests.support.discovery`).

The guard must be able to fail: a route Google does not have answers 404, a field it does not
define answers 400 (naming the field by its JSON path), an invented field in a fake's reply is
noted, and in every case the test using the fake fails when the fake stops, even when the client
or the code under test swallowed the error. The routes the real clients use are accepted: the
fake-based tests (test_cloud_build, test_gcs_registry, test_lock_stores, test_bootstrap) run
through the guard.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from typing import Any, ClassVar

import pytest
from google.api_core import exceptions as gexc
from google.auth.credentials import AnonymousCredentials
from google.cloud import artifactregistry_v1, storage

from tests.support.discovery import Conformance, Violation, api
from tests.support.fake_gcp import FakeGcp
from tests.support.fake_gcs import FakeGcs

PACKAGE = "projects/p/locations/europe-west4/repositories/images/packages/wine"
REGIONAL = "/v1/projects/p/locations/europe-west4"


def _call(endpoint: str, method: str, path: str, body: Any = None) -> tuple[int, str]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(endpoint + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=5) as reply:
            return reply.status, reply.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


# -- the documents: what the real clients send is found, what Google lacks is not -----------

@pytest.mark.parametrize(("name", "verb", "path", "method_id"), [
    # cloudbuild_v1 (regional and global builds; operations as the service names them)
    ("cloudbuild.v1", "POST", f"{REGIONAL}/builds", "cloudbuild.projects.locations.builds.create"),
    ("cloudbuild.v1", "GET", f"{REGIONAL}/builds/abc", "cloudbuild.projects.locations.builds.get"),
    ("cloudbuild.v1", "POST", "/v1/projects/p/builds", "cloudbuild.projects.builds.create"),
    ("cloudbuild.v1", "GET", "/v1/operations/build/p/YWJj", "cloudbuild.operations.get"),
    ("cloudbuild.v1", "GET", f"{REGIONAL}/operations/o-1",
     "cloudbuild.projects.locations.operations.get"),
    # artifactregistry_v1
    ("artifactregistry.v1", "GET", f"/v1/{PACKAGE}/tags/latest",
     "artifactregistry.projects.locations.repositories.packages.tags.get"),
    ("artifactregistry.v1", "POST", f"/v1/{PACKAGE}/tags",
     "artifactregistry.projects.locations.repositories.packages.tags.create"),
    # aiplatform_v1, with the /ui/ binding its REST transports use for operations
    ("aiplatform.v1", "POST", f"{REGIONAL}/pipelineJobs",
     "aiplatform.projects.locations.pipelineJobs.create"),
    ("aiplatform.v1", "GET", f"{REGIONAL}/pipelineJobs/run-1",
     "aiplatform.projects.locations.pipelineJobs.get"),
    ("aiplatform.v1", "GET", "/ui/projects/p/locations/europe-west4/models/m/operations/42",
     "aiplatform.projects.locations.models.operations.get"),
    ("aiplatform.v1", "GET", "/ui/projects/p/locations/europe-west4/operations/42",
     "aiplatform.projects.locations.operations.get"),
    # storage.v1, as google-cloud-storage sends it (object names quoted with safe="")
    ("storage.v1", "POST", "/upload/storage/v1/b/reg/o", "storage.objects.insert"),
    ("storage.v1", "GET", "/download/storage/v1/b/reg/o/pipelines%2Fp%2Ftags%2Flatest",
     "storage.objects.get"),
    ("storage.v1", "GET", "/storage/v1/b/reg/o/pipelines%2Fp", "storage.objects.get"),
    ("storage.v1", "GET", "/storage/v1/b/reg/o", "storage.objects.list"),
    ("storage.v1", "POST", "/storage/v1/b", "storage.buckets.insert"),
])
def test_routes_the_real_clients_send_are_found(name, verb, path, method_id):
    method = api(name).match(verb, path)
    assert method is not None and method.id == method_id


@pytest.mark.parametrize(("name", "verb", "path"), [
    ("cloudbuild.v1", "GET", f"{REGIONAL}/buildz"),
    ("cloudbuild.v1", "GET", f"{REGIONAL}/builds/abc/logs"),  # {+name} is held to its pattern
    ("cloudbuild.v1", "PUT", f"{REGIONAL}/builds"),
    ("cloudbuild.v1", "GET", "/ui/projects/p/locations/europe-west4/operations/1"),  # not Vertex
    ("artifactregistry.v1", "GET", f"/v1/{PACKAGE}/tags"[:-1]),
    ("aiplatform.v1", "GET", "/ui/projects/p/locations/europe-west4/pipelineJobs/run-1"),
    ("aiplatform.v1", "GET", "/v2/projects/p/locations/europe-west4/pipelineJobs/run-1"),
    ("storage.v1", "GET", "/download/storage/v1/b/reg/o"),  # list is no media download
    ("storage.v1", "GET", "/storage/v1/b/reg/objects"),
])
def test_routes_google_does_not_have_are_not_found(name, verb, path):
    assert api(name).match(verb, path) is None


def test_an_unknown_field_is_named_by_its_json_path_at_any_depth():
    build = {"steps": [{"name": "gcr.io/cloud-builders/docker", "args": ["build"]},
                       {"name": "x", "nmae": "typo"}],
             "options": {"machineType": "E2_HIGHCPU_8", "poolz": {}}}
    assert api("cloudbuild.v1").check("Build", build) == [
        "$.steps[1].nmae: no such field in BuildStep (cloudbuild.v1)",
        "$.options.poolz: no such field in BuildOptions (cloudbuild.v1)"]


def test_proto_names_maps_anys_and_enum_numbers_are_accepted():
    job = {"display_name": "wine", "labels": {"git-sha": "abc", "any-key": "v"},
           "runtimeConfig": {"gcsOutputDirectory": "gs://b/r", "parameterValues": {"n": 3}},
           "pipelineSpec": {"root": {"dag": {}}, "whatever": [1]}, "state": 4}
    assert api("aiplatform.v1").check("GoogleCloudAiplatformV1PipelineJob", job) == []
    operation = {"name": "operations/build/p/x", "done": True,
                 "metadata": {"@type": "type.googleapis.com/x.Y", "build": {"id": "1"}},
                 "response": {"@type": "type.googleapis.com/google.devtools.cloudbuild.v1.Build",
                              "id": "1", "anything": {"goes": True}}}
    assert api("cloudbuild.v1").check("Operation", operation) == []


def test_wrong_shapes_and_enum_names_are_caught():
    problems = api("cloudbuild.v1").check(
        "Build", {"status": "DONE", "steps": {"name": "x"}, "timing": []})
    assert problems == [
        "$.status: 'DONE' is not one of STATUS_UNKNOWN, PENDING, QUEUED, WORKING, SUCCESS, "
        "FAILURE, INTERNAL_ERROR, TIMEOUT, CANCELLED, EXPIRED",
        "$.steps: expected an array, got dict",
        "$.timing: expected an object, got list"]
    assert api("cloudbuild.v1").check(None, {"x": 1}) == ["$: the method takes no body"]


def test_undefined_query_parameters_are_violations_and_recorded():
    conformance = Conformance(["artifactregistry.v1"])
    conformance.route("POST", f"/v1/{PACKAGE}/tags", {"tagId": "t", "$alt": "json"})
    with pytest.raises(Violation, match=r"query parameter 'tag_id' is not defined") as caught:
        conformance.route("POST", f"/v1/{PACKAGE}/tags", {"tag_id": "t"})
    assert caught.value.status == 400
    with pytest.raises(AssertionError, match="tag_id"):
        conformance.assert_clean()


# -- the fakes: the guard answers, and fails the test whatever the client made of it ---------

class _DriftingGcp(FakeGcp):
    """A fake that grew a route Google does not have, and an invented field in a reply."""

    routes: ClassVar[list[tuple[str, re.Pattern[str], str]]] = [
        *FakeGcp.routes,
        ("GET", re.compile(r"/v1/projects/[^/]+/locations/[^/]+/builds/[^/]+/logs"), "logs")]

    def logs(self, m: dict[str, str], query: dict[str, str], body: Any) -> Any:
        return {"the guard": "should have answered before the fake's own route"}

    def get_tag(self, m: dict[str, str], query: dict[str, str], body: Any) -> Any:
        return {**super().get_tag(m, query, body), "digest": "sha256:0"}


def _tags_client(endpoint: str) -> artifactregistry_v1.ArtifactRegistryClient:
    return artifactregistry_v1.ArtifactRegistryClient(
        credentials=AnonymousCredentials(), transport="rest",
        client_options={"api_endpoint": endpoint})


# The checks on what happened inside each `with` run after it: inside, a failing assert would
# be an AssertionError too, and pytest.raises would take it for the guard's.

def test_a_route_google_does_not_have_answers_404_and_fails_the_test():
    with (pytest.raises(AssertionError, match=r"GET /v1/projects/p/locations/r/builds/1/logs is "
                                              r"no method of cloudbuild\.v1, artifactregistry\.v1"),
          _DriftingGcp() as fake):
        status, reply = _call(fake.endpoint, "GET", "/v1/projects/p/locations/r/builds/1/logs")
    assert status == 404 and "the real API has no such route" in reply
    assert fake.calls("nonconformant") == 1 and fake.calls("logs") == 0


def test_an_undefined_body_field_answers_400_naming_it_and_nothing_is_created():
    with (pytest.raises(AssertionError, match=r"\$\.steps\[0\]\.nmae: no such field in BuildStep"),
          FakeGcp() as fake):
        status, reply = _call(fake.endpoint, "POST", f"{REGIONAL}/builds",
                              {"steps": [{"name": "docker", "nmae": "x"}]})
    assert status == 400 and "$.steps[0].nmae" in json.loads(reply)["error"]["message"]
    assert fake.builds == {}


class _CloudBuildOnly(FakeGcp):
    discovery = ("cloudbuild.v1",)


def test_a_404_swallowed_by_the_caller_still_fails_the_test():
    # The builder reads NotFound on a tag as "not built yet": a fake serving the tag lookup at a
    # path Google does not have would make it build every time, silently. Here the fake speaks
    # Cloud Build only, so the real client's tag lookup is a route it must refuse.
    with (pytest.raises(AssertionError, match=r"GET /v1/projects/.*/tags/latest is no method of "
                                              r"cloudbuild\.v1"),
          _CloudBuildOnly() as fake):
        fake.add_tag(PACKAGE, "latest", "sha256:0")
        try:
            _tags_client(fake.endpoint).get_tag(name=f"{PACKAGE}/tags/latest")
            swallowed = False
        except gexc.NotFound:
            swallowed = True
    assert swallowed


def test_an_invented_reply_field_the_client_ignores_still_fails_the_test():
    with (pytest.raises(AssertionError, match=r"reply to artifactregistry\.projects\.locations\."
                                              r"repositories\.packages\.tags\.get: \$\.digest: "
                                              r"no such field in Tag"),
          _DriftingGcp() as fake):
        fake.add_tag(PACKAGE, "latest", "sha256:0")
        tag = _tags_client(fake.endpoint).get_tag(name=f"{PACKAGE}/tags/latest")
    assert tag.version == f"{PACKAGE}/versions/sha256:0"  # parsed; `digest` silently dropped


def test_a_test_may_assert_on_violations_and_clear_them():
    with FakeGcp() as fake:
        assert _call(fake.endpoint, "GET", f"{REGIONAL}/buildz")[0] == 404
        assert len(fake.violations) == 1
        fake.violations.clear()  # the expected violation; the fake then stops cleanly


def test_gcs_refuses_an_undefined_route_and_fails_the_test():
    with (pytest.raises(AssertionError, match=r"GET /storage/v1/b/reg/objects is no method of "
                                              r"storage\.v1"),
          FakeGcs(buckets=["reg"]) as gcs):
        status, _ = _call(gcs.endpoint, "GET", "/storage/v1/b/reg/objects")
    assert status == 404


def test_gcs_refuses_undefined_bucket_fields_and_query_parameters():
    with pytest.raises(AssertionError) as caught, FakeGcs(buckets=[]) as gcs:
        status, reply = _call(gcs.endpoint, "POST", "/storage/v1/b?project=p",
                              {"name": "reg", "versioning": {"enabledd": False}})
        buckets = gcs.buckets
        list_status, _ = _call(gcs.endpoint, "GET", "/storage/v1/b/reg/o?prefx=a")
    assert status == 400 and "$.versioning.enabledd" in reply and buckets == set()
    assert list_status == 400
    assert "$.versioning.enabledd: no such field in Bucket.versioning (storage.v1)" in str(
        caught.value)
    assert "query parameter 'prefx' is not defined" in str(caught.value)


def test_gcs_upload_metadata_is_checked_against_the_object_resource():
    with FakeGcs(buckets=["reg"]) as gcs:
        client = storage.Client(project="p", credentials=AnonymousCredentials(),
                                client_options={"api_endpoint": gcs.endpoint})
        blob = client.bucket("reg").blob("a/b.json")
        blob.metadata = {"git-sha": "abc"}  # a map: any key
        blob.upload_from_string(b"{}", content_type="application/json", if_generation_match=0)
        assert gcs.get("reg", "a/b.json") is not None and gcs.violations == []
