"""The local model registry: versions as JSON files, aliases beside them, in Vertex's shape.

```
<root>/<model>/<n>.json        # version n (1, 2, ...): created exclusively, never rewritten
<root>/<model>/aliases.json    # {"aliases": {alias: version}, "history": [every move]}
<root>/<model>/.lock           # serialises register and set_aliases of one model
```
A version number is taken by linking a fully written file into place, so two registrations can
never get the same number and a reader never sees half a version. The alias history is what
`endpoints show` and a rollback read to tell which version an environment had before.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from mlops_bot.backends.local.files import (
    StateFileError,
    create_json,
    locked,
    move_aside,
    read_state,
    replace_json,
)
from mlops_bot.backends.model_types import ModelCandidate, ModelVersion
from mlops_bot.console import progress
from mlops_bot.errors import UserError

__all__ = ["LocalModelRegistry"]

_SAFE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_VERSION_FILE = re.compile(r"^([1-9][0-9]*)\.json$")
_ALIASES = "aliases.json"


class _AliasMove(BaseModel):
    alias: str
    version: str
    previous: str | None = None
    at: str = ""


class _AliasesFile(BaseModel):
    """aliases.json: where each alias points, and every move (what rollback reads)."""

    aliases: dict[str, str] = {}
    history: list[_AliasMove] = []


class LocalModelRegistry:
    def __init__(self, root: Path) -> None:
        self.root = root

    def register(self, candidate: ModelCandidate) -> ModelVersion:
        folder = self._folder(candidate.model)
        with locked(folder / ".lock"):
            for existing in self._read_versions(candidate.model):
                if existing.run_id == candidate.run_id:
                    return existing
            number = max((int(v.version) for v in self._read_versions(candidate.model)),
                         default=0) + 1
            fields = {f.name: getattr(candidate, f.name) for f in dataclasses.fields(candidate)}
            while True:
                path = folder / f"{number}.json"
                version = ModelVersion(**fields, version=str(number), created_at=_now(),
                                       resource_name=str(path))
                if create_json(path, _to_json(version)):
                    return version
                number += 1  # taken by a writer that did not hold the lock (a copy of the tree)

    def set_aliases(self, model: str, version: str, aliases: Sequence[str]) -> ModelVersion:
        folder = self._folder(model)
        with locked(folder / ".lock"):
            if self._read(folder / f"{version}.json") is None:
                raise UserError(f"model {model} has no version {version}: "
                                f"`mlops-bot endpoints list` shows the registered versions")
            document = self._aliases_document(model)
            for alias in aliases:
                previous = document["aliases"].get(alias)
                if previous == version:
                    continue
                document["aliases"][alias] = version
                document["history"].append({"alias": alias, "version": version,
                                            "previous": previous, "at": _now()})
            replace_json(folder / _ALIASES, document)
        found = self.get(model, version)
        assert found is not None
        return found

    def get(self, model: str, version: str) -> ModelVersion | None:
        if not _VERSION_FILE.match(f"{version}.json"):
            return None
        found = self._read(self._folder(model) / f"{version}.json")
        return None if found is None else self._with_aliases(found, self._aliases_of(model))

    def versions(self, model: str | None = None) -> list[ModelVersion]:
        models = [model] if model is not None else sorted(
            p.name for p in self.root.glob("*") if p.is_dir() and _SAFE.match(p.name))
        found: list[ModelVersion] = []
        for name in models:
            try:  # one model's bad file never hides the other models
                aliases = self._aliases_of(name)
                versions = self._read_versions(name, skip_bad=True)
            except StateFileError as error:
                progress(f"mlops-bot: warning: skipped model {name}: {error}")
                continue
            found.extend(self._with_aliases(v, aliases) for v in versions)
        return sorted(found, key=lambda v: (v.created_at, v.model, int(v.version)), reverse=True)

    def alias_history(self, model: str, alias: str | None = None) -> list[dict[str, Any]]:
        """Every move of an alias (or of all), oldest first: alias, version, previous, at."""
        history = self._aliases_document(model)["history"]
        return [dict(entry) for entry in history if alias is None or entry["alias"] == alias]

    def _folder(self, model: str) -> Path:
        if not _SAFE.match(model):
            raise UserError(f"{model!r} cannot name a model: use letters, digits, '_', '.' and "
                            "'-' (the pipeline's folder name)")
        return self.root / model

    def _read_versions(self, model: str, skip_bad: bool = False) -> list[ModelVersion]:
        folder = self._folder(model)
        found = []
        for path in folder.glob("*.json"):
            if not _VERSION_FILE.match(path.name):
                continue
            try:
                version = self._read(path)
            except StateFileError as error:
                if not skip_bad:
                    raise
                progress(f"mlops-bot: warning: skipped a model version: {error}")
                continue
            if version is not None:
                found.append(version)
        return found

    @staticmethod
    def _read(path: Path) -> ModelVersion | None:
        fix = (f"{move_aside(path)}; deploying its run again registers it again as a new "
               "version")
        version = read_state(path, ModelVersion, fix)  # unknown keys (a newer writer's): ignored
        return None if version is None else dataclasses.replace(version, aliases=())

    def _aliases_document(self, model: str) -> dict[str, Any]:
        path = self._folder(model) / _ALIASES
        fix = (f"{move_aside(path)}; the next deploy writes it again (a rollback then knows "
               "only the versions deployed after that)")
        document = read_state(path, _AliasesFile, fix) or _AliasesFile()
        return document.model_dump()

    def _aliases_of(self, model: str) -> dict[str, str]:
        aliases: dict[str, str] = self._aliases_document(model)["aliases"]
        return aliases

    @staticmethod
    def _with_aliases(version: ModelVersion, aliases: dict[str, str]) -> ModelVersion:
        mine = tuple(sorted(a for a, v in aliases.items() if v == version.version))
        return dataclasses.replace(version, aliases=mine)


def _to_json(version: ModelVersion) -> dict[str, Any]:
    document = dataclasses.asdict(version)
    document.pop("aliases")  # they live in aliases.json: a version file is never rewritten
    return document


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")
