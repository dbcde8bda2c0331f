"""Builds the backends `mlops.yaml` selects; flows receive them and never build their own."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from mlops_bot.backends.bundle import Backends
from mlops_bot.backends.types import BuildRequest, BuildResult, ImageBuilder
from mlops_bot.config_location import state_folder
from mlops_bot.errors import UserError

if TYPE_CHECKING:
    from mlops_bot.backends.schedule_types import ScheduleService
    from mlops_bot.config import Config

# Backends is defined in mlops_bot.backends.bundle and named here too, where flows look for it.
__all__ = ["Backends", "backends_for", "schedule_service_for", "state_dir"]


def state_dir(config: Config, repo_root: Path) -> Path:
    """The local state folder: $MLOPS_BOT_STATE_DIR, else `state_dir` of mlops.yaml."""
    return state_folder(repo_root, config.state_dir)


def backends_for(config: Config, repo_root: Path) -> Backends:
    if config.backend == "local":
        from mlops_bot.backends.local.endpoints import LocalEndpoints
        from mlops_bot.backends.local.locks import FileLockStore
        from mlops_bot.backends.local.models import LocalModelRegistry
        from mlops_bot.backends.local.monitoring import LocalMonitoring
        from mlops_bot.backends.local.registry import DirectoryRegistry
        from mlops_bot.backends.local.runner import LocalRunner

        state = state_dir(config, repo_root)
        builder, docker, note = _local_builder(config, state)
        return Backends(
            builder=builder,
            registry=DirectoryRegistry(state / "registry"),
            runner=LocalRunner(state / "runs", state / "envs", docker=docker),
            locks=FileLockStore(state / "locks"),
            models=LocalModelRegistry(state / "models"),
            endpoints=LocalEndpoints(state),
            builder_note=note,
            artifact_root=str(state / "runs"),
            monitoring=LocalMonitoring(state),
        )
    from mlops_bot.backends.gcp.factory import gcp_backends

    if config.gcp is None:
        raise UserError("mlops.yaml: backend: gcp needs a gcp: section (project, region, "
                        "artifact_repository, registry_bucket); see `mlops-bot config schema`")
    return gcp_backends(config.gcp)


def schedule_service_for(config: Config) -> ScheduleService | None:
    """The schedule service of the configured backend; None on the local backend."""
    if config.backend != "gcp" or config.gcp is None:
        return None
    from mlops_bot.backends.gcp.clients import GcpClients
    from mlops_bot.backends.gcp.schedules import VertexSchedules

    return VertexSchedules(GcpClients(config.gcp))


def _local_builder(config: Config, state: Path) -> tuple[ImageBuilder, bool, str]:
    """The builder `local.builder` selects, whether runs use Docker, and why it was chosen."""
    from mlops_bot.backends.local.builder import VenvBuilder
    from mlops_bot.backends.local.docker_builder import DockerBuilder, engine_version

    choice: str = config.local.builder
    source = "local.builder in mlops.yaml"
    override = os.environ.get("MLOPS_BOT_LOCAL_BUILDER")
    if override:
        if override not in ("auto", "docker", "venv"):
            raise UserError(f"MLOPS_BOT_LOCAL_BUILDER={override!r} is not allowed: use auto, "
                            "docker or venv (or unset it to use local.builder of mlops.yaml)")
        choice, source = override, "MLOPS_BOT_LOCAL_BUILDER"
    if choice == "venv":
        return VenvBuilder(state / "envs"), False, f"builder: venv ({source})"
    version, why = engine_version()
    if version is not None:
        builder = DockerBuilder(state / "builds", config.local.build_args)
        return builder, True, f"builder: docker (engine {version} answered)"
    if choice == "docker":
        return (_NoEngine(why, source), True,
                f"builder: docker (but no Docker engine answered: {why})")
    return VenvBuilder(state / "envs"), False, f"builder: venv (no Docker engine answered: {why})"


class _NoEngine:
    """local.builder: docker without an engine: commands that build say so; the others work."""

    def __init__(self, why: str, source: str) -> None:
        self._why = why
        self._source = source

    def build(self, requests: Sequence[BuildRequest]) -> list[BuildResult]:
        where = ("mlops.yaml local.builder" if self._source.startswith("local.")
                 else self._source)
        raise UserError(f"{where} is docker, but no Docker engine answered "
                        f"({self._why}): start one (Docker Desktop, `sudo systemctl start docker`,"
                        f" or `bash scripts/docker.sh` in mlops-bot's repository), or set "
                        f"local.builder: venv (or auto) to build virtualenvs instead")
