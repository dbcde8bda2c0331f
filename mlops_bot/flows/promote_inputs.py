"""What a promotion starts from: the environment, the run and its model, the champion's
metrics and the smoke-test instances. Each lookup says clearly why it found nothing."""

from __future__ import annotations

import dataclasses
import difflib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from mlops_bot.backends.model_types import EndpointRecord, ModelCandidate
from mlops_bot.backends.types import RunRecord
from mlops_bot.errors import UserError
from mlops_bot.flows.results.promote import PromotionStatus
from mlops_bot.serving.model_forms import ModelFormError, artifact_location

if TYPE_CHECKING:
    from mlops_bot.backends.factory import Backends
    from mlops_bot.config import Config, Environment

__all__ = ["ClaimRefused", "Refusal", "champion_metrics", "check_artifacts", "environment_of",
           "find_run", "model_candidate", "smoke_instances", "verify_claim"]

_SAMPLE = Path("serving") / "sample_instances.json"
_CHECKED = ("system.Model", "system.Metrics")  # what a promotion reads of a run's artifacts


class Refusal(Exception):
    """The promotion cannot start; `status` is its reason code, the message says why."""

    def __init__(self, status: PromotionStatus, message: str) -> None:
        super().__init__(message)
        self.status = status


class ClaimRefused(Exception):
    """The run a Deployment names is not what the cloud holds; `code` is the reason code."""

    def __init__(self, code: Literal["run_missing", "record_mismatch"], message: str) -> None:
        super().__init__(message)
        self.code = code


def verify_claim(backends: Backends, payload: Mapping[str, Any],
                 commit: str | None = None) -> RunRecord:
    """The run a Deployment's payload names, checked against the backend before anything is
    promoted: it exists and succeeded, is of the pipeline, version and parameters claimed (the
    comment job read them from an untrusted check run), was produced by the commit claimed, and
    the version is in the registry. `commit`: who must have produced it when the payload does
    not say (a retrained model's deployment is of the run's own commit)."""
    pipeline, version, run_id = (payload.get(k) for k in ("pipeline", "version", "run_id"))
    if not all(isinstance(v, str) and v for v in (pipeline, version, run_id)):
        raise ClaimRefused("record_mismatch", "the deployment's payload names no pipeline, "
                           "version and run, so it was not made by `/deploy`: comment `/deploy` "
                           "on the pull request again")
    run = backends.runner.get(str(run_id))
    if run is None:
        raise ClaimRefused("run_missing", f"run {run_id} that the deployment names does not "
                           "exist on the backend (a check run that no push of this repository "
                           "wrote, or a deleted run): push to the PR branch and comment "
                           "`/deploy` again")
    if run.status != "succeeded":
        raise ClaimRefused("run_missing", f"run {run_id} of {run.pipeline} is {run.status} on "
                           "the backend, not succeeded as the check run said: fix the pipeline, "
                           "push to the PR branch and comment `/deploy` again")
    expected = payload.get("produced_by") or commit
    claims: list[tuple[str, Any, Any]] = [
        ("pipeline", pipeline, run.pipeline), ("registry version", version, run.version),
        ("producing commit", expected, run.git_sha)]
    if "parameters" in payload:
        claims.append(("parameters", payload["parameters"], run.parameters))
    wrong = [f"{name} {_shown(claimed)} (the run's is {_shown(actual)})"
             for name, claimed, actual in claims if claimed is not None and claimed != actual]
    if wrong:
        raise ClaimRefused("record_mismatch", f"run {run_id} on the backend is not what the "
                           f"deployment claims: {'; '.join(wrong)}; comment `/deploy` again "
                           "after the push workflow has recorded the PR head")
    try:
        backends.registry.resolve(str(pipeline), f"@{version}")
    except UserError as error:
        raise ClaimRefused("record_mismatch", f"registry version {version} of {pipeline} that "
                           f"the deployment names is not in the registry ({error})") from None
    return run


