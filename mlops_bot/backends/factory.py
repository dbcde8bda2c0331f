"""Builds the backends `mlops.yaml` selects; flows receive them and never build their own."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mlops_bot.backends.model_types import EndpointService, ModelRegistry
from mlops_bot.backends.types import ImageBuilder, LockStore, PipelineRegistry, PipelineRunner
from mlops_bot.errors import UserError

if TYPE_CHECKING:
    from mlops_bot.config import Config

__all__ = ["Backends", "backends_for", "state_dir"]


@dataclass(frozen=True)
class Backends:
    builder: ImageBuilder
    registry: PipelineRegistry
    runner: PipelineRunner
    locks: LockStore
    models: ModelRegistry
    endpoints: EndpointService


def state_dir(config: Config, repo_root: Path) -> Path:
    """The local state folder: $MLOPS_BOT_STATE_DIR, else `state_dir` of mlops.yaml."""
    override = os.environ.get("MLOPS_BOT_STATE_DIR")
    return Path(override) if override else repo_root / config.state_dir


def backends_for(config: Config, repo_root: Path) -> Backends:
    if config.backend == "local":
        from mlops_bot.backends.local.builder import VenvBuilder
        from mlops_bot.backends.local.endpoints import LocalEndpoints
        from mlops_bot.backends.local.locks import FileLockStore
        from mlops_bot.backends.local.models import LocalModelRegistry
        from mlops_bot.backends.local.registry import DirectoryRegistry
        from mlops_bot.backends.local.runner import LocalRunner

        state = state_dir(config, repo_root)
        return Backends(
            builder=VenvBuilder(state / "envs"),
            registry=DirectoryRegistry(state / "registry"),
            runner=LocalRunner(state / "runs", state / "envs"),
            locks=FileLockStore(state / "locks"),
            models=LocalModelRegistry(state / "models"),
            endpoints=LocalEndpoints(state),
        )
    from mlops_bot.backends.gcp.factory import gcp_backends

    if config.gcp is None:
        raise UserError("mlops.yaml: backend: gcp needs a gcp: section (project, region, "
                        "artifact_repository, registry_bucket); see `mlops-bot config schema`")
    return gcp_backends(config.gcp)
