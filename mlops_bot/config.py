"""`mlops.yaml`: the schema, loading, and errors that name the file, the key and the fix.

The file is optional: without it the local backend runs with the defaults below. Problems are
reported together, each with its key path, what is wrong and what is allowed.
"""

from __future__ import annotations

import json
import re
from pathlib import Path, PurePosixPath
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ByteSize, ConfigDict, Field, JsonValue, ValidationError
from pydantic.functional_validators import AfterValidator, field_validator, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from mlops_bot.config_errors import ALLOWED, choices, describe, kind_of, rule
from mlops_bot.config_location import CONFIG_FILE, config_file
from mlops_bot.cron import CronError, check_fires, parse_cron
from mlops_bot.errors import ConfigError
from mlops_bot.layout_config import LayoutFields
from mlops_bot.monitoring_config import Monitoring, monitoring_problems

__all__ = ["CONFIG_FILE", "ApiEndpoints", "Config", "Deployers", "Environment", "GcpConfig",
           "LocalConfig", "PipelineSettings", "RunSettings", "Schedule", "Threshold", "config_path",
           "load_config", "parse_config", "schema_json"]

_NAME = rule(r"^[a-z][a-z0-9-]{0,62}$", "a-z first, then a-z, 0-9 or '-'; at most 63")
_ENV_NAME = rule(r"^[a-z][a-z0-9_-]{0,30}$", "a-z first, then a-z, 0-9, '-' or '_'; at most 31")
_PROJECT = rule(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$", "a project id: 6-30 of a-z, 0-9, '-'")
_MACHINE = rule(r"^[a-z][a-z0-9]*(-[a-z0-9]+)+$", "a machine type such as n1-standard-2")
_REGION = rule(r"^[a-z]+-[a-z]+[0-9]+$", "a region such as europe-west4 or us-central1")
_REPO_ID = rule(r"^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$", "a repository id: a-z, 0-9 and '-'")
_BUCKET = rule(r"^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$",
                "a bucket name, no gs://: 3-63 of a-z, 0-9, '-', '_' and '.'")
_GS_URI = rule(r"^gs://[a-z0-9][a-z0-9._-]{1,61}[a-z0-9](/.*)?$", "gs://<bucket>[/<path>]")
_EMAIL = rule(r"^[^@\s]+@[^@\s]+\.[a-z]+$", "an email, e.g. ci@p.iam.gserviceaccount.com")
_NETWORK = rule(r"^projects/[0-9]+/global/networks/[^/]+$", "projects/<n>/global/networks/<name>")
_KEY = rule(r"^projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/]+$",
             "projects/<project>/locations/<location>/keyRings/<ring>/cryptoKeys/<key>")
_ARG_NAME = rule(r"^[A-Za-z_][A-Za-z0-9_]*$", "a build argument name: letters, digits, '_'")
_URL = rule(r"^([a-z]+://)?[A-Za-z0-9.-]+(:[0-9]{1,5})?(/\S*)?$", "a URL or host[:port]")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _relative(value: str) -> str:
    path = PurePosixPath(value)
    if not value.strip() or path.is_absolute() or ".." in path.parts:
        raise ValueError(f"{value!r} is not allowed: use a path relative to the repository root, "
                         "without '..'")
    return str(path)


RelativePath = Annotated[str, AfterValidator(_relative)]
Parameters = dict[str, JsonValue]  # text, numbers, booleans, null, lists and mappings


def _problems(found: list[tuple[tuple[str | int, ...], str]]) -> None:
    """Raise every problem found at once, each at its own key path."""
    if found:
        raise ValidationError.from_exception_data("Config", [InitErrorDetails(
            type=PydanticCustomError("config", "{message}", {"message": message}),
            loc=loc, input=None) for loc, message in found])


class PipelineSettings(_Model):
    parameters: Parameters = Field(default_factory=dict, description="Overrides run.py defaults.")
    enable_caching: bool = Field(True, description="Let the runner reuse cached task results.")
    run: bool = Field(True, description="Run after publishing on push (false: publish only).")
    function: str | None = Field(None, pattern=rule(r"^[A-Za-z_]\w*$", "a function name"),
                                 description="The @dsl.pipeline function definition.py "
                                 "compiles, or a component to compile as a pipeline of one task.")


class ApiEndpoints(_Model):
    aiplatform: str | None = Field(None, pattern=_URL, description="Vertex AI endpoint.")
    cloudbuild: str | None = Field(None, pattern=_URL, description="Cloud Build endpoint.")
    artifactregistry: str | None = Field(None, pattern=_URL, description="Artifact Registry.")
    storage: str | None = Field(None, pattern=_URL, description="Cloud Storage endpoint.")


class ServingResources(_Model):
    machine_type: str = Field("n1-standard-2", pattern=_MACHINE,
                              description="Machine type of each serving replica.")
    min_replicas: int = Field(1, ge=1, le=1000, description="Replicas always running.")
    max_replicas: int | None = Field(None, ge=1, le=1000,
                                     description="Autoscaling ceiling (default: min_replicas).")
    deploy_timeout_seconds: int = Field(1800, ge=60, le=86400,
                                        description="Deadline of one model deployment.")

    @model_validator(mode="after")
    def _ordered(self) -> ServingResources:
        if self.max_replicas is not None and self.max_replicas < self.min_replicas:
            raise ValueError(f"max_replicas ({self.max_replicas}) is less than min_replicas "
                             f"({self.min_replicas})")
        return self


class GcpConfig(_Model):
    project: str = Field(pattern=_PROJECT, description="GCP project id.")
    region: str = Field(pattern=_REGION, description="Region, e.g. europe-west4.")
    artifact_repository: str = Field(pattern=_REPO_ID, description="Artifact Registry Docker repo.")
    registry_bucket: str = Field(pattern=_BUCKET, description="Registry bucket (no gs://).")
    staging_bucket: str | None = Field(
        None, pattern=_BUCKET, description="Cloud Build sources bucket (default: registry_bucket).")
    pipeline_root: str | None = Field(None, pattern=_GS_URI, description="Vertex pipeline root.")
    service_account: str | None = Field(None, pattern=_EMAIL, description="Service account email.")
    network: str | None = Field(None, pattern=_NETWORK, description="VPC network for runs.")
    encryption_key: str | None = Field(None, pattern=_KEY, description="Cloud KMS key (CMEK).")
    kfp_repository: str | None = Field(
        None, pattern=_REPO_ID, description="Artifact Registry KFP repo to also upload to.")
    build_timeout_seconds: int = Field(1800, ge=60, le=86400, description="Image build deadline.")
    run_timeout_seconds: int = Field(7200, ge=60, le=604800, description="Pipeline run deadline.")
    serving: ServingResources = Field(
        default_factory=ServingResources, description="Resources of deployed models (Vertex).")
    api_endpoints: ApiEndpoints = Field(
        default_factory=ApiEndpoints, description="Per-service endpoint overrides (emulators).")


class RunSettings(_Model):
    max_parallel: int | None = Field(
        None, ge=1, le=100, description="Runs of one push or retrain started and waited for at "
        "once (default: the cores on backend local, 50 on gcp).")
    timeout_seconds: int | None = Field(
        None, ge=1, le=604800, description="One deadline for all the runs of a push or retrain "
        "(default: gcp.run_timeout_seconds on gcp, none on local).")


class LocalConfig(_Model):
    builder: Literal["auto", "docker", "venv"] = Field(
        "auto", description="How the local backend builds images: docker (the Dockerfiles, runs "
        "in the images), venv (a virtualenv per image) or auto (docker when an engine answers).")
    build_args: dict[str, str] = Field(
        default_factory=dict, description="`docker build --build-arg` values (builder: docker).")
    state_size_warning: ByteSize | None = Field(
        ByteSize(5_000_000_000), description="Size of the state folder past which `push` warns "
        "and suggests `mlops-bot gc`: 5GB, 500MB, 2GiB or bytes (null: never).")

    @field_validator("build_args")
    @classmethod
    def _arg_names(cls, value: dict[str, str]) -> dict[str, str]:
        _problems([((name,), f"the name {name!r} is not allowed: {ALLOWED[_ARG_NAME]}")
                   for name in value if not re.match(_ARG_NAME, name)])
        return value


class Threshold(_Model):
    min: float | None = Field(None, description="Lowest acceptable value.")
    max: float | None = Field(None, description="Highest acceptable value.")

    @model_validator(mode="after")
    def _bounded(self) -> Threshold:
        if self.min is None and self.max is None:
            raise ValueError("has no bound: set min, max or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) is greater than max ({self.max})")
        return self


class Deployers(_Model):
    permission: Literal["write", "maintain", "admin"] = Field(
        "write", description="Least repository permission a commenter needs to deploy.")
    users: list[str] = Field(
        default_factory=list, description="Allowed GitHub logins (empty: anyone permitted).")


class Environment(_Model):
    endpoint: str = Field(pattern=_NAME, description="Endpoint display name.")
    canary_percent: int = Field(10, ge=1, le=100, description="Traffic the candidate gets first.")
    thresholds: dict[str, Threshold] = Field(
        default_factory=dict, description="Metric bounds a candidate must meet.")
    tolerance: float = Field(0.0, ge=0, description="How much worse than the champion is ok.")
    primary_metric: str = Field("accuracy", min_length=1, description="Higher is better.")
    deployers: Deployers = Field(default_factory=Deployers, description="Who may deploy.")
    allow_forks: bool = Field(False, description="Allow deploying pull requests from forks.")
    smoke_instances: RelativePath | None = Field(None, description="JSON file of sample inputs.")
    unprotected: Literal["refuse", "warn"] = Field(
        "refuse", description="What the deploy job does when the GitHub environment has no "
        "required reviewers: refuse (nothing is promoted), or warn (promote, and say so).")
    require: list[Literal["approved", "checks", "base"]] = Field(
        default_factory=list, description="Checked at /deploy and again in the deploy job: "
        "approved (an approving review of the head, no changes requested), checks (the head's "
        "checks are green), base (the PR targets the default branch).")
    required_checks: list[str] = Field(
        default_factory=list, description="Check run names or status contexts `checks` needs "
        "green on the head (empty: every check run and status the head has).")
    monitoring: Monitoring | None = Field(None, description="Drift and skew watched on the model.")

    @model_validator(mode="after")
    def _checks_required(self) -> Environment:
        if self.required_checks and "checks" not in self.require:
            raise ValueError("required_checks is set but `checks` is not in require: add it "
                             "(require: [checks]) or remove required_checks")
        return self


class Schedule(_Model):
    name: str = Field(pattern=_NAME, description="Unique schedule name.")
    pipeline: str = Field(min_length=1, description="Pipeline folder name.")
    cron: str = Field(description="Five-field cron expression, e.g. '0 3 * * 1'.")
    timezone: str = Field("UTC", description="IANA time zone the cron is read in.")
    tag: str = Field("main", min_length=1, description="Registry tag or version to run.")
    parameters: Parameters = Field(default_factory=dict, description="Run parameter overrides.")
    environment: str | None = Field(None, description="Environment whose champion is compared.")
    auto_promote: bool = Field(False, description="Offer a better model for deployment.")
    margin: float = Field(0.0, ge=0, description="How much better the challenger must be.")
    paused: bool = Field(False, description="Declared but not firing.")
    tracking_issue: str = Field(
        "mlops-bot: scheduled retraining", min_length=1, max_length=256,
        description="Title of the issue retraining reports on (created when missing).")

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        try:
            check_fires(parse_cron(value))
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


class Config(LayoutFields):  # entries: and images: (mlops_bot/layout_config.py)
    """mlops.yaml: the mlops-bot configuration of a repository."""

    backend: Literal["local", "gcp"] = Field("local", description="Where to build, store and run.")
    pipelines_dir: RelativePath = Field("pipelines", description="One folder per pipeline.")
    shared: list[RelativePath] = Field(
        default_factory=lambda: ["components"], description="Shared component library paths.")
    state_dir: str = Field(".mlops", min_length=1, description="Local backend state folder.")
    default_branch: str = Field("main", min_length=1, description="Base of new branches.")
    run_branches: list[str] = Field(
        default_factory=lambda: ["*"], description="Branches (fnmatch) whose pushes run pipelines.")
    pipelines: dict[str, PipelineSettings] = Field(
        default_factory=dict, description="Per-pipeline settings, by pipeline folder name.")
    local: LocalConfig = Field(
        default_factory=LocalConfig, description="Local backend settings (backend: local).")
    gcp: GcpConfig | None = Field(None, description="Google Cloud settings (backend: gcp).")
    environments: dict[str, Environment] = Field(
        default_factory=dict, description="Deployment environments, by name.")
    schedules: list[Schedule] = Field(default_factory=list, description="Retraining schedules.")
    run: RunSettings = Field(
        default_factory=RunSettings, description="How a push or retrain waits for its runs.")

    @field_validator("environments")
    @classmethod
    def _environment_names(cls, value: dict[str, Environment]) -> dict[str, Environment]:
        _problems([((name,), f"the name {name!r} is not allowed: {ALLOWED[_ENV_NAME]}")
                   for name in value if not re.match(_ENV_NAME, name)])
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Config:
        found: list[tuple[tuple[str | int, ...], str]] = []
        if self.backend == "gcp" and self.gcp is None:
            found.append((("gcp",), "is required when backend is gcp: add a gcp: section with "
                          "project, region, artifact_repository and registry_bucket"))
        first: dict[str, int] = {}
        for index, schedule in enumerate(self.schedules):
            if schedule.name in first:
                found.append((("schedules", index, "name"), f"{schedule.name!r} is already used "
                              f"by schedules[{first[schedule.name]}]: names must be unique"))
            first.setdefault(schedule.name, index)
            if schedule.environment and schedule.environment not in self.environments:
                known = choices(schedule.environment, list(self.environments))
                found.append((("schedules", index, "environment"),
                              f"{schedule.environment!r} is not an environment; {known}"))
            if schedule.auto_promote and not schedule.environment:
                found.append((("schedules", index, "auto_promote"), "needs environment: set the "
                              "environment whose serving model the new one challenges"))
        found += monitoring_problems(self.environments, [s.name for s in self.schedules], choices)
        _problems(found)
        return self


def config_path(repo: Path) -> Path:
    return repo / config_file()


def load_config(repo: Path) -> Config:
    """The configuration of the repository at `repo` (defaults when it has no mlops.yaml)."""
    path = config_path(repo)
    if not path.exists():
        return Config()
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"cannot read {path}: {error}") from None
    return parse_config(text, str(path))


