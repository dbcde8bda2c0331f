"""The endpoint state file: which models an environment serves, with what share of the traffic.

The promotion flow writes `<state_dir>/endpoints/<environment>.json` (atomically: a temporary file
then `os.replace`, so a reader sees the old document or the new one, never half of one); the
serving process only reads it:

```json
{"environment": "staging", "endpoint": "wine-staging", "revision": 7,
 "deployed": [{"deployed_model_id": "wine_quality-3", "model": "wine_quality",
               "model_version": 3, "artifact_uri": "/abs/path/to/model",
               "framework": "scikit-learn", "feature_names": ["alcohol", "..."],
               "classes": [0, 1, 2], "traffic": 90, "lineage": {"git_sha": "..."}}]}
```
`revision` grows with every write; the traffic of `deployed` sums to 100, or `deployed` is empty.
Keys this reader does not know are ignored, so the writer can add fields without a lockstep
release.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlops_bot.errors import UserError

__all__ = [
    "DeployedModel",
    "EndpointState",
    "FixedState",
    "StateError",
    "StateWatcher",
    "endpoint_state_path",
    "model_file_at",
    "parse_state",
    "read_state",
    "single_model_state",
]

_METADATA_FILE = "model_metadata.json"


class StateError(UserError):
    """The state file (or a model folder) cannot be read; the message names it and the problem."""


@dataclass(frozen=True)
class DeployedModel:
    """One model deployed to an endpoint, as the state file describes it."""

    deployed_model_id: str
    artifact_uri: str
    traffic: int
    model: str = ""
    model_version: int | str | None = None
    framework: str = ""
    feature_names: tuple[str, ...] = ()
    classes: tuple[Any, ...] = ()
    lineage: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class EndpointState:
    """One revision of an environment's endpoint; revision 0 is "no state file yet"."""

    environment: str
    revision: int
    deployed: tuple[DeployedModel, ...] = ()
    endpoint: str = ""


def endpoint_state_path(state_dir: Path, environment: str) -> Path:
    return state_dir / "endpoints" / f"{environment}.json"


