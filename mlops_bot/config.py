"""`mlops.yaml`: the schema, loading, and errors that name the file, the key and the fix.

The file is optional: without it the local backend runs with the defaults below.
"""

from __future__ import annotations

import difflib
import json
import re
from pathlib import Path, PurePosixPath
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from mlops_bot.cron import CronError, parse_cron
from mlops_bot.errors import ConfigError

__all__ = [
    "CONFIG_FILE",
    "Config",
    "Environment",
    "GcpConfig",
    "PipelineSettings",
    "Schedule",
    "config_path",
    "load_config",
    "parse_config",
    "schema_json",
]

CONFIG_FILE = "mlops.yaml"
_NAME = r"^[a-z][a-z0-9-]{0,62}$"
ParameterValue = str | int | float | bool | list[Any] | dict[str, Any] | None


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _relative_path(value: str) -> str:
    path = PurePosixPath(value)
    if path.is_absolute() or ".." in path.parts or not value.strip():
        raise ValueError("must be a relative path inside the repository, without '..'")
    return str(path)


class PipelineSettings(_Model):
    parameters: dict[str, ParameterValue] = Field(
        default_factory=dict, description="Run parameters; override the defaults in run.py.")
    enable_caching: bool = Field(True, description="Let the runner reuse cached task results.")
    run: bool = Field(True, description="Run after publishing on push (false: publish only).")


class ApiEndpoints(_Model):
    aiplatform: str | None = Field(None, description="Vertex AI endpoint override.")
    cloudbuild: str | None = Field(None, description="Cloud Build endpoint override.")
    artifactregistry: str | None = Field(None, description="Artifact Registry endpoint override.")
    storage: str | None = Field(None, description="Cloud Storage endpoint override.")


class GcpConfig(_Model):
    project: str = Field(pattern=r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$", description="GCP project id.")
    region: str = Field(pattern=r"^[a-z]+-[a-z]+[0-9]+$", description="Region, e.g. europe-west4.")
    artifact_repository: str = Field(
        pattern=r"^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$",
        description="Artifact Registry Docker repository for pipeline images.")
    registry_bucket: str = Field(
        pattern=r"^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$",
        description="Bucket (no gs://) holding the pipeline registry.")
    staging_bucket: str | None = Field(
        None, pattern=r"^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$",
        description="Bucket for Cloud Build sources (default: registry_bucket).")
    pipeline_root: str | None = Field(
        None, pattern=r"^gs://.+", description="Vertex pipeline root (default: gs://<registry_bucket>/runs).")
    service_account: str | None = Field(
        None, pattern=r"^[^@\s]+@[^@\s]+\.[a-z]+$", description="Service account runs use.")
    network: str | None = Field(
        None, pattern=r"^projects/[0-9]+/global/networks/[^/]+$", description="VPC for runs.")
    encryption_key: str | None = Field(
        None, pattern=r"^projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/]+$",
        description="CMEK key for runs and models.")
    kfp_repository: str | None = Field(
        None, description="Artifact Registry KFP repository to also upload versions to.")
    build_timeout_seconds: int = Field(1800, ge=60, le=86400, description="Image build deadline.")
    run_timeout_seconds: int = Field(7200, ge=60, le=604800, description="Pipeline run deadline.")
    api_endpoints: ApiEndpoints = Field(
        default_factory=ApiEndpoints, description="Per-service endpoint overrides (emulators).")


class Threshold(_Model):
    min: float | None = Field(None, description="Lowest acceptable value.")
    max: float | None = Field(None, description="Highest acceptable value.")

    @model_validator(mode="after")
    def _bounded(self) -> Threshold:
        if self.min is None and self.max is None:
            raise ValueError("set min, max or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) is greater than max ({self.max})")
        return self


class Deployers(_Model):
    permission: Literal["write", "maintain", "admin"] = Field(
        "write", description="Least repository permission a commenter needs to deploy.")
    users: list[str] = Field(
        default_factory=list, description="Allow-list of GitHub logins (empty: anyone allowed).")


class Environment(_Model):
    endpoint: str = Field(pattern=_NAME, description="Endpoint display name.")
    canary_percent: int = Field(10, ge=1, le=100, description="Traffic the candidate gets first.")
    thresholds: dict[str, Threshold] = Field(
        default_factory=dict, description="Metric bounds a candidate must meet.")
    tolerance: float = Field(
        0.0, ge=0, description="How much worse than the serving model a candidate may be.")
    primary_metric: str = Field("accuracy", description="Metric compared with the champion.")
    deployers: Deployers = Field(default_factory=Deployers, description="Who may deploy.")
    allow_forks: bool = Field(False, description="Allow deploying pull requests from forks.")
    smoke_instances: str | None = Field(
        None, description="JSON file of sample instances for the smoke test.")


class Schedule(_Model):
    name: str = Field(pattern=_NAME, description="Unique schedule name.")
    pipeline: str = Field(description="Pipeline folder name.")
    cron: str = Field(description="Five-field cron expression.")
    timezone: str = Field("UTC", description="IANA time zone the cron is read in.")
    tag: str = Field("main", description="Registry tag or version to run.")
    parameters: dict[str, ParameterValue] = Field(default_factory=dict)
    environment: str | None = Field(None, description="Environment whose champion is compared.")
    auto_promote: bool = Field(False, description="Offer a better model for deployment.")
    margin: float = Field(0.0, ge=0, description="How much better the challenger must be.")
    paused: bool = Field(False, description="Declared but not firing.")

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        try:
            parse_cron(value)
        except CronError as error:
            raise ValueError(str(error)) from None
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}: use an IANA name such as UTC or "
                             "Europe/Amsterdam") from None
        return value


