"""`schedules sync` against Vertex AI: the real aiplatform_v1 ScheduleServiceClient (REST) and a
local fake of the schedules API; specs compiled by the real kfp compiler into a local registry."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from mlops_bot.backends.gcp.clients import GcpClients
from mlops_bot.backends.gcp.schedules import VertexSchedules
from mlops_bot.backends.local.registry import DirectoryRegistry
from mlops_bot.config import Config, parse_config
from mlops_bot.errors import ConfigError
from mlops_bot.flows.schedules_sync import desired_schedules, sync_schedules
from mlops_bot.report.schedules_report import render_sync
from tests.support.cli import cli, cli_json
from tests.support.fake_vertex_schedules import FakeVertexSchedules
from tests.support.gitrepo import GitRepoBuilder

REGION = "europe-west4"
DEFINITION = """from kfp import dsl


@dsl.component(base_image="python:3.11-slim")
def train(size: int, label: str) -> None:
    print(size, label)


@dsl.pipeline(name="wine")
def wine(size: int = 1, label: str = "quality") -> None:
    train(size=size, label=label)
"""
SCHEDULES = """
backend: gcp
gcp:
  project: test-project
  region: europe-west4
  artifact_repository: images
  registry_bucket: registry
  api_endpoints: {{aiplatform: "{endpoint}"}}
schedules:
{schedules}
"""
WEEKLY = """  - name: weekly
    pipeline: wine
    cron: "0 3 * * 1"
    timezone: Europe/Amsterdam
    parameters: {size: 5}
"""
NIGHTLY = """  - name: nightly
    pipeline: wine
    cron: "30 1 * * *"
    paused: true
