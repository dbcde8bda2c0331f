"""The push job's check runs: one per pipeline on the pushed commit, readable on the PR, holding
a record the comment job parses strictly (any workflow with `checks: write` could forge one)."""

from __future__ import annotations

import json
import math

import pytest

from mlops_bot.github.forge import CheckRun
from mlops_bot.github.run_checks import (
    InvalidRecord,
    RunCheck,
    parse_record,
    read_run_checks,
    render_check,
)
from tests.support.gitrepo import GitRepoBuilder, pipeline_files
from tests.support.run_checks import push_event, records

SHA, EARLIER = "a" * 40, "b" * 40
GOOD = RunCheck(pipeline="alpha", recorded_on=SHA, run_status="succeeded", backend="gcp",
                version="v-0123456789abcdef", run_id="alpha-0123456789abcdef",
                run_url="https://console.cloud.google.com/vertex-ai/runs/alpha?project=p",
                produced_by=EARLIER, carried_from=EARLIER, parameters={"size": 1},
                metrics={"accuracy": 0.93})


def check_of(record: RunCheck | None = None, *, text: str | None = None, sha: str = SHA) -> CheckRun:
    title, summary, rendered = render_check(record or GOOD)
    return CheckRun(1, "mlops-bot: alpha", sha, "completed", "success", title, summary,
                    rendered if text is None else text, None, None, "github-actions")


def forged(**changes: object) -> str:
    """The text of GOOD's check run with fields of its record replaced."""
    data = {**GOOD.to_dict(), **changes}
    return ("<!-- mlops-bot:run-record -->\n```json\n" + json.dumps(data) + "\n```")


def test_a_record_reads_back_as_written():
    assert parse_record(check_of(), "alpha", SHA) == GOOD


@pytest.mark.parametrize(("text", "why"), [
    (forged(metrics={"accuracy": "0.93"}), "metric"),
    (forged(metrics={"accuracy": True}), "metric"),
    (forged(metrics={"accuracy": math.nan}), "metric"),
    (forged(metrics={"acc`\n@everyone": 1.0}), "metric"),
    (forged(metrics=[1, 2]), "metrics"),
    (forged(run_id="x\ndecision=proceed"), "run_id"),
    (forged(run_id=12), "run_id"),
    (forged(version="latest"), "version"),
    (forged(produced_by="main"), "produced_by"),
    (forged(run_status="great"), "run_status"),
    (forged(run_status="succeeded", run_id=None), "without a version"),
    (forged(backend="ftp"), "backend"),
    (forged(pipeline="beta"), "not of alpha"),
    (forged(recorded_on=EARLIER), "not of alpha"),
    (forged(run_url="javascript:alert(1)"), "run_url"),
    (forged(run_url="https://x.example/a) [click](https://evil.example"), "run_url"),
    (forged(parameters=["size"]), "parameters"),
    (forged(error="x" * 501), "error"),
    (forged(schema_version=2), "schema_version"),
    (forged(extra="field"), "fields"),
    (forged(parameters={"size": "x" * 40_000}), "longer"),
    ("no record here", "no mlops-bot record"),
    ("<!-- mlops-bot:run-record -->\n```json\n{not json}\n```", "not JSON"),
])
def test_forged_records_are_refused_with_the_reason(text, why):
    with pytest.raises(InvalidRecord, match=why):
        parse_record(check_of(text=text), "alpha", SHA)


def test_a_check_run_on_another_commit_is_refused():
    with pytest.raises(InvalidRecord, match="is on"):
        parse_record(check_of(sha=EARLIER), "alpha", SHA)


def test_unknown_names_are_skipped_and_bad_records_kept_as_reasons():
    good = check_of()
    other = CheckRun(2, "lint", SHA, "completed", "success", "t", "s", "", None, None, "x")
    hostile = CheckRun(3, "mlops-bot: ../etc", SHA, "completed", "success", "t", "s", "", None,
                       None, "x")
    found = read_run_checks([good, other, hostile], SHA)
    assert found == {"alpha": GOOD}


