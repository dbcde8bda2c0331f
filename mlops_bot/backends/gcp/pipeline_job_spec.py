"""What a run asks Vertex AI Pipelines for: the PipelineJob id, labels and body of a RunRequest.

The id is the run id made valid for Vertex, the same for the same run id, so starting a run is
idempotent (see `runner`). Every job carries labels for lineage and lookup (`mlops_bot`,
`pipeline`, `version`, `git_sha`, `trigger`, `run_id`; underscores, as in the filter examples
Vertex documents). A request label `enable_caching: "false"` (or `enable-caching`) turns caching
off in every task; without it the compiled setting stands.
"""

from __future__ import annotations

import hashlib
import re
from typing import TYPE_CHECKING, Any

import yaml

from mlops_bot.backends.gcp.api_errors import label_value
from mlops_bot.backends.types import RunRequest
from mlops_bot.errors import UserError

if TYPE_CHECKING:
    from google.cloud.aiplatform_v1 import PipelineJob

    from mlops_bot.config import GcpConfig

__all__ = ["MARKER", "job_id_for", "job_labels", "pipeline_job"]

MARKER = "mlops_bot"  # the label every job mlops-bot starts carries, set to "true"
_JOB_ID_LENGTH = 128


class _Loader(yaml.SafeLoader):
    """Safe YAML that keeps dates as text: a Struct holds no datetimes."""


_Loader.add_constructor("tag:yaml.org,2002:timestamp", lambda loader, node: node.value)


def job_id_for(run_id: str, attempt: int = 1) -> str:
    """The PipelineJob id of a run id: `^[a-z][-a-z0-9]{0,127}$`, the same for the same run id.

    An id that had to be changed to fit gets a hash of the original, so two run ids that differ
    only in what was changed (case, `_` against `-`) never share a job.
    """
    slug = re.sub(r"[^a-z0-9-]+", "-", run_id.lower()).strip("-")
    if not slug[:1].isalpha():
        slug = "run-" + slug
    suffix = f"-a{attempt}" if attempt > 1 else ""
    room = _JOB_ID_LENGTH - len(suffix)
    if slug != run_id or len(slug) > room:
        digest = hashlib.sha256(run_id.encode()).hexdigest()[:12]
        slug = f"{slug[:room - 13].rstrip('-')}-{digest}"
    return slug + suffix


def pipeline_job(config: GcpConfig, request: RunRequest) -> PipelineJob:
    """The PipelineJob to create for `request` in the project `config` names."""
    from google.cloud import aiplatform_v1 as v1

    c = config
    caching = job_labels(request).get("enable_caching")
    spec = _spec(request, None if caching is None else caching.lower() != "false")
    root = c.pipeline_root or f"gs://{c.registry_bucket}/runs"
    return v1.PipelineJob(
        display_name=request.pipeline[:128], pipeline_spec=spec,
        labels=job_labels(request),
        runtime_config=v1.PipelineJob.RuntimeConfig(
            gcs_output_directory=root, parameter_values=request.parameters),
        service_account=c.service_account or "", network=c.network or "",
        encryption_spec=(v1.EncryptionSpec(kms_key_name=c.encryption_key)
                         if c.encryption_key else None))


def job_labels(request: RunRequest) -> dict[str, str]:
    labels = {_label_key(k): label_value(v) for k, v in request.labels.items()}
    labels.update({MARKER: "true", "pipeline": label_value(request.pipeline),
                   "version": label_value(request.version),
                   "git_sha": label_value(request.git_sha),
                   "trigger": label_value(request.trigger)})
    base = job_id_for(request.run_id)
    if len(base) <= 63:
        labels["run_id"] = base
    labels.pop("", None)
    return dict(list(labels.items())[:64])  # Vertex takes at most 64 labels


def _spec(request: RunRequest, caching: bool | None) -> dict[str, Any]:
    """The pipeline spec as a mapping; caching forced on or off in every task when given."""
    documents = [d for d in yaml.load_all(request.spec, Loader=_Loader) if d is not None]
    # The compiler writes the platform config (Kubernetes settings) as a second document,
    # which Vertex does not take.
    spec = documents[0] if documents else None
    if not isinstance(spec, dict) or "root" not in spec:
        raise UserError(f"{request.pipeline}@{request.version} has no KFP pipeline spec in its "
                        "pipeline.yaml; see mlops-bot registry show")
    if caching is not None:
        for component in [spec["root"], *spec.get("components", {}).values()]:
            for task in component.get("dag", {}).get("tasks", {}).values():
                task["cachingOptions"] = {"enableCache": caching}
    return spec


def _label_key(key: str) -> str:
    """Label keys: like values with `_` for `-` (filters read them), starting with a letter."""
    value = label_value(key).replace("-", "_")
    return ("k-" + value)[:63] if value and not value[0].isalpha() else value