"""
WRITES = ("create_schedule", "update_schedule", "pause_schedule", "resume_schedule",
          "delete_schedule")


@dataclass
class Project:
    repo: GitRepoBuilder
    registry: DirectoryRegistry
    versions: list[str]  # two published versions of wine; `main` points at the first


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Project:
    from mlops_bot.compile import compile_pipeline

    repo = GitRepoBuilder(tmp_path_factory.mktemp("schedules") / "repo")
    registry = DirectoryRegistry(repo.path / ".mlops" / "registry")
    versions = []
    for size in (1, 2):
        sha = repo.commit({"pipelines/wine/definition.py": DEFINITION.replace(
            "size: int = 1", f"size: int = {size}"),
            "pipelines/wine/run.py": "PARAMETERS = {'label': 'colour'}\n"})
        compiled = compile_pipeline(repo.path, "pipelines/wine", {})
        published = registry.publish("wine", compiled.spec, {
            "git_sha": sha, "source": "pipelines/wine", "parameters": compiled.parameters})
        versions.append(published.version)
    registry.tag("wine", "main", versions[0])
    return Project(repo, registry, versions)


@pytest.fixture
def vertex() -> Iterator[FakeVertexSchedules]:
    with FakeVertexSchedules() as fake:
        yield fake


def config_for(vertex: FakeVertexSchedules, *schedules: str) -> Config:
    return parse_config(SCHEDULES.format(endpoint=vertex.endpoint, schedules="".join(schedules)
                                         or "  []"), "mlops.yaml")


def sync(project: Project, vertex: FakeVertexSchedules, *schedules: str, dry_run: bool = False):
    config = config_for(vertex, *schedules)
    assert config.gcp is not None
    service = VertexSchedules(GcpClients(config.gcp))
    return sync_schedules(service, desired_schedules(project.repo.path, config, project.registry),
                          dry_run)


def writes(vertex: FakeVertexSchedules) -> int:
    return sum(vertex.calls(route) for route in WRITES)


def test_sync_creates_the_declared_schedules_pinned_and_marked(project, vertex):
    vertex.seed("nightly-export")  # someone else's
    result = sync(project, vertex, WEEKLY, NIGHTLY)
    assert [(c.action, c.name) for c in result.changes] == [("create", "weekly"),
                                                            ("create", "nightly")]
    assert result.foreign == ("nightly-export",)
    schedules = vertex.by_display_name()
    weekly, nightly = schedules["mlops-bot-weekly"], schedules["mlops-bot-nightly"]
    assert weekly["cron"] == "TZ=Europe/Amsterdam 0 3 * * 1" and weekly["state"] == "ACTIVE"
    assert nightly["cron"] == "TZ=UTC 30 1 * * *" and nightly["state"] == "PAUSED"
    job = weekly["createPipelineJobRequest"]["pipelineJob"]
    assert job["labels"] == {"mlops_bot": "true", "mlops_bot_schedule": "weekly",
                             "trigger": "schedule", "pipeline": "wine",
                             "version": project.versions[0],
                             "git_sha": job["labels"]["git_sha"]}
    # The tag `main` is pinned: the spec of that version, with run.py and the schedule's values.
    assert job["pipelineSpec"]["root"]["inputDefinitions"]["parameters"]["size"][
        "defaultValue"] == 1
    assert job["runtimeConfig"]["parameterValues"] == {"size": 5, "label": "colour"}
    assert job["runtimeConfig"]["gcsOutputDirectory"] == "gs://registry/runs"
    assert weekly["maxConcurrentRunCount"] in ("1", 1)
    assert schedules["nightly-export"]["state"] == "ACTIVE"


def test_a_second_sync_changes_nothing(project, vertex):
    sync(project, vertex, WEEKLY, NIGHTLY)
    before = writes(vertex)
    result = sync(project, vertex, WEEKLY, NIGHTLY)
    assert {c.action for c in result.changes} == {"unchanged"}
    assert writes(vertex) == before
    assert "in sync: nothing to do" in render_sync(result)


def test_sync_updates_resumes_and_deletes_only_its_own(project, vertex):
    vertex.seed("nightly-export")
    vertex.seed("mlops-bot-weekly")  # a look-alike made by hand: no mlops-bot label on its job
    sync(project, vertex, WEEKLY, NIGHTLY)
    project.registry.tag("wine", "main", project.versions[1])  # the tag moved
    try:
        changed = WEEKLY.replace("0 3 * * 1", "0 4 * * 2").replace("{size: 5}", "{size: 7}")
        resumed = NIGHTLY.replace("paused: true", "paused: false")
        result = sync(project, vertex, changed.replace("weekly", "weekly-2"), resumed)
    finally:
        project.registry.tag("wine", "main", project.versions[0])
    actions = sorted((c.action, c.name) for c in result.changes)
    assert actions == [("create", "weekly-2"), ("delete", "weekly"), ("resume", "nightly"),
                       ("update", "nightly")]
    update = next(c for c in result.changes if c.action == "update")
    # The new version's own default (size 2) comes with it.
    assert update.details == (f"version wine@{project.versions[0]} -> wine@"
                              f"{project.versions[1]} (main)",
                              "parameters label='colour', size=1 -> label='colour', size=2")
    schedules = vertex.by_display_name()
    assert set(schedules) == {"nightly-export", "mlops-bot-weekly", "mlops-bot-weekly-2",
                              "mlops-bot-nightly"}
    # The look-alike is the one left: the one mlops-bot made was deleted (its operation polled).
    assert schedules["mlops-bot-weekly"]["createPipelineJobRequest"]["pipelineJob"][
        "displayName"] == "other"
    assert vertex.calls("get_operation") >= 1
    nightly = schedules["mlops-bot-nightly"]
    assert nightly["state"] == "ACTIVE"
    assert nightly["createPipelineJobRequest"]["pipelineJob"]["labels"]["version"] == \
        project.versions[1]
    assert schedules["mlops-bot-weekly-2"]["cron"] == "TZ=Europe/Amsterdam 0 4 * * 2"
    assert sorted(result.foreign) == ["mlops-bot-weekly", "nightly-export"]


def test_sync_updates_the_cron_and_parameters_in_place(project, vertex):
    sync(project, vertex, WEEKLY)
    [name] = [s["name"] for s in vertex.schedules.values()]
    result = sync(project, vertex, WEEKLY.replace("0 3 * * 1", "15 2 * * *")
                  .replace("{size: 5}", "{size: 9}"))
    [change] = result.changes
    assert change.action == "update"
    assert change.details == ("cron '0 3 * * 1' Europe/Amsterdam -> '15 2 * * *' "
                              "Europe/Amsterdam", "parameters label='colour', size=5 -> "
                              "label='colour', size=9")
    [schedule] = vertex.schedules.values()
    assert schedule["name"] == name and schedule["cron"] == "TZ=Europe/Amsterdam 15 2 * * *"
    assert schedule["createPipelineJobRequest"]["pipelineJob"]["runtimeConfig"][
        "parameterValues"]["size"] == 9


def test_a_dry_run_prints_the_plan_and_changes_nothing(project, vertex):
    sync(project, vertex, WEEKLY)
    before = (writes(vertex), vertex.by_display_name())
    result = sync(project, vertex, NIGHTLY, dry_run=True)
    assert (writes(vertex), vertex.by_display_name()) == before
    plan = render_sync(result)
    assert "+ create nightly" in plan and "- delete weekly" in plan
    assert "dry run: 2 change(s) planned, nothing was changed" in plan
    assert result.to_dict()["applied"] == []


def test_a_refused_change_is_a_sentence_naming_the_schedule(project, vertex):
    vertex.fail("create_schedule", 403)
    from mlops_bot.errors import UserError

    with pytest.raises(UserError, match=r"permission denied to create schedule weekly in Vertex "
                                        r"AI.*: no workflow identity holds aiplatform\.schedules"
                                        r"\.\*, so `mlops-bot schedules sync` needs a "
                                        r"maintainer's credentials"):
        sync(project, vertex, WEEKLY)
    assert vertex.schedules == {}


@pytest.mark.parametrize(("cron", "says"), [
    ("0 3 * *", "has 4 fields; it needs 5"),
    ("61 3 * * 1", "minute field '61' is out of range"),
    ("0 0 30 2 *", "would never fire"),
])
def test_an_invalid_cron_is_rejected_naming_the_file_and_schedule(cron, says):
    text = f"schedules: [{{name: weekly, pipeline: wine, cron: '{cron}'}}]"
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "mlops.yaml")
    assert "mlops.yaml is invalid" in str(caught.value)
    assert "schedules[0].cron:" in str(caught.value) and says in str(caught.value)


def test_the_commands_reject_an_invalid_cron_or_time_zone(tmp_path):
    repo = GitRepoBuilder(tmp_path / "repo")
    repo.commit({"mlops.yaml": "schedules: [{name: w, pipeline: wine, cron: '0 3 * * 1', "
                               "timezone: Europe/Atlantis}]\n"})
    for command in (("schedules", "list"), ("schedules", "sync"), ("retrain",)):
        result = cli(*command, "--repo", str(repo.path))
        assert result.returncode == 1, command
        assert "schedules[0].timezone: unknown time zone 'Europe/Atlantis'" in result.stderr
        assert "IANA name" in result.stderr


def test_locally_sync_has_nothing_to_do_and_list_says_when_each_is_due(tmp_path):
    repo = GitRepoBuilder(tmp_path / "repo")
    repo.commit({"mlops.yaml": "environments: {staging: {endpoint: wine-staging}}\n"
                               "schedules:\n" + WEEKLY + NIGHTLY.replace(
                                   "paused: true", "paused: true\n    environment: staging")})
    synced = cli_json("schedules", "sync", "--repo", str(repo.path))
    assert synced["changes"] == [] and "nothing to sync" in synced["message"]
    listed = cli_json("schedules", "list", "--now", "2026-03-04T12:00:00Z",
                      "--repo", str(repo.path))
    weekly, nightly = listed["schedules"]
    # Monday 03:00 in Amsterdam is 02:00 UTC in winter
    assert (weekly["last_due"], weekly["next_due"]) == ("2026-03-02T02:00:00Z",
                                                        "2026-03-09T02:00:00Z")
    assert nightly["paused"] and nightly["next_due"] is None
    assert nightly["environment"] == "staging"
    text = cli("schedules", "list", "--now", "2026-03-04T12:00:00Z", "--repo", str(repo.path))
    assert "2026-03-09T02:00:00Z" in text.stdout and "paused" in text.stdout
    assert json.loads(json.dumps(listed))["backend"] == "local"


def test_a_sync_with_no_schedules_deletes_what_mlops_bot_made(project, vertex):
    sync(project, vertex, WEEKLY, NIGHTLY)
    vertex.seed("nightly-export")
    result = sync(project, vertex)
    assert sorted(c.action for c in result.changes) == ["delete", "delete"]
    assert set(vertex.by_display_name()) == {"nightly-export"}


def test_now_must_be_an_iso_time(tmp_path):
    repo = GitRepoBuilder(tmp_path / "repo")
    repo.commit({"mlops.yaml": "schedules:\n" + WEEKLY})
    result = cli("schedules", "list", "--now", "next tuesday", "--repo", str(repo.path))
    assert result.returncode == 2  # a usage error
    assert "--now 'next tuesday' is not an ISO 8601 time" in result.stderr
