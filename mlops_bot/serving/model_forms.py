"""Where the model file of a model artifact is, in the forms teams save models.

A KFP Model artifact's path may hold the model itself, the model saved beside it with a suffix
(`model.path + ".joblib"`, `.pkl`, `.pickle`), a folder with one model file in it, or an MLflow
model folder (an `MLmodel` file naming its flavours). Only the scikit-learn flavour saved as a
pickle or cloudpickle is served; another flavour is refused in one sentence. Nothing here
unpickles: it reads file names and the `MLmodel` YAML (safely), so the serving processes and the
smoke test's confined child stay the only places a model is loaded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlops_bot.errors import UserError

__all__ = ["MODEL_SUFFIXES", "SERVED", "ModelFormError", "artifact_location", "model_file",
           "model_path"]

MODEL_SUFFIXES = (".joblib", ".pkl", ".pickle")
# Looked for first in a folder: the names Vertex's prebuilt scikit-learn containers accept, then
# the bare `model` file a KFP Model artifact is.
_NAMES = ("model.joblib", "model.pkl", "model.pickle", "model")
# Files a model folder may hold beside the model (metadata, never the model itself).
_BESIDE = {"model_metadata.json", "executor_output.json", "requirements.txt", "conda.yaml",
           "python_env.yaml", "input_example.json", "serving_input_example.json",
           "registered_model_meta"}
_MLMODEL = "MLmodel"
_MLMODEL_LIMIT = 1 << 20  # bytes: an MLmodel file is a few hundred
SERVED = ("MLflow models of the `sklearn` flavour saved as pickle or cloudpickle, and "
          "scikit-learn models saved with joblib or pickle")
_SERIALIZATIONS = ("pickle", "cloudpickle")


class ModelFormError(UserError):
    """No model we serve is where a model artifact points; the message says what is there."""


def model_path(path: Path) -> Path | None:
    """The path the artifact at `path` stands for: itself, or `path` with a model suffix when
    only that exists (a component that saved to `model.path + ".joblib"`); None: neither."""
    if path.exists():
        return path
    found = [path.with_name(path.name + s) for s in MODEL_SUFFIXES
             if path.with_name(path.name + s).is_file()]
    return found[0] if len(found) == 1 else None


def model_file(path: Path, _depth: int = 0) -> Path:
    """The model file `path` names, or a ModelFormError saying in one sentence why there is none."""
    found = model_path(path)
    if found is None:
        raise ModelFormError(f"no model at {path}: the path does not exist (nor with "
                             f"{', '.join(MODEL_SUFFIXES)} added)")
    if found.is_file():
        return found
    if (found / _MLMODEL).is_file():
        return _mlflow_model(found)
    for name in _NAMES:
        if (found / name).is_file():
            return found / name
    files = sorted(p for p in found.iterdir()
                   if p.is_file() and p.name not in _BESIDE and not p.name.startswith("."))
    suffixed = [p for p in files if p.suffix in MODEL_SUFFIXES]
    if len(suffixed) == 1:
        return suffixed[0]
    # The task's folder holding the artifact's own: a gs:// `.../model` artifact is given to the
    # serving container as its parent folder, where other outputs may lie beside it.
    folders = sorted(p for p in found.iterdir() if p.is_dir() and not p.name.startswith("."))
    mlflow = [p for p in folders if (p / _MLMODEL).is_file()]
    inner = ([found / "model"] if (found / "model").is_dir() else
             mlflow if len(mlflow) == 1 else folders if not files and len(folders) == 1 else [])
    if not suffixed and inner and _depth < 2:  # a link to a folder above cannot loop
        return model_file(inner[0], _depth + 1)
    if not suffixed and len(files) == 1:
        return files[0]
    if not files:
        raise ModelFormError(f"no model file in {found}: save the model there as model.joblib "
                             "(or one .joblib/.pkl file), or as an MLflow model folder")
    named = ", ".join(p.name for p in (suffixed or files)[:5])
    raise ModelFormError(f"{found} holds several files that could be the model ({named}): keep "
                         "one model file in the folder, or name it model.joblib")


def _mlflow_model(folder: Path) -> Path:
    """The pickled scikit-learn model of the MLflow model in `folder`."""
    where = f"the MLflow model in {folder}"
    flavors = _flavors(folder / _MLMODEL)
    sklearn = flavors.get("sklearn")
    if not isinstance(sklearn, dict):
        names = ", ".join(str(n) for n in flavors if n != "python_function")
        kind = (f"of the {names} flavour" if names
                else "with only the python_function flavour (a custom pyfunc model)")
        raise ModelFormError(f"{where} is {kind}, which mlops-bot does not serve: it serves "
                             f"{SERVED}")
    serialization = str(sklearn.get("serialization_format") or "cloudpickle")
    if serialization not in _SERIALIZATIONS:
        raise ModelFormError(f"{where} is saved as {serialization[:40]}, which mlops-bot does not "
                             f"load: it serves {SERVED}")
    name = str(sklearn.get("pickled_model") or "model.pkl")
    pickled = folder / name
    inside = pickled.resolve().is_relative_to(folder.resolve())
    if not inside or not pickled.is_file():
        raise ModelFormError(f"{where} names pickled_model {name[:100]!r}, which is not a file in "
                             "that folder: save the model with mlflow.sklearn.save_model")
    return pickled


def _flavors(path: Path) -> dict[str, Any]:
    import yaml

    try:
        with path.open("rb") as file:
            text = file.read(_MLMODEL_LIMIT + 1)
        if len(text) > _MLMODEL_LIMIT:
            raise ModelFormError(f"{path} is larger than {_MLMODEL_LIMIT >> 10} KiB, which no "
                                 "MLmodel file is")
        document = yaml.safe_load(text)
    except (OSError, yaml.YAMLError) as error:
        raise ModelFormError(f"cannot read {path}: {error}") from None
    flavors = document.get("flavors") if isinstance(document, dict) else None
    if not isinstance(flavors, dict) or not flavors:
        raise ModelFormError(f"{path} names no flavors, so it is not an MLflow model: save the "
                             "model with mlflow.sklearn.save_model")
    return flavors


def artifact_location(uri: str) -> str:
    """What a registry records for the Model artifact at `uri`. Locally: the model folder, the
    folder of a `model`/`model.joblib`/`model.pkl` file, else the model file (saved with a
    suffix or not), checked to hold a model we serve (ModelFormError otherwise). On gs://,
    unlisted: the task's folder for those names (Vertex AI takes a folder), else `uri`; the
    serving container resolves what it is given the same way (serving/download.py copies
    `uri` + a suffix when only that exists)."""
    name = uri.rstrip("/").rsplit("/", 1)[-1]
    if uri.startswith("gs://"):
        bare = name in _NAMES or name.endswith(MODEL_SUFFIXES)
        return uri.rstrip("/").rsplit("/", 1)[0] if bare else uri
    path = Path(uri.removeprefix("file://"))
    file = model_file(path)  # refuses what no server could load, before anything is registered
    if not file.resolve().is_relative_to(path.parent.resolve()):
        raise ModelFormError(f"the model file {file} is a link leading out of the folder of the "
                             "run's model artifact, so it is not the run's own")
    found = model_path(path)
    assert found is not None  # model_file raised otherwise
    return str(found.parent if found.is_file() and found.name in _NAMES else found)
