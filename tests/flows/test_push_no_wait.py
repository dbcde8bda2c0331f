"""`wait: false`: the push starts its runs, leaves each pipeline's check run in_progress with the
run's link and exits; `mlops-bot status` (a later job) completes each check run once its run
ended, and `/deploy` then finds the run. Real git repositories, the real kfp compiler, the real
google-cloud clients against the fake Google servers, PyGithub against the fake GitHub."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from mlops_bot.config import load_config
from mlops_bot.flows.head_run import NoRun, head_record
from mlops_bot.flows.push import PushFlow
from mlops_bot.flows.push_checks import publish_run_checks
from mlops_bot.flows.status import status
from mlops_bot.github.pygithub_client import ClientSettings
from mlops_bot.github.pygithub_forge import GithubForge
from mlops_bot.repo.git import GitRepo
from tests.flows.test_push_concurrent import Cloud, backends_of, builder, cloud, push
from tests.support.cli import cli, cli_json
from tests.support.fake_github import FakeGitHub
from tests.support.fake_vertex_pipelines import JobOutcome
from tests.support.gitrepo import GitRepoBuilder

__all__ = ["builder", "cloud"]  # fixtures, shared with the concurrent-push tests


@pytest.fixture
def github(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGitHub]:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    server = FakeGitHub().start()
    server.repo("octo/models")
    yield server
    server.stop()


def forge_of(github: FakeGitHub) -> GithubForge:
    return GithubForge("octo/models", "t", github.url,
                       settings=ClientSettings(timeout=2, backoff_factor=0, pace=False))


def test_no_wait_push_leaves_check_runs_in_progress_and_status_completes_them(
        cloud: Cloud, builder: GitRepoBuilder, github: FakeGitHub) -> None:
    cloud.vertex.set_outcome("RUNNING")  # until the test ends them

    result, _, _ = push(builder, cloud, ["alpha", "beta"], wait=False)

    jobs = list(cloud.vertex.jobs.values())
    assert len(jobs) == 2 and not any(j.done for j in jobs)  # it did not wait for the runs
    assert result.ok and [(r.pipeline, r.status) for r in result.runs] == [
        ("alpha", "running"), ("beta", "running")]
    assert all(r.url and r.url.startswith("https://console.cloud.google.com/") for r in
               result.runs)
    assert sum("started, not waited for" in n and "https://" in n for n in result.notes) == 2
    head = result.plan.head
    github.repo().commits.add(head)
    forge = forge_of(github)
    assert publish_run_checks(forge, result, GitRepo(builder.path), {}) == ""
    checks = {c.name: c for c in forge.check_runs(head)}
    assert {n: (c.status, c.conclusion) for n, c in checks.items()} == {
        "mlops-bot: alpha": ("in_progress", None), "mlops-bot: beta": ("in_progress", None)}
    with pytest.raises(NoRun, match="started by a push that did not wait"):
        head_record(forge, head, "alpha", "gcp")

    env = {"GITHUB_TOKEN": "t", "GITHUB_REPOSITORY": "octo/models", "GITHUB_API_URL": github.url,
           "NO_PROXY": "127.0.0.1"}
    early = status(builder.path, [], 3.0, forge).to_dict()  # the runs have not ended yet
    assert sorted((c["pipeline"], c["status"]) for c in early["checks"]) == [
        ("alpha", "running"), ("beta", "running")]
    assert {c.status for c in forge.check_runs(head)} == {"in_progress"}

    # A docs-only commit pushed meanwhile carries the running records over, in_progress too.
    later = builder.commit({"README.md": "docs\n"})
    config = load_config(builder.path)
    carried = PushFlow(GitRepo(builder.path), config, backends_of(config), "main").run(
        head, later, {})
    github.repo().commits.add(later)
    assert publish_run_checks(forge, carried, GitRepo(builder.path), {}) == ""
    assert {c.status for c in forge.check_runs(later)} == {"in_progress"}

    for job in jobs:  # the runs end: alpha succeeds, beta fails
        job.outcome = JobOutcome("SUCCEEDED", after_polls=0, metrics={"accuracy": 0.93}) if (
            job.request["labels"]["pipeline"] == "alpha") else JobOutcome(
            "FAILED", after_polls=0, failing_task="train", task_error="ValueError: no rows")
    done = cli_json("status", cwd=builder.path, env=env)
    assert done["commits"] == [head, later]  # the runs' commit, then the branch's tip
    assert sorted((c["sha"], c["pipeline"], c["status"]) for c in done["checks"]) == sorted([
        (head, "alpha", "succeeded"), (head, "beta", "failed"),
        (later, "alpha", "succeeded"), (later, "beta", "failed")])
    assert head_record(forge, later, "alpha", "gcp").carried_from == head
    checks = {c.name: c for c in forge.check_runs(head)}
    assert (checks["mlops-bot: alpha"].status, checks["mlops-bot: alpha"].conclusion) == (
        "completed", "success")
    assert checks["mlops-bot: beta"].conclusion == "failure"
    assert "ValueError: no rows" in checks["mlops-bot: beta"].summary
    record = head_record(forge, head, "alpha", "gcp")  # what /deploy reads
    assert (record.run_id, record.run_url) == (result.runs[0].run_id, result.runs[0].url)
    with pytest.raises(NoRun, match="failed"):
        head_record(forge, head, "beta", "gcp")

    # Again: nothing is left to complete, nothing changes.
    again = status(builder.path, [], 3.0, forge)
    assert again.checks == [] and len(github.repo().check_runs) == 4


def test_status_without_github_says_what_to_set(builder: GitRepoBuilder, cloud: Cloud) -> None:
    builder.commit({"mlops.yaml": cloud.mlops_yaml()})

    result = cli("status", cwd=builder.path, env={"GITHUB_TOKEN": "", "GITHUB_REPOSITORY": ""})
    assert result.returncode == 1
    assert "set GITHUB_TOKEN (with checks: write) and GITHUB_REPOSITORY" in result.stderr



def test_two_status_jobs_at_once_complete_each_check_run_once_and_create_none(
        cloud: Cloud, builder: GitRepoBuilder, github: FakeGitHub) -> None:
    cloud.vertex.set_outcome("RUNNING")
    result, _, _ = push(builder, cloud, ["alpha", "beta"], wait=False)
    github.repo().commits.add(result.plan.head)
    forge = forge_of(github)
    assert publish_run_checks(forge, result, GitRepo(builder.path), {}) == ""
    for job in cloud.vertex.jobs.values():
        job.outcome = JobOutcome("SUCCEEDED", after_polls=0)

    # A scheduled status job and one dispatched by hand, at the same moment.
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda _: status(builder.path, [result.plan.head], 3.0,
                                                 forge_of(github)), range(2)))

    assert all(r.ok for r in results)
    assert len(github.repo().check_runs) == 2  # completed in place, none added
    checks = forge.check_runs(result.plan.head)
    assert sorted((c.name, c.status, c.conclusion) for c in checks) == [
        ("mlops-bot: alpha", "completed", "success"), ("mlops-bot: beta", "completed", "success")]
    assert all(head_record(forge, result.plan.head, n, "gcp").run_id for n in ("alpha", "beta"))