def test_the_summary_escapes_what_came_from_the_pipeline():
    record = RunCheck(pipeline="alpha", recorded_on=SHA, run_status="failed", backend="local",
                      version="v-0123456789abcdef", run_id="alpha-1",
                      error="boom `@everyone`\n# heading")
    title, summary, _ = render_check(record)
    assert title == "alpha@v-0123456789abcdef: run failed"
    assert "@everyone" not in summary and "\n# heading" not in summary


def test_push_writes_a_check_run_per_pipeline_and_a_docs_commit_carries_them(tmp_path, github):
    repo = GitRepoBuilder(tmp_path / "repo")
    base = repo.commit({".gitignore": ".mlops/\n"})
    built = repo.commit({**pipeline_files("alpha"), **pipeline_files("beta")})
    first = push_event(repo.path, tmp_path, github, base, built)
    assert first.returncode == 0, first.stderr
    checks = records(github, built)
    assert sorted(checks) == ["mlops-bot: alpha", "mlops-bot: beta"]
    for name, check in checks.items():
        assert check["conclusion"] == "success"
        assert check["details_url"] == "https://github.example/octo/models/actions/runs/42"
        record = parse_record(CheckRun(check["id"], name, built, "completed", "success", "",
                                       "", check["output"]["text"], None, None, ""),
                              name.split(": ")[1], built)
        assert record.produced_by == built and record.run_status == "succeeded"
        assert record.version and record.version in check["output"]["summary"]
        assert record.parameters == {"size": 1} and record.backend == "local"
        assert check["output"]["title"].startswith(f"{record.pipeline}@{record.version}: run "
                                                   "succeeded")
    docs = repo.commit({"README.md": "docs only\n"})
    second = push_event(repo.path, tmp_path, github, built, docs)
    assert second.returncode == 0, second.stderr
    assert second.outputs["reason_code"] == "nothing_changed"
    carried = records(github, docs)
    assert sorted(carried) == sorted(checks)
    for check in carried.values():
        assert check["conclusion"] == "success"
        assert built[:12] in check["output"]["summary"]  # "nothing changed alpha since <built>"
        record = json.loads(check["output"]["text"].split("```json\n")[1].split("\n```")[0])
        assert (record["produced_by"], record["carried_from"], record["recorded_on"]) == (
            built, built, docs)


def test_a_pipeline_with_no_earlier_record_is_neutral_and_says_what_to_do(tmp_path, github):
    repo = GitRepoBuilder(tmp_path / "repo")
    base = repo.commit({".gitignore": ".mlops/\n", **pipeline_files("alpha")})
    docs = repo.commit({"README.md": "docs\n"})
    run = push_event(repo.path, tmp_path, github, base, docs)
    assert run.returncode == 0, run.stderr
    [check] = records(github, docs).values()
    assert check["conclusion"] == "neutral"
    assert f"{base[:12]} has no record" in check["output"]["summary"]


def test_push_without_checks_write_fails_and_says_which_permission(tmp_path, github):
    repo = GitRepoBuilder(tmp_path / "repo")
    base = repo.commit({".gitignore": ".mlops/\n", **pipeline_files("alpha")})
    docs = repo.commit({"README.md": "docs\n"})
    github.token_permissions = {"contents: read", "checks: read"}
    run = push_event(repo.path, tmp_path, github, base, docs)
    assert run.returncode == 1 and run.outputs["reason_code"] == "failed"
    assert "checks: write" in json.loads(run.outputs["result"])["message"]
    assert not github.repo().check_runs


def test_only_plain_finite_metrics_go_into_a_record():
    from mlops_bot.github.run_checks import sanitized_metrics

    hostile = {"accuracy": 0.9, "rmse": 2, "`@everyone\n# x": 1.0, "nan": math.nan,
               "flag": True, "text": "0.5", "inf": math.inf}
    assert sanitized_metrics(hostile) == {"accuracy": 0.9, "rmse": 2.0}
