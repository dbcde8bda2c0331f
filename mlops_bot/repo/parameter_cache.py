"""The parameter check's cache (`<state_dir>/cache/parameters.json`), by blob id: what each
planned definition.py declares and which values each run.py gives, so a plan parses only the
files changed since the plans before it. A blob's content never changes, so an entry is never
stale; entries no plan used are dropped once the file grows past `_MAX_ENTRIES`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from mlops_bot.repo.cache_files import read_cache, warn_ignored, write_cache

__all__ = ["ParameterCache", "parameter_cache_file"]

FORMAT = 2  # 2: a `function` may name a component (its parameters are kept)
_MAX_ENTRIES = 50_000


def parameter_cache_file(state_dir: Path) -> Path:
    return state_dir / "cache" / "parameters.json"


class ParameterCache:
    """Entries `def:<sha>:<function>` -> [[name, IR type, has default], ...] and `run:<sha>` ->
    the PARAMETERS names run.py gives a value other than None; kept in memory only when `file`
    is None."""

    def __init__(self, file: Path | None) -> None:
        self.file = file
        self._entries: dict[str, list[Any]] = {}
        self._used: set[str] = set()
        self._dirty = False
        if file is not None:
            reason = read_cache(file, self._read)
            if reason is not None:
                self._entries = {}
                self._dirty = True
                warn_ignored(file, reason)

    def has(self, key: str) -> bool:
        return key in self._entries

    def get(self, key: str, compute: Callable[[], list[Any]]) -> list[Any]:
        """The entry `key`, computed (and kept) when missing; `compute`'s errors are not kept."""
        self._used.add(key)
        if key not in self._entries:
            self._entries[key] = compute()
            self._dirty = True
        return self._entries[key]

    def save(self) -> None:
        if self.file is None or not self._dirty:
            return
        if len(self._entries) > _MAX_ENTRIES:
            self._entries = {k: v for k, v in self._entries.items() if k in self._used}
        write_cache(self.file, {"format": FORMAT, "entries": self._entries},
                    "parses the planned definition.py and run.py files again")
        self._dirty = False

    def _read(self, data: dict[str, Any]) -> None:
        if data["format"] != FORMAT:
            raise ValueError("written for another format")
        entries = data["entries"]
        for key, value in entries.items():
            if not (isinstance(value, list) and _valid(key, value)):
                raise ValueError(f"bad entry {key!r}")
        self._entries = entries


def _valid(key: str, value: list[Any]) -> bool:
    if key.startswith("run:"):
        return all(isinstance(name, str) for name in value)
    return key.startswith("def:") and all(
        isinstance(d, list) and len(d) == 3 and isinstance(d[0], str) and isinstance(d[1], str)
        and type(d[2]) is bool for d in value)
