"""The Google Cloud of the act tests: the fake servers with identities enforced, as one project.

    with Cloud(files=tmp / "gcs", repository="octo/models") as cloud:
        mlops_yaml = cloud.mlops_yaml(environments)   # backend gcp, every API at a fake
        act = Act(..., sts_url=cloud.sts.endpoint, variables=cloud.variables)

Cloud Storage (`FakeGcs`), Cloud Build and Artifact Registry (`FakeGcp`), Vertex AI Pipelines and
the Vertex model registry, endpoints and predictions (`FakeVertexPipelines`, `FakeVertexMonitoring`,
behind one `aiplatform` endpoint as on Google, see `VertexFront`), each enforcing the roles of the
build and deploy identities (`tests/support/fake_iam.py`); the token exchange is `FakeSts`, with
the provider and bindings `mlops-bot bootstrap` defines. A successful pipeline job leaves a real
model where its Model artifact points, as the pipeline's train task would.
"""

from __future__ import annotations

import http.client
import re
from contextlib import ExitStack
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, Self
from urllib.parse import urlsplit

import yaml

from mlops_bot.backends.gcp.identities import BUILD, DEPLOY, Federation
from tests.support.fake_gcp import FakeGcp
from tests.support.fake_gcs import FakeGcs
from tests.support.fake_iam import Iam
from tests.support.fake_sts import PROVIDER, FakeSts
from tests.support.fake_vertex_monitoring import FakeVertexMonitoring
from tests.support.fake_vertex_pipelines import FakeVertexPipelines
from tests.support.loopback import LoopbackServer
from tests.support.models import train_wine_model

__all__ = ["BUCKET", "BUILDER", "DEPLOYER", "PROJECT", "REGION", "RUNTIME", "Cloud"]

PROJECT, REGION, BUCKET = "acme-ml", "europe-west4", "acme-ml-registry"
BUILDER, DEPLOYER = BUILD.email(PROJECT), DEPLOY.email(PROJECT)
RUNTIME = f"pipelines@{PROJECT}.iam.gserviceaccount.com"


class TrainingPipelines(FakeVertexPipelines):
    """Vertex AI Pipelines whose successful jobs leave a trained model at each Model artifact's
    gs:// uri (under `files`, where the fake model registry loads models from)."""

    def __init__(self, files: Path) -> None:
        super().__init__()
        self.files = files

    def _poll(self, job: Any) -> Any:
        done = job.done
        job = super()._poll(job)
        if job.done and not done and job.resource["state"] == "PIPELINE_STATE_SUCCEEDED":
            for task in job.resource["jobDetail"]["taskDetails"]:
                for output in (task.get("outputs") or {}).values():
                    for artifact in output["artifacts"]:
                        if artifact["schemaTitle"] == "system.Model":
                            path = self.files / artifact["uri"].removeprefix("gs://")
                            train_wine_model(path.parent, n_estimators=10, max_depth=3)
                            if path.name != "model":
                                (path.parent / "model").rename(path)
        return job


class VertexFront(LoopbackServer):
    """One `aiplatform` endpoint for two fakes: pipeline jobs go to the pipelines fake, models,
    endpoints and predictions to the models fake; requests and answers pass through as they are."""

    _PIPELINES = re.compile(r"^/v1/projects/[^/]+/locations/[^/]+/pipelineJobs")

    def __init__(self, pipelines: str, models: str) -> None:
        self.backends = (urlsplit(pipelines).netloc, urlsplit(models).netloc)
        super().__init__(_front_handler(self))

    @property
    def endpoint(self) -> str:
        return self.base_url

    def backend_for(self, path: str) -> str:
        return self.backends[0] if self._PIPELINES.match(path) else self.backends[1]


def _front_handler(front: VertexFront) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _relay(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = {k: v for k, v in self.headers.items()
                       if k.lower() in ("authorization", "content-type", "x-goog-api-client")}
            connection = http.client.HTTPConnection(front.backend_for(self.path), timeout=120)
            try:
                connection.request(self.command, self.path, body=body or None, headers=headers)
                answer = connection.getresponse()
                data = answer.read()
            finally:
                connection.close()
            self.send_response(answer.status)
            self.send_header("Content-Type", answer.getheader("Content-Type") or "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PATCH = do_DELETE = _relay

    return Handler


class Cloud:
    def __init__(self, files: Path, repository: str, environments: list[str]) -> None:
        self.files = files
        self.iam = Iam(PROJECT, BUCKET, runtime_account=RUNTIME)
        self.gcs = FakeGcs(buckets=[BUCKET]).enforce(self.iam)
        self.gcp = FakeGcp().enforce(self.iam)
        self.pipelines = TrainingPipelines(files).enforce(self.iam)
        self.models = FakeVertexMonitoring(files=files).enforce(self.iam)
        self.sts = FakeSts(Federation(repository, "main", environments), PROJECT)
        self.gcp.set_outcome("SUCCESS", after_polls=1)
        self.pipelines.set_outcome("SUCCEEDED", after_polls=1)
        self._stack = ExitStack()

    def __enter__(self) -> Self:
        for server in (self.gcs, self.gcp, self.pipelines, self.models, self.sts):
            self._stack.enter_context(server)
        self.front = self._stack.enter_context(VertexFront(self.pipelines.endpoint,
                                                           self.models.endpoint))
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    @property
    def variables(self) -> dict[str, str]:
        """The GitHub variables bootstrap tells a user to set (environment-scoped ones too: act
        has no environments, so every job sees them; the fake STS still refuses the wrong job)."""
        return {"GCP_WORKLOAD_IDENTITY_PROVIDER": PROVIDER,
                BUILD.variable: BUILDER, DEPLOY.variable: DEPLOYER}

    def gcp_section(self) -> dict[str, Any]:
        return {"project": PROJECT, "region": REGION, "artifact_repository": "mlops",
                "registry_bucket": BUCKET, "pipeline_root": f"gs://{BUCKET}/runs",
                "service_account": RUNTIME,
                "api_endpoints": {"storage": self.gcs.endpoint, "cloudbuild": self.gcp.endpoint,
                                  "artifactregistry": self.gcp.endpoint,
                                  "aiplatform": self.front.endpoint}}

    def configure(self, mlops_yaml: str) -> str:
        """`mlops.yaml` as `init` wrote it, switched to backend gcp on this project, as the
        next steps init prints tell a user."""
        config = yaml.safe_load(mlops_yaml)
        config.update({"backend": "gcp", "gcp": self.gcp_section()})
        return yaml.safe_dump(config, sort_keys=False)