class Config(_Model):
    """mlops.yaml: the mlops-bot configuration of a repository."""

    backend: Literal["local", "gcp"] = Field("local", description="Where to build, store and run.")
    pipelines_dir: str = Field("pipelines", description="Folder holding one folder per pipeline.")
    shared: list[str] = Field(
        default_factory=lambda: ["components"], description="Shared component library paths.")
    state_dir: str = Field(".mlops", description="Local backend state (environments, registry).")
    default_branch: str = Field("main", description="Branch new branches are compared with.")
    run_branches: list[str] = Field(
        default_factory=lambda: ["*"], description="Branches (fnmatch) whose pushes run pipelines.")
    pipelines: dict[str, PipelineSettings] = Field(
        default_factory=dict, description="Per-pipeline settings, by pipeline folder name.")
    gcp: GcpConfig | None = Field(None, description="Google Cloud settings (backend: gcp).")
    environments: dict[str, Environment] = Field(
        default_factory=dict, description="Deployment environments, by name.")
    schedules: list[Schedule] = Field(default_factory=list, description="Retraining schedules.")

    @field_validator("pipelines_dir")
    @classmethod
    def _pipelines_dir(cls, value: str) -> str:
        return _relative_path(value)

    @field_validator("shared")
    @classmethod
    def _shared(cls, value: list[str]) -> list[str]:
        return [_relative_path(v).rstrip("/") for v in value]

    @field_validator("environments")
    @classmethod
    def _environment_names(cls, value: dict[str, Environment]) -> dict[str, Environment]:
        for name in value:
            if not re.match(r"^[a-z][a-z0-9_-]{0,30}$", name):
                raise ValueError(f"environment name {name!r} must match ^[a-z][a-z0-9_-]{{0,30}}$")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Config:
        if self.backend == "gcp" and self.gcp is None:
            raise ValueError("backend is gcp but there is no gcp: section (project, region, "
                             "artifact_repository, registry_bucket)")
        seen: set[str] = set()
        for index, schedule in enumerate(self.schedules):
            where = f"schedules[{index}]"
            if schedule.name in seen:
                raise ValueError(f"{where}.name: {schedule.name!r} is used twice")
            seen.add(schedule.name)
            if schedule.environment and schedule.environment not in self.environments:
                raise ValueError(f"{where}.environment: {schedule.environment!r} is not in "
                                 f"environments ({', '.join(self.environments) or 'none defined'})")
            if schedule.auto_promote and not schedule.environment:
                raise ValueError(f"{where}.auto_promote needs environment: set the environment "
                                 "to offer the new model to")
        return self


