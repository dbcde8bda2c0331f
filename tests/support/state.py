"""A local state folder for one test on top of runs made once per module."""

from __future__ import annotations

from pathlib import Path

import pytest


def fresh_state(pushed_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A state folder (MLOPS_BOT_STATE_DIR) sharing `pushed_repo`'s runs, registry and
    environments, with its own empty model registry, endpoints and locks."""
    folder = tmp_path / "state"
    folder.mkdir()
    for shared in ("runs", "registry", "envs"):
        (folder / shared).symlink_to(pushed_repo / ".mlops" / shared)
    monkeypatch.setenv("MLOPS_BOT_STATE_DIR", str(folder))
    return folder
