"""What serves a registered model, per framework, and the serving image mlops-bot builds for it.

The decision, per framework of the model artifact's metadata (`framework`, written by the
training component; default scikit-learn):

- scikit-learn (a joblib/pickle file: `model`, `model.joblib` or `model.pkl`): a serving image
  mlops-bot builds FROM the pipeline image the run trained in, with mlops-bot's server added
  (`python3 -m mlops_bot.serving`, the server `mlops-bot serve` runs). Not Vertex AI's prebuilt
  scikit-learn containers: each pins one scikit-learn release, and a pickle loads reliably only in
  the release that wrote it, which the pipeline image is by construction; and their contract
  takes lists of values only, where `mlops-bot serve` also takes objects keyed by feature name
  and `parameters.probabilities`. One server, one contract, locally and on Vertex.
- anything else (TensorFlow SavedModels, XGBoost `.bst`, PyTorch, ...): no serving image; the
  promotion is refused before anything is registered (`check_framework`).

When: at push, on backend gcp, right after each pipeline's image (`serving_image`, called by
the push flow as soon as that image is ready), by the same ImageBuilder (Cloud Build), as the
build identity; the ref goes into
the registry version's manifest (`serving_image`), and `deploy` only reads it there
(`serving_candidate`), so the deploy identity never builds. The context this module writes is a
two-stage Dockerfile (the server's dependencies are installed as root into `/opt/mlops-bot/lib`
in a first stage and copied into the second, so the pipeline image's USER, WORKDIR and packages
are kept as they are) and the few mlops_bot modules the server imports. The server's
dependencies are pinned to the versions this mlops-bot runs with; numpy, joblib, scikit-learn
and pandas are the pipeline image's own. Its content hash covers the base image reference, the
Dockerfile and those modules, so an unchanged pipeline image reuses its serving image.

The container contract below is what the Vertex upload request carries (backends/gcp/models.py).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import re
import tempfile
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

from mlops_bot.backends.model_types import ModelCandidate
from mlops_bot.backends.types import BuildRequest, BuildResult
from mlops_bot.console import progress
from mlops_bot.errors import UserError
from mlops_bot.repo.layout import Image, image_name

if TYPE_CHECKING:
    from mlops_bot.backends.types import ImageBuilder, PipelineRegistry
    from mlops_bot.config import Config
    from mlops_bot.repo.plan import Plan

__all__ = [
    "HEALTH_ROUTE",
    "MANIFEST_KEY",
    "PREDICT_ROUTE",
    "SERVED_FRAMEWORKS",
    "SERVING_ARGS",
    "SERVING_COMMAND",
    "SERVING_PORT",
    "check_framework",
    "serving_candidate",
    "serving_dockerfile",
    "serving_image",
    "serving_image_request",
    "serving_images",
]

# `python3`: KFP runs every component with it, so every pipeline image has it.
SERVING_COMMAND = ("python3", "-m", "mlops_bot.serving")
SERVING_ARGS = ("--host", "0.0.0.0")  # the server listens on 127.0.0.1 unless told otherwise
SERVING_PORT = 8080
PREDICT_ROUTE, HEALTH_ROUTE = "/predict", "/health"
SERVED_FRAMEWORKS = ("scikit-learn",)
_ALIASES = {"sklearn": "scikit-learn", "scikit_learn": "scikit-learn", "scikitlearn":
            "scikit-learn"}
SERVER_LIB = "/opt/mlops-bot/lib"
# What `python -m mlops_bot.serving` imports from mlops_bot: nothing else goes into the image,
# so a change elsewhere in mlops-bot does not rebuild serving images.
_SERVER_FILES = ("__init__.py", "errors.py", "serving")
# Installed into the image, pinned to what this mlops-bot runs with (google-cloud-storage copies
# a gs:// AIP_STORAGE_URI, pyyaml reads an MLflow model's MLmodel); the pipeline image must
# already have joblib and numpy.
_SERVER_REQUIREMENTS = ("starlette", "uvicorn", "google-cloud-storage", "pyyaml")
_IMAGE_REF = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/:@+-]{0,510}$")
_HASH_SALT = "mlops-bot/serving-image/v1"
MANIFEST_KEY = "serving_image"  # in a registry version's manifest: the image serving its models
_CONTEXT = "serving-image"


def check_framework(candidate: ModelCandidate) -> None:
    """UserError, naming the run and what can be served, when no image serves its framework."""
    framework = candidate.framework.strip().lower()
    if _ALIASES.get(framework, framework) not in SERVED_FRAMEWORKS:
        raise UserError(
            f"the model of run {candidate.run_id} of {candidate.model} is a "
            f"{candidate.framework!r} model, which mlops-bot has no serving image for (it serves "
            f"{', '.join(SERVED_FRAMEWORKS)} models saved with joblib): deploy a scikit-learn "
            "model (metadata['framework'] = 'scikit-learn' on the Model artifact), or serve "
            "this one with its framework's own server outside mlops-bot")


def serving_images(config: Config, builder: ImageBuilder, plan: Plan,
                   refs: Mapping[str, str]) -> tuple[dict[str, str], list[str]]:
    """At push, on backend gcp: the serving image of each planned pipeline whose pipeline image
    was built (`refs`: image name -> pinned ref), built or reused by content hash in one builder
    call. Returns pipeline -> serving image ref, and a note per pipeline saying what happened; a
    failed serving build is a note, not a failed push (its models just cannot be deployed)."""
    if config.backend != "gcp":
        return {}, []  # `mlops-bot serve` serves local models in-process
    bases = {p.name: refs[i.image.name] for p in plan.pipelines for i in p.images
             if i.image.kind == "pipeline" and i.image.name in refs}
    if not bases:
        return {}, []
    progress(f"==> serving image(s) of {', '.join(sorted(bases))}")
    with tempfile.TemporaryDirectory(prefix="mlops-bot-serving-") as root:
        requests = {pipeline: serving_image_request(pipeline, base, plan.head,
                                                    Path(root) / pipeline)
                    for pipeline, base in bases.items()}
        results = builder.build(list(requests.values()))
    found, notes = {}, []
    for pipeline, result in zip(requests, results, strict=True):
        ref, note = _outcome(pipeline, result)
        notes.append(note)
        if ref:
            found[pipeline] = ref
    return found, notes


def serving_image(config: Config, builder: ImageBuilder, pipeline: str, base: str | None,
                  git_sha: str) -> tuple[str | None, str | None]:
    """`serving_images` for one pipeline, once its pipeline image `base` (a pinned ref; None:
    it has none) is built: its serving image ref (None: none) and the note saying what
    happened (None: nothing to say, not on gcp or no pipeline image)."""
    if config.backend != "gcp" or base is None:
        return None, None
    progress(f"==> serving image of {pipeline}")
    with tempfile.TemporaryDirectory(prefix="mlops-bot-serving-") as root:
        [result] = builder.build([serving_image_request(pipeline, base, git_sha, Path(root))])
    return _outcome(pipeline, result)


def _outcome(pipeline: str, result: BuildResult) -> tuple[str | None, str]:
    if result.ref and result.status != "failed":
        return result.ref, f"{pipeline}: models are served by {result.ref} ({result.status})"
    return None, (f"{pipeline}: no serving image, so its models cannot be deployed to Vertex "
                  f"AI: {result.error}")


def serving_candidate(config: Config, registry: PipelineRegistry,
                      candidate: ModelCandidate) -> ModelCandidate:
    """At deploy: the candidate with the image that serves it, the one the push of its registry
    version recorded (`serving_image` in the manifest). Nothing is built here, so the deploy
    identity needs no build rights. Locally `mlops-bot serve` serves it in-process."""
    check_framework(candidate)
    if config.backend != "gcp" or candidate.serving_image:
        return candidate
    version = candidate.registry_version
    image = registry.resolve(candidate.model, f"@{version}").manifest.get(MANIFEST_KEY)
    if not image:
        raise UserError(f"registry version {version} of {candidate.model} has no serving image "
                        f"(its push could not build one, or predates them; that push's notes "
                        f"say why), so run {candidate.run_id} cannot be deployed to Vertex AI: "
                        f"fix the pipeline image if needed and push a change to "
                        f"pipelines/{candidate.model}, then deploy the new run")
    return dataclasses.replace(candidate, serving_image=str(image))


def serving_image_request(pipeline: str, base: str, git_sha: str, root: Path) -> BuildRequest:
    """Writes the serving image's build context under `root` and returns its BuildRequest."""
    if not _IMAGE_REF.match(base):
        raise UserError(f"the pipeline image {base!r} of {pipeline} is not an image reference")
    context = root / _CONTEXT
    # The folder name only ever reaches the Dockerfile as an image name: no line breaks in it.
    files = {"Dockerfile": serving_dockerfile(base, image_name(pipeline)).encode()}
    package = Path(__file__).parent
    for name in _SERVER_FILES:
        found = [package / name] if (package / name).is_file() else sorted(
            (package / name).glob("*.py"))
        for path in found:
            files[f"mlops_bot/{path.relative_to(package).as_posix()}"] = path.read_bytes()
    digest = hashlib.sha256(f"{_HASH_SALT}\n".encode())
    for relative, data in sorted(files.items()):
        target = context / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        digest.update(f"{relative}\0{hashlib.sha256(data).hexdigest()}\n".encode())
    image = Image(name=f"{image_name(pipeline)}-serving", kind="serving", context=_CONTEXT,
                  dockerfile=f"{_CONTEXT}/Dockerfile", content_hash=digest.hexdigest())
    return BuildRequest(image, pipeline, git_sha, root)