def config_path(repo: Path) -> Path:
    return repo / CONFIG_FILE


def load_config(repo: Path) -> Config:
    """The configuration of the repository at `repo` (defaults when it has no mlops.yaml)."""
    path = config_path(repo)
    if not path.is_file():
        return Config()
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"cannot read {path}: {error}") from None
    return parse_config(text, str(path))


def parse_config(text: str, source: str) -> Config:
    """Validate YAML `text`; `source` names it in errors (a path, or `mlops.yaml at <sha>`)."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or str(error)
        raise ConfigError(f"{source} is not valid YAML{where}: {problem}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source} must be a mapping of settings (backend:, environments: ...), "
                          f"not a {type(data).__name__}")
    try:
        return Config.model_validate(data)
    except ValidationError as error:
        problems = [_describe(e) for e in error.errors()]
        noun = "problem" if len(problems) == 1 else "problems"
        raise ConfigError(f"{source} is invalid ({len(problems)} {noun}):\n"
                          + "\n".join(f"  - {p}" for p in problems)) from None


def schema_json() -> str:
    schema = Config.model_json_schema()
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema",
              "title": "mlops-bot configuration (mlops.yaml)", **schema}
    return json.dumps(schema, indent=2)


def _key_path(location: tuple[int | str, ...]) -> str:
    out = ""
    for part in location:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _describe(error: Any) -> str:
    location = tuple(error["loc"])
    kind, context = error["type"], error.get("ctx") or {}
    if kind == "extra_forbidden":
        parent, key = location[:-1], str(location[-1])
        allowed = _fields_at(parent)
        close = difflib.get_close_matches(key, allowed, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return (f"{_key_path(location)}: unknown key{hint}; allowed here: "
                f"{', '.join(sorted(allowed))}")
    where = _key_path(location)
    value = error.get("input")
    messages = {
        "missing": "is required",
        "literal_error": f"must be one of {context.get('expected')}, got {error.get('input')!r}",
        "string_pattern_mismatch": f"{value!r} does not match {context.get('pattern')}",
        "greater_than_equal": f"must be at least {context.get('ge')}, got {error.get('input')!r}",
        "less_than_equal": f"must be at most {context.get('le')}, got {error.get('input')!r}",
        "int_parsing": f"must be a whole number, got {error.get('input')!r}",
        "int_type": f"must be a whole number, got {error.get('input')!r}",
        "float_parsing": f"must be a number, got {error.get('input')!r}",
        "bool_parsing": f"must be true or false, got {error.get('input')!r}",
        "dict_type": "must be a mapping (key: value)",
        "list_type": "must be a list",
        "string_type": f"must be text, got {error.get('input')!r}",
    }
    if kind == "value_error":
        message = str(context.get("error", error["msg"]))
        return f"{where}: {message}" if location else message
    return f"{where}: {messages.get(kind, error['msg'])}"


def _fields_at(location: tuple[int | str, ...]) -> list[str]:
    """The valid keys of the model found at `location` in the schema."""
    model: Any = Config
    for part in location:
        if isinstance(part, int) or model is None:
            continue
        field = model.model_fields.get(part)
        if field is None:  # a dict key such as an environment name
            continue
        model = _model_in(field.annotation)
    return list(model.model_fields) if model else []


def _model_in(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for argument in getattr(annotation, "__args__", ()):
        found = _model_in(argument)
        if found is not None:
            return found
    return None
