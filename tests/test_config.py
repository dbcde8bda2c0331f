"""mlops.yaml: loading, defaults, and error messages that name the file, the key and the fix."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from mlops_bot.config import (
    CONFIG_FILE,
    Config,
    config_path,
    load_config,
    parse_config,
    schema_json,
)
from mlops_bot.errors import ConfigError, UserError

ROOT = Path(__file__).resolve().parents[1]

FULL_EXAMPLE = """\
backend: gcp
pipelines_dir: pipelines
shared: [components, libs/common]
state_dir: /var/lib/mlops
default_branch: main
run_branches: ["main", "release/*"]
pipelines:
  wine_quality:
    parameters: {n_estimators: 200, features: [a, b], options: {depth: 3}, since: 2024-01-01}
    enable_caching: true
    run: false
gcp:
  project: my-project
  region: europe-west4
  artifact_repository: mlops
  registry_bucket: my-bucket
  staging_bucket: my-bucket-staging
  pipeline_root: gs://my-bucket/runs
  service_account: runner@my-project.iam.gserviceaccount.com
  network: projects/123456/global/networks/default
  encryption_key: projects/my-project/locations/europe-west4/keyRings/ring/cryptoKeys/key
  kfp_repository: kfp
  build_timeout_seconds: 1800
  run_timeout_seconds: 7200
  api_endpoints:
    aiplatform: http://127.0.0.1:8080
    cloudbuild: localhost:9000
    artifactregistry: null
    storage: null
environments:
  staging:
    endpoint: wine-staging
    canary_percent: 10
    thresholds:
      accuracy: {min: 0.8}
      latency_ms: {max: 250}
    tolerance: 0.0
    primary_metric: accuracy
    deployers:
      permission: write
      users: []
    allow_forks: false
    smoke_instances: pipelines/wine_quality/smoke.json
  prod:
    endpoint: wine-prod
    canary_percent: 5
    deployers: {permission: maintain, users: [alice, bob]}
schedules:
  - name: weekly-wine
    pipeline: wine_quality
    cron: "0 3 * * 1"
    timezone: Europe/Amsterdam
    tag: main
    parameters: {}
    environment: staging
    auto_promote: true
    margin: 0.01
    paused: false
  - name: nightly
    pipeline: wine_quality
    cron: "*/15 0-6/2 1,15 JAN-MAR MON-FRI"