def serving_dockerfile(base: str, pipeline: str) -> str:
    pins = " ".join(_pin(name) for name in _SERVER_REQUIREMENTS)
    command = ", ".join(f'"{word}"' for word in (*SERVING_COMMAND, *SERVING_ARGS))
    return f"""\
# The serving image of the {pipeline} pipeline, written by mlops-bot: the pipeline image its
# model was trained in, plus mlops-bot's model server (Vertex AI's custom-container contract).
FROM {base} AS server
USER root
RUN python3 -c "import joblib, numpy" || {{ echo "mlops-bot: the pipeline image cannot import \
joblib and numpy, which load and serve its model: install them in its Dockerfile" >&2; exit 1; }}
RUN python3 -m pip install --no-cache-dir --disable-pip-version-check \
--no-warn-script-location --target {SERVER_LIB} {pins}
COPY mlops_bot {SERVER_LIB}/mlops_bot

FROM {base}
COPY --from=server {SERVER_LIB} {SERVER_LIB}
ENV PYTHONPATH={SERVER_LIB}${{PYTHONPATH:+:$PYTHONPATH}} PYTHONUNBUFFERED=1
EXPOSE {SERVING_PORT}
CMD [{command}]
"""


@functools.cache  # a push asks once per pipeline; reading package metadata takes milliseconds
def _pin(distribution: str) -> str:
    try:
        return f"{distribution}=={metadata.version(distribution)}"
    except metadata.PackageNotFoundError:  # not installed here (a source checkout): the latest
        return distribution
