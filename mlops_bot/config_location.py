"""Where the configuration file is: `mlops.yaml` at the repository root unless
`MLOPS_BOT_CONFIG` names another path (the action's `config` input sets it). Kept apart from
`mlops_bot.config` so that finding the file never imports pydantic."""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

from mlops_bot.errors import UserError

__all__ = ["CONFIG_FILE", "config_file", "state_folder"]

CONFIG_FILE = "mlops.yaml"


def config_file() -> str:
    """The configuration's path relative to the repository root."""
    value = os.environ.get("MLOPS_BOT_CONFIG", "").strip() or CONFIG_FILE
    path = PurePosixPath(value)
    if path.is_absolute() or ".." in path.parts:
        raise UserError(f"the configuration path {value!r} (MLOPS_BOT_CONFIG or the action's "
                        "config input) must be relative to the repository root, without '..'")
    return str(path)


def state_folder(repo_root: Path, configured: str) -> Path:
    """The local state folder: $MLOPS_BOT_STATE_DIR, else `state_dir` of mlops.yaml."""
    override = os.environ.get("MLOPS_BOT_STATE_DIR")
    return Path(override) if override else repo_root / configured