"""


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / CONFIG_FILE).write_text(textwrap.dedent(text))
    return tmp_path


def error_of(text: str, source: str = "mlops.yaml") -> str:
    with pytest.raises(ConfigError) as caught:
        parse_config(textwrap.dedent(text), source)
    message = str(caught.value)
    assert "Input should" not in message and "errors.pydantic.dev" not in message, message
    return message


# --- what loads -------------------------------------------------------------------------------


def test_no_file_gives_local_defaults(tmp_path):
    config = load_config(tmp_path)
    assert config == Config()
    assert config.backend == "local" and config.gcp is None
    assert config.pipelines_dir == "pipelines" and config.shared == ["components"]
    assert config.state_dir == ".mlops" and config.default_branch == "main"
    assert config.run_branches == ["*"]
    assert config.environments == {} and config.schedules == [] and config.pipelines == {}
    assert config_path(tmp_path) == tmp_path / "mlops.yaml"


def test_empty_file_gives_defaults(tmp_path):
    assert load_config(write(tmp_path, "# nothing set yet\n")) == Config()


def test_full_example_loads(tmp_path):
    config = load_config(write(tmp_path, FULL_EXAMPLE))
    assert config.backend == "gcp" and config.gcp is not None
    assert config.gcp.project == "my-project" and config.gcp.staging_bucket == "my-bucket-staging"
    assert config.gcp.api_endpoints.aiplatform == "http://127.0.0.1:8080"
    assert config.shared == ["components", "libs/common"]
    wine = config.pipelines["wine_quality"]
    assert wine.run is False and wine.enable_caching is True
    assert wine.parameters == {"n_estimators": 200, "features": ["a", "b"],
                               "options": {"depth": 3}, "since": "2024-01-01"}
    staging = config.environments["staging"]
    assert staging.canary_percent == 10 and staging.thresholds["accuracy"].min == 0.8
    assert staging.thresholds["latency_ms"].max == 250 and staging.thresholds["accuracy"].max is None
    assert config.environments["prod"].deployers.users == ["alice", "bob"]
    assert config.environments["prod"].deployers.permission == "maintain"
    assert [s.name for s in config.schedules] == ["weekly-wine", "nightly"]
    assert config.schedules[0].auto_promote and config.schedules[0].environment == "staging"
    assert config.schedules[1].timezone == "UTC" and config.schedules[1].tag == "main"


def test_config_is_frozen():
    config = parse_config("backend: local\n", "mlops.yaml")
    with pytest.raises(ValueError):
        config.backend = "gcp"  # type: ignore[misc]


# --- unknown keys -----------------------------------------------------------------------------


def test_unknown_top_level_key_suggests_the_closest():
    message = error_of("backnd: local\n")
    assert message.startswith("mlops.yaml is invalid (1 problem):")
    assert "backnd: unknown key" in message
    assert "did you mean 'backend'?" in message
    assert "allowed: backend, default_branch, entries, environments, gcp, images" in message


def test_unknown_nested_key_lists_the_keys_of_that_level():
    message = error_of("""
        environments:
          staging:
            endpoint: wine-staging
            canary_percnt: 20
    """)
    assert "environments.staging.canary_percnt: unknown key" in message
    assert "did you mean 'canary_percent'?" in message
    assert "allowed: allow_forks, canary_percent, deployers, endpoint" in message


def test_unknown_key_under_an_environment_named_like_a_field():
    # `deployers` here is an environment name, not Environment.deployers
    message = error_of("environments: {deployers: {endpoint: e, usrs: []}}\n")
    assert "environments.deployers.usrs: unknown key" in message
    assert "allowed: allow_forks, canary_percent" in message


def test_unknown_key_in_gcp_api_endpoints():
    message = error_of("""
        gcp: {project: my-project, region: us-central1, artifact_repository: r,
              registry_bucket: bkt, api_endpoints: {vertex: localhost:1}}
    """)
    assert "gcp.api_endpoints.vertex: unknown key" in message
    assert "allowed: aiplatform, artifactregistry, cloudbuild, storage" in message


# --- types, enums, ranges ---------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("environments: {staging: {endpoint: e, canary_percent: ten}}",
     "environments.staging.canary_percent: must be a whole number, got text 'ten'"),
    ("pipelines: {w: {enable_caching: maybe}}",
     "pipelines.w.enable_caching: must be true or false, got text 'maybe'"),
    ("environments: {staging: wine}",
     "environments.staging: must be a mapping (key: value), got text 'wine'"),
    ("schedules: {name: x}", "schedules: must be a list (- item)"),
    ("environments: {staging: {endpoint: e, tolerance: lots}}",
     "environments.staging.tolerance: must be a number, got text 'lots'"),
    ("pipelines: {w: {parameters: {n: !!set {a: null}}}}",
     "pipelines.w.parameters.n: {'a'} is not allowed: use text, a number"),
])
def test_wrong_type_says_what_is_expected(text, expected):
    assert expected in error_of(text)


def test_bad_backend_lists_the_allowed_values():
    message = error_of("backend: aws\n")
    assert "backend: 'aws' is not allowed; use 'local' or 'gcp'" in message


def test_bad_permission_lists_the_allowed_values():
    message = error_of("environments: {prod: {endpoint: e, deployers: {permission: read}}}")
    assert "environments.prod.deployers.permission: 'read' is not allowed" in message
    assert "'write', 'maintain' or 'admin'" in message


@pytest.mark.parametrize(("value", "expected"), [
    (0, "must be at least 1, got 0"), (150, "must be at most 100, got 150"),
])
def test_canary_percent_out_of_range(value, expected):
    message = error_of(f"environments: {{staging: {{endpoint: e, canary_percent: {value}}}}}")
    assert f"environments.staging.canary_percent: {expected}" in message


@pytest.mark.parametrize(("value", "expected"), [
    ("0", "must be at least 1, got 0"), ("-3", "must be at least 1, got -3"),
    ("100000", "must be at most 100, got 100000"), ("2.5", "must be a whole number"),
    ("many", "must be a whole number, got text 'many'"),
])
def test_run_max_parallel_out_of_range_is_named(value, expected):
    assert f"run.max_parallel: {expected}" in error_of(f"run: {{max_parallel: {value}}}")


def test_pattern_mismatch_says_what_is_allowed_in_words():
    message = error_of("""
        gcp: {project: My_Project, region: europe, artifact_repository: mlops,
              registry_bucket: gs://bucket, pipeline_root: /tmp/runs}
    """)
    assert message.startswith("mlops.yaml is invalid (4 problems):")
    assert "gcp.project: 'My_Project' is not allowed: a project id" in message
    assert "gcp.region: 'europe' is not allowed: a region such as europe-west4" in message
    assert "gcp.registry_bucket: 'gs://bucket' is not allowed: a bucket name, no gs://" in message
    assert "gcp.pipeline_root: '/tmp/runs' is not allowed: gs://<bucket>" in message


def test_serving_resources_are_checked():
    gcp = ("gcp: {project: my-project, region: europe-west4, artifact_repository: images, "
           "registry_bucket: my-registry, serving: ")
    message = error_of(gcp + "{machine_type: N1 Standard}}\n")
    assert "gcp.serving.machine_type: 'N1 Standard' is not allowed: a machine type" in message
    message = error_of(gcp + "{min_replicas: 3, max_replicas: 2}}\n")
    assert "gcp.serving: max_replicas (2) is less than min_replicas (3)" in message


def test_missing_required_keys_are_named():
    message = error_of("gcp: {project: my-project}\n")
    for key in ("region", "artifact_repository", "registry_bucket"):
        assert f"gcp.{key}: is required" in message
    assert "environments.s.endpoint: is required" in error_of("environments: {s: {}}")


@pytest.mark.parametrize("path", ["../elsewhere", "/abs/pipelines", "a/../../b"])
def test_pipelines_dir_must_stay_inside_the_repository(path):
    message = error_of(f"pipelines_dir: {path}\n")
    assert f"pipelines_dir: '{path}' is not allowed: use a path relative" in message


def test_shared_paths_are_checked_one_by_one():
    assert "shared[1]: '../x' is not allowed" in error_of("shared: [components, ../x]\n")


def test_environment_names_are_checked():
    message = error_of("environments: {Staging: {endpoint: e}, ok: {endpoint: f}}")
    assert "environments.Staging: the name 'Staging' is not allowed: a-z first" in message


# --- schedules --------------------------------------------------------------------------------


SCHEDULE = "schedules: [{{name: weekly, pipeline: wine, cron: '{cron}'}}]\n"


@pytest.mark.parametrize(("cron", "field", "allowed"), [
    ("61 * * * *", "minute field '61'", "0-59"),
    ("0 24 * * *", "hour field '24'", "0-23"),
    ("0 3 0 * *", "day of month field '0'", "1-31"),
    ("0 3 * 13 *", "month field '13'", "1-12 or JAN-DEC"),
    ("0 3 * * FUN", "day of week field 'FUN'", "0-7 or SUN-SAT"),
    ("0 3 * * 1/0", "day of week field '1/0'", "*/n"),
])
def test_invalid_cron_names_the_field_and_what_is_allowed(cron, field, allowed):
    message = error_of(SCHEDULE.format(cron=cron))
    assert "schedules[0].cron:" in message and field in message
    assert f"allowed: {allowed}" in message or allowed in message


def test_cron_with_the_wrong_number_of_fields():
    message = error_of(SCHEDULE.format(cron="0 3 * *"))
    assert "schedules[0].cron:" in message and "has 4 fields; it needs 5" in message


@pytest.mark.parametrize("cron", ["* * * * *", "*/5 0-6/2 1,15 jan-mar mon-fri", "0 0 1 1 7"])
def test_valid_crons_load(cron):
    assert parse_config(SCHEDULE.format(cron=cron), "mlops.yaml").schedules[0].cron == cron


def test_invalid_timezone_names_the_key():
    text = "schedules: [{name: weekly, pipeline: wine, cron: '0 3 * * 1', timezone: Mars/Olympus}]"
    message = error_of(text)
    assert "schedules[0].timezone: unknown time zone 'Mars/Olympus'" in message
    assert "IANA" in message


def test_gcp_backend_needs_a_gcp_section():
    message = error_of("backend: gcp\n")
    assert "gcp: is required when backend is gcp" in message
    assert "project, region, artifact_repository and registry_bucket" in message


def test_schedule_environment_must_exist():
    message = error_of("""
        environments: {staging: {endpoint: s}, prod: {endpoint: p}}
        schedules:
          - {name: weekly, pipeline: wine, cron: '0 3 * * 1', environment: stagin}
    """)
    assert "schedules[0].environment: 'stagin' is not an environment" in message
    assert "did you mean 'staging'?" in message and "allowed: prod, staging" in message


def test_schedule_environment_without_any_environments():
    text = "schedules: [{name: w, pipeline: p, cron: '0 3 * * 1', environment: prod}]"
    assert "'prod' is not an environment; none are defined" in error_of(text)


def test_duplicate_schedule_names():
    message = error_of("""
        schedules:
          - {name: weekly, pipeline: a, cron: '0 3 * * 1'}
          - {name: daily, pipeline: a, cron: '0 3 * * *'}
          - {name: weekly, pipeline: b, cron: '0 4 * * 1'}
    """)
    assert "schedules[2].name: 'weekly' is already used by schedules[0]" in message


def test_auto_promote_needs_an_environment():
    text = "schedules: [{name: w, pipeline: p, cron: '0 3 * * 1', auto_promote: true}]"
    assert "schedules[0].auto_promote: needs environment" in error_of(text)


@pytest.mark.parametrize(("threshold", "expected"), [
    ("{}", "has no bound: set min, max or both"),
    ("{min: 0.9, max: 0.1}", "min (0.9) is greater than max (0.1)"),
])
def test_thresholds_need_a_sensible_bound(threshold, expected):
    message = error_of(f"environments: {{s: {{endpoint: e, thresholds: {{accuracy: {threshold}}}}}}}")
    assert f"environments.s.thresholds.accuracy: {expected}" in message


# --- the file as a whole ----------------------------------------------------------------------


def test_yaml_syntax_error_names_file_line_and_column(tmp_path):
    repo = write(tmp_path, "backend: local\nenvironments:\n  staging: {endpoint: [\n")
    with pytest.raises(ConfigError) as caught:
        load_config(repo)
    message = str(caught.value)
    assert str(tmp_path / "mlops.yaml") in message and "is not valid YAML at line 4" in message
    assert "column" in message


def test_tabs_are_a_yaml_error_with_a_line():
    message = error_of("environments:\n\tstaging: {}\n")
    assert "is not valid YAML at line 2, column 1" in message


@pytest.mark.parametrize(("text", "kind"), [("- a\n- b\n", "a list"), ("just text\n", "text")])
def test_top_level_must_be_a_mapping(text, kind):
    message = error_of(text)
    assert message.startswith("mlops.yaml must be a mapping of settings")
    assert f"not {kind}" in message


def test_unreadable_file_is_a_config_error(tmp_path):
    (tmp_path / "mlops.yaml").mkdir()
    with pytest.raises(ConfigError, match=r"cannot read .*mlops\.yaml"):
        load_config(tmp_path)


def test_several_problems_are_listed_together_one_per_line(tmp_path):
    repo = write(tmp_path, """\
        backend: aws
        pipelines_dir: ../out
        environments:
          staging: {endpoint: Wine, canary_percent: 0, colour: blue}
        schedules:
          - {name: weekly, pipeline: wine, cron: '0 3 * * 8', timezone: Nowhere/Land}
    """)
    with pytest.raises(ConfigError) as caught:
        load_config(repo)
    lines = str(caught.value).splitlines()
    assert lines[0] == f"{tmp_path / 'mlops.yaml'} is invalid (7 problems):"
    assert len(lines) == 8 and all(line.startswith("  - ") for line in lines[1:])
    keys = [line[4:].split(":")[0] for line in lines[1:]]
    assert keys == ["backend", "pipelines_dir", "environments.staging.endpoint",
                    "environments.staging.canary_percent", "environments.staging.colour",
                    "schedules[0].cron", "schedules[0].timezone"]


def test_parse_config_names_its_source_label():
    message = error_of("backend: cloud\n", source="mlops.yaml at abc1234")
    assert message.startswith("mlops.yaml at abc1234 is invalid (1 problem):")
    with pytest.raises(ConfigError, match=r"^mlops\.yaml at abc1234 is not valid YAML at line 1"):
        parse_config("backend: local: gcp\n", "mlops.yaml at abc1234")


def test_config_error_is_a_user_error():
    assert issubclass(ConfigError, UserError)


def test_schema_json_is_a_json_schema_with_descriptions():
    schema = json.loads(schema_json())
    assert schema["$schema"].startswith("https://json-schema.org/")
    assert "mlops.yaml" in schema["title"]
    assert "environments" in schema["properties"]
    assert schema["additionalProperties"] is False
    for name, model in [("Config", schema), *schema["$defs"].items()]:
        for key, field in model.get("properties", {}).items():
            assert field.get("description"), f"{name}.{key} has no description"
    assert schema["$defs"]["Environment"]["properties"]["canary_percent"]["maximum"] == 100


def test_importing_config_does_not_import_cloud_or_kfp_libraries():
    probe = ("import sys\nbaseline = set(sys.modules)\nimport mlops_bot.config\n"
             "print(sorted(m for m in set(sys.modules) - baseline if m.split('.')[0] in "
             "('kfp', 'google', 'github', 'git')))\n")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            cwd=ROOT, check=True)
    assert result.stdout.strip() == "[]"


# --- through the command line -----------------------------------------------------------------


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mlops_bot", *args], capture_output=True,
                          text=True, cwd=ROOT, timeout=120)


def test_cli_config_check_reports_an_invalid_file_without_traceback(tmp_path):
    write(tmp_path, "backend: aws\nenvironments: {staging: {endpoint: e, canary_percent: 500}}\n")
    result = run_cli("config", "check", "--repo", str(tmp_path))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and result.stdout == ""
    assert result.stderr.startswith(f"mlops-bot: {tmp_path / 'mlops.yaml'} is invalid (2 problems):")
    assert "backend: 'aws' is not allowed; use 'local' or 'gcp'" in result.stderr
    assert "environments.staging.canary_percent: must be at most 100, got 500" in result.stderr


def test_cli_config_check_accepts_a_valid_file(tmp_path):
    write(tmp_path, FULL_EXAMPLE)
    # The pipeline the example configures and schedules exists (config check cross-checks it).
    (tmp_path / "pipelines" / "wine_quality").mkdir(parents=True)
    (tmp_path / "pipelines" / "wine_quality" / "definition.py").write_text(
        "from kfp import dsl\n\n\n@dsl.pipeline(name='wine-quality')\n"
        "def wine_quality() -> None:\n    pass\n")
    result = run_cli("config", "check", "--repo", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "valid; backend=gcp, environments: staging, prod" in result.stdout


def test_cli_config_schema_prints_json():
    result = run_cli("config", "schema")
    assert result.returncode == 0, result.stderr
    assert "environments" in json.loads(result.stdout)["properties"]