def _shown(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return text[:12] if isinstance(value, str) and len(value) == 40 else text[:200]


def environment_of(config: Config, name: str) -> Environment:
    if name in config.environments:
        return config.environments[name]
    known = sorted(config.environments)
    if not known:
        raise UserError(f"unknown environment {name!r}: mlops.yaml defines no environments; add "
                        "one under environments: (for example `staging: {endpoint: "
                        "wine-staging}`)")
    close = difflib.get_close_matches(name, known, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    raise UserError(f"unknown environment {name!r}: {hint}environments in mlops.yaml: "
                    f"{', '.join(known)}")


def find_run(backends: Backends, pipeline: str, repo_root: Path, sha: str | None,
             run_id: str | None) -> RunRecord:
    """The run named, or the newest succeeded run of `pipeline` for the commit."""
    runner = backends.runner
    if run_id is not None:
        run = runner.get(run_id)
        if run is None:
            raise Refusal("no_run", f"there is no run {run_id}: `mlops-bot runs list "
                          f"--pipeline {pipeline}` lists the runs")
        if run.pipeline != pipeline:
            raise Refusal("no_run", f"run {run_id} is of pipeline {run.pipeline}, not "
                          f"{pipeline}: pass --pipeline {run.pipeline}")
        _check_succeeded(run)
        return run
    commit = _commit(repo_root, sha)
    runs = runner.runs(pipeline, git_sha=commit)
    succeeded = [r for r in runs if r.status == "succeeded"]
    if succeeded:
        return succeeded[0]
    if runs:
        _check_succeeded(runs[0])
    raise Refusal("no_run", f"no run of {pipeline} for commit {commit[:12]}: `mlops-bot push` "
                  "builds and runs it (or pass --run RUN_ID)")


def _commit(repo_root: Path, sha: str | None) -> str:
    if sha is not None and len(sha) == 40:
        return sha.lower()  # the deploy job's pinned SHA: the clone need not have it
    from mlops_bot.repo.git import GitRepo

    resolved = GitRepo(repo_root).resolve(sha or "HEAD")
    if resolved is None:
        raise UserError(f"--sha {sha} is not a commit in {repo_root}: give the full 40-hex SHA "
                        "or fetch it first")
    return resolved


def _check_succeeded(run: RunRecord) -> None:
    if run.status != "succeeded":
        first = (run.error or "no error recorded").strip().splitlines()[0]
        where = f"; details in {run.url}" if run.url else ""
        raise Refusal("run_failed", f"run {run.run_id} of {run.pipeline} at "
                      f"{run.git_sha[:12]} {run.status} ({first}{where}): fix the pipeline and "
                      "push again; a failed run's model is never promoted")


def model_candidate(backends: Backends, run: RunRecord) -> ModelCandidate:
    run = check_artifacts(backends.artifact_root, run)
    models = [a for a in run.artifacts if a.get("type") == "system.Model" and a.get("uri")]
    if not models:
        raise Refusal("no_model", f"run {run.run_id} of {run.pipeline} produced no model "
                      "artifact (an Output[Model] of a component): there is nothing to deploy")
    artifact = models[-1]  # the last task to write one: the model the pipeline ends with
    metadata: dict[str, Any] = artifact.get("metadata") or {}
    try:
        folder = artifact_location(str(artifact["uri"]))
    except ModelFormError as error:
        raise Refusal("no_model", f"run {run.run_id} of {run.pipeline}: {error}") from None
    return ModelCandidate(
        model=run.pipeline, artifact_uri=folder, run_id=run.run_id, git_sha=run.git_sha,
        registry_version=run.version, metrics=dict(run.metrics),
        framework=str(metadata.get("framework") or "scikit-learn"),
        feature_names=tuple(metadata.get("feature_names") or ()),
        classes=tuple(metadata.get("classes") or ()), image=_image(backends, run),
    )


def check_artifacts(root: str, run: RunRecord) -> RunRecord:
    """`run` with its model and metrics artifacts checked to lie among the run's own (a
    component's executor output can name any path or object), else a Refusal: on GCP the run's
    folder under the pipeline root; locally the run's folder, with no symlink or `..` leading
    out. A local path is read where the run's folder is now (`<root>/<run>/artifacts/...`), so a
    state folder that was moved or copied still promotes its own files, and only those."""
    if not root:
        return run
    artifacts = []
    for artifact in run.artifacts:
        uri = str(artifact.get("uri") or "")
        if artifact.get("type") in _CHECKED and uri:
            own, why = _own(root, run.run_id, uri)
            if own is None:
                raise Refusal("artifact_outside_run", f"run {run.run_id} of {run.pipeline} "
                              f"names the {artifact.get('type')} artifact {uri[:300]}, which is "
                              f"{why}: a component writes its outputs where the run gives them; "
                              "nothing from this run is promoted")
            artifact = {**artifact, "uri": own}
        artifacts.append(artifact)
    return dataclasses.replace(run, artifacts=artifacts)


def _own(root: str, run_id: str, uri: str) -> tuple[str | None, str]:
    """`uri` as the run's own artifact, or None and why it is not one."""
    if root.startswith("gs://"):
        prefix = root.rstrip("/") + "/"
        parts = uri[len(prefix):].split("/") if uri.startswith(prefix) else []
        if len(parts) < 3 or parts[1] != run_id or any(p in ("", ".", "..") for p in parts):
            return None, f"not under the run's folder {prefix}<project number>/{run_id}/"
        return uri, ""
    folder = Path(root) / run_id / "artifacts"
    if "://" in uri and not uri.startswith("file://"):
        return None, f"not a local file (the run's artifacts are under {folder})"
    # The run's folder as the runner named it when the run wrote the path, then what follows.
    mark = f"/{Path(root).name}/{run_id}/artifacts/"
    path = uri.removeprefix("file://")
    if mark not in path:
        return None, f"not in the run's folder {folder}"
    inside = folder / path[path.rindex(mark) + len(mark):]
    if not inside.resolve().is_relative_to(folder.resolve()):
        return None, f"outside the run's folder {folder} (by `..` or a symlink)"
    return str(inside), ""


def _image(backends: Backends, run: RunRecord) -> str | None:
    """The pinned pipeline image the run used, from the registry manifest (lineage only)."""
    try:
        images = backends.registry.resolve(run.pipeline, f"@{run.version}").manifest.get(
            "images") or {}
    except UserError:
        return None
    image = images.get(run.pipeline) or next(iter(images.values()), None)
    return str(image) if image else None


def champion_metrics(backends: Backends,
                     endpoint: EndpointRecord | None) -> dict[str, float] | None:
    """The metrics of the model serving now (most traffic), or None when nothing serves."""
    serving = endpoint.serving() if endpoint else None
    if serving is None:
        return None
    version = backends.models.get(serving.model, serving.model_version)
    if version is not None:
        return dict(version.metrics)
    run = backends.runner.get(serving.lineage.get("run_id", ""))
    return dict(run.metrics) if run else {}


def smoke_instances(config: Config, environment: Environment, pipeline: str,
                    repo_root: Path) -> tuple[list[Any] | None, str]:
    """The instances to smoke-test with and the file they came from (None: there is no file)."""
    if environment.smoke_instances:
        path = repo_root / environment.smoke_instances
        if not path.is_file():
            raise UserError(f"smoke_instances: {environment.smoke_instances} of mlops.yaml does "
                            f"not exist in {repo_root}: fix the path or remove the key")
    else:
        path = repo_root / config.pipelines_dir / pipeline / _SAMPLE
        if not path.is_file():
            return None, str(path)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise UserError(f"cannot read the smoke-test instances {path}: {error}") from None
    instances = document.get("instances") if isinstance(document, dict) else document
    if not isinstance(instances, list) or not instances:
        raise UserError(f"{path} must hold {{\"instances\": [...]}} with at least one instance")
    return instances, str(path)
