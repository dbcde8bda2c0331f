"""Where the configuration file is: `mlops.yaml` at the repository root unless
`MLOPS_BOT_CONFIG` names another path (the action's `config` input sets it). Kept apart from
`mlops_bot.config` so that finding the file never imports pydantic."""

from __future__ import annotations

import os
from pathlib import PurePosixPath

from mlops_bot.errors import UserError

__all__ = ["CONFIG_FILE", "config_file"]

CONFIG_FILE = "mlops.yaml"


def config_file() -> str:
    """The configuration's path relative to the repository root."""
    value = os.environ.get("MLOPS_BOT_CONFIG", "").strip() or CONFIG_FILE
    path = PurePosixPath(value)
    if path.is_absolute() or ".." in path.parts:
        raise UserError(f"the configuration path {value!r} (MLOPS_BOT_CONFIG or the action's "
                        "config input) must be relative to the repository root, without '..'")
    return str(path)