class _Loader(yaml.SafeLoader):
    """Safe YAML that reads dates as text (a tag or parameter such as 2024-01-01)."""


_Loader.add_constructor("tag:yaml.org,2002:timestamp", lambda loader, node: node.value)


def parse_config(text: str, source: str) -> Config:
    """Validate YAML `text`; `source` names it in errors (a path, or `mlops.yaml at <sha>`)."""
    try:
        data = yaml.load(text, Loader=_Loader)  # a SafeLoader
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or str(error)
        raise ConfigError(f"{source} is not valid YAML{where}: {problem}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source} must be a mapping of settings (backend:, environments:, ...) "
                          f"at the top level, not {kind_of(data)}")
    try:
        return Config.model_validate(data)
    except ValidationError as error:
        problems = [describe(e, Config) for e in error.errors()]
        noun = "problem" if len(problems) == 1 else "problems"
        raise ConfigError(f"{source} is invalid ({len(problems)} {noun}):\n"
                          + "\n".join(f"  - {p}" for p in problems)) from None


def schema_json() -> str:
    """The JSON schema of mlops.yaml, for editors and CI validation."""
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema",
              **Config.model_json_schema(),
              "title": "mlops-bot configuration (mlops.yaml)"}
    return json.dumps(schema, indent=2)