def read_state(path: Path, environment: str) -> EndpointState:
    """The state at `path`; an empty revision 0 when the file does not exist yet."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return EndpointState(environment=environment, revision=0)
    except (OSError, UnicodeDecodeError) as error:
        raise StateError(f"cannot read {path} ({error}){_fix(path, environment)}") from None
    try:
        return parse_state(text, str(path))
    except StateError as error:
        raise StateError(f"{error}{_fix(path, environment)}") from None


def _fix(path: Path, environment: str) -> str:
    # The fix LocalEndpoints gives too (serving does not import the backends).
    return (f": move it aside with `mv {path} {path}.bad`; the next `mlops-bot deploy "
            f"{environment}` writes it again")


def parse_state(text: str, source: str) -> EndpointState:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise StateError(f"{source} is not valid JSON: {error}") from None
    if not isinstance(document, dict):
        raise StateError(f"{source} must hold a JSON object with environment, revision and "
                         "deployed")
    revision = document.get("revision")
    if type(revision) is not int or revision < 0:
        raise StateError(f"{source}: revision must be a whole number >= 0, not {revision!r}")
    entries = document.get("deployed", [])
    if not isinstance(entries, list):
        raise StateError(f"{source}: deployed must be a list, not {type(entries).__name__}")
    deployed = tuple(_deployed(entry, f"{source}: deployed[{i}]") for i, entry in
                     enumerate(entries))
    _check_deployment(deployed, source)
    return EndpointState(environment=str(document.get("environment", "")), revision=revision,
                         deployed=deployed, endpoint=str(document.get("endpoint", "")))


def _deployed(entry: Any, where: str) -> DeployedModel:
    if not isinstance(entry, dict):
        raise StateError(f"{where} must be an object")
    for key in ("deployed_model_id", "artifact_uri"):
        if not isinstance(entry.get(key), str) or not entry[key]:
            raise StateError(f"{where}.{key} must be a non-empty string")
    traffic = entry.get("traffic")
    if type(traffic) is not int or not 0 <= traffic <= 100:
        raise StateError(f"{where}.traffic must be a whole number from 0 to 100, "
                         f"not {traffic!r}")
    names = entry.get("feature_names") or []
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise StateError(f"{where}.feature_names must be a list of strings")
    classes = entry.get("classes") or []
    lineage = entry.get("lineage") or {}
    if not isinstance(classes, list) or not isinstance(lineage, dict):
        raise StateError(f"{where}: classes must be a list and lineage an object")
    return DeployedModel(
        deployed_model_id=entry["deployed_model_id"], artifact_uri=entry["artifact_uri"],
        traffic=traffic, model=str(entry.get("model", "")),
        model_version=entry.get("model_version"), framework=str(entry.get("framework", "")),
        feature_names=tuple(names), classes=tuple(classes), lineage=lineage,
    )


def _check_deployment(deployed: tuple[DeployedModel, ...], source: str) -> None:
    ids = [d.deployed_model_id for d in deployed]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise StateError(f"{source}: deployed_model_id {', '.join(duplicates)} appears twice")
    total = sum(d.traffic for d in deployed)
    if deployed and total != 100:
        split = ", ".join(f"{d.deployed_model_id} {d.traffic}%" for d in deployed)
        raise StateError(f"{source}: the traffic of deployed models must sum to 100, "
                         f"not {total} ({split})")


class StateWatcher:
    """Reads the state file again only when it changed on disk.

    The signature includes the inode: the writer replaces the file with `os.replace`, so every
    write is a new inode even when two writes land within the file system's mtime granularity.
    """

    def __init__(self, path: Path, environment: str) -> None:
        self.path = path
        self.environment = environment
        self._polled = False
        self._seen: tuple[int, int, int] | None = None

    def poll(self) -> EndpointState | None:
        """The state if the file changed since the last poll (the first poll always reads it),
        else None. A file that vanished after being read raises: keep serving, say why."""
        signature = self._signature()
        if self._polled and signature == self._seen:
            return None
        had_file = self._seen is not None
        self._polled, self._seen = True, signature
        if signature is None and had_file:
            raise StateError(f"{self.path} was removed; still serving the last revision read")
        return read_state(self.path, self.environment)

    def _signature(self) -> tuple[int, int, int] | None:
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            return None
        return (stat.st_mtime_ns, stat.st_size, stat.st_ino)


class FixedState:
    """A state that never changes (the serving container's one model): read once."""

    def __init__(self, state: EndpointState) -> None:
        self.environment = state.environment
        self._state: EndpointState | None = state

    def poll(self) -> EndpointState | None:
        state, self._state = self._state, None
        return state


def single_model_state(storage_uri: str, deployed_model_id: str) -> EndpointState:
    """One model at 100% traffic, from a model file or folder (Vertex's AIP_STORAGE_URI).

    Metadata (feature_names, classes, framework, model, model_version, lineage) comes from a
    `model_metadata.json` beside the model file, when there is one.
    """
    if storage_uri.startswith("gs://"):
        # The serving entry point downloads gs:// URIs first (serving/download.py).
        raise StateError(f"AIP_STORAGE_URI={storage_uri}: copy the model to a local path first "
                         "(mlops_bot.serving.download.download_model)")
    model_file = model_file_at(Path(storage_uri.removeprefix("file://")))
    metadata = _read_metadata(model_file.parent / _METADATA_FILE)
    entry = {**metadata, "deployed_model_id": deployed_model_id,
             "artifact_uri": str(model_file), "traffic": 100}
    deployed = _deployed(entry, str(model_file.parent / _METADATA_FILE))
    return EndpointState(environment=str(metadata.get("environment", "")), revision=1,
                         deployed=(deployed,))


def model_file_at(path: Path) -> Path:
    """The model file `path` names, in any form serving/model_forms.py knows."""
    from mlops_bot.serving.model_forms import ModelFormError, model_file

    try:
        return model_file(path)
    except ModelFormError as error:
        raise StateError(str(error)) from None


def _read_metadata(path: Path) -> dict[str, Any]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise StateError(f"cannot read {path}: {error}") from None
    if not isinstance(document, dict):
        raise StateError(f"{path} must hold a JSON object (feature_names, classes, ...)")
    return document
