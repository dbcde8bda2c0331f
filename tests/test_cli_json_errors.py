"""The CLI's promises on its failure paths: with --json exactly one JSON document on stdout
(`{"error": {"code", "message"}}`), the sentence once on stderr, exit 1 refused or failed,
2 usage, 130 on Ctrl-C; filters that match nothing say so; config check and init."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mlops_bot.backends.local.files import replace_json
from mlops_bot.backends.local.registry import DirectoryRegistry
from mlops_bot.backends.types import RunRecord
from tests.support.cli import cli
from tests.support.gitrepo import GitRepoBuilder, pipeline_files

CONFIG = "environments:\n  staging:\n    endpoint: wine-staging\n"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository with pipelines alpha and beta, alpha published and run once."""
    builder = GitRepoBuilder(tmp_path / "repo")
    builder.commit({"mlops.yaml": CONFIG, **pipeline_files("alpha"), **pipeline_files("beta")})
    state = builder.path / ".mlops"
    DirectoryRegistry(state / "registry").publish("alpha", b"alpha spec", {})
    record = RunRecord(run_id="alpha-1", pipeline="alpha", version="v-1", git_sha="a" * 40,
                       status="succeeded", parameters={}, started_at="2026-01-01T00:00:00")
    replace_json(state / "runs" / "alpha-1" / "run.json", dataclasses.asdict(record))
    return builder.path


def error_document(repo: Path, *args: str, code: str, exit_code: int = 1) -> str:
    """Run a --json command that fails; check the one document and the one sentence."""
    result = cli(*args, "--json", "--repo", str(repo))
    assert result.returncode == exit_code, (result.stdout, result.stderr)
    assert result.stdout.count("\n") == 1, result.stdout  # one document, one line
    document = json.loads(result.stdout)
    assert list(document) == ["error"] and document["error"]["code"] == code
    message: str = document["error"]["message"]
    assert result.stderr.count(message) == 1 and "Traceback" not in result.stderr
    return message


@pytest.mark.parametrize(("args", "code", "exit_code", "says"), [
    (("deploy", "stagin", "--pipeline", "alpha"), "failed", 1, "did you mean 'staging'?"),
    (("deploy", "staging", "--pipeline", "alpha", "--traffic", "150"), "usage", 2,
     "'150' is not a whole percentage from 1 to 100"),
    (("deploy", "staging", "--pipeline", "alpha", "--traffic", "ten"), "usage", 2,
     "'ten' is not a whole percentage"),
    (("deploy", "staging"), "usage", 2, "the following arguments are required: --pipeline"),
    (("registry", "show", "alpha@v-0000000000000000"), "failed", 1, "no version or tag"),
    (("registry", "list", "alpah"), "failed", 1,
     "no pipeline 'alpah' in the registry (did you mean 'alpha'?) (it has: alpha)"),
    (("runs", "list", "--pipeline", "alpah"), "failed", 1,
     "no runs of pipeline 'alpah' (did you mean 'alpha'?): runs exist for alpha"),
    (("runs", "list", "--sha", "abc"), "usage", 2, "too short"),
    (("endpoints", "show", "nope"), "failed", 1, "unknown environment 'nope'"),
    (("rollback", "nope"), "failed", 1, "unknown environment 'nope'"),
    (("retrain", "--pipeline", "nope"), "failed", 1, "no schedule in mlops.yaml runs pipeline"),
    (("push", "--param", "size"), "usage", 2, "must look like name=value"),
])
def test_each_json_error_path_prints_one_error_document(repo, args, code, exit_code, says):
    assert says in error_document(repo, *args, code=code, exit_code=exit_code)


def test_an_invalid_mlops_yaml_is_one_error_document_for_every_json_command(repo):
    (repo / "mlops.yaml").write_text("environments:\n  staging:\n    canary_percent: 300\n")
    for args in (("runs", "list"), ("registry", "list"), ("endpoints", "list"), ("retrain",),
                 ("deploy", "staging", "--pipeline", "alpha")):
        message = error_document(repo, *args, code="invalid_config")
        assert "canary_percent: must be at most 100" in message


def test_filters_that_match_nothing_say_so(repo):
    (repo / ".mlops" / "registry").rename(repo / "elsewhere")
    empty = cli("registry", "list", "alpha", "--repo", str(repo))
    assert empty.returncode == 1 and "The registry is empty" not in empty.stdout
    assert "no pipeline 'alpha' in the registry: it is empty" in empty.stderr
    sha = cli("runs", "list", "--pipeline", "alpha", "--sha", "b" * 40, "--repo", str(repo))
    assert sha.returncode == 0
    assert sha.stdout == f"No runs of pipeline alpha and commit {'b' * 40}: `mlops-bot runs " \
                         "list` lists them all.\n"
    retrain = cli("retrain", "--repo", str(repo))
    assert retrain.returncode == 0 and "No schedule was due" not in retrain.stdout
    assert "mlops.yaml configures no schedules" in retrain.stdout


def test_config_check_names_pipelines_and_schedules_that_do_not_exist(repo):
    (repo / "mlops.yaml").write_text(
        CONFIG + "pipelines:\n  alpah:\n    parameters: {size: 2}\n  beta: {}\n"
        "schedules:\n  - {name: weekly, pipeline: gamma, cron: '0 3 * * 1'}\n")
    result = cli("config", "check", "--repo", str(repo))
    assert result.returncode == 1 and result.stdout == ""
    assert "pipelines.alpah: no pipeline 'alpah' (did you mean 'alpha'?)" in result.stderr
    assert "schedules[0].pipeline: no pipeline 'gamma'" in result.stderr
    assert "pipelines.beta" not in result.stderr
    (repo / "mlops.yaml").write_text(CONFIG + "pipelines:\n  alpha: {}\n")
    assert cli("config", "check", "--repo", str(repo)).returncode == 0


def test_a_deploy_refusal_is_said_once(repo):
    result = cli("deploy", "staging", "--pipeline", "beta", "--repo", str(repo))
    assert result.returncode == 1
    said = (result.stdout + result.stderr).strip().splitlines()
    assert len(said) == len(set(said)), said


@pytest.mark.parametrize("as_json", [False, True])
def test_ctrl_c_exits_130_with_one_sentence(repo, as_json):
    # mlops.yaml as a named pipe: the command waits reading it (as on a slow network disk)
    # until it is interrupted.
    (repo / "mlops.yaml").unlink()
    os.mkfifo(repo / "mlops.yaml")
    command = [sys.executable, "-m", "mlops_bot", "runs", "list", "--repo", str(repo),
               *(["--json"] if as_json else [])]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    _wait_until_blocked_in_open(process.pid)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == 130, stderr
    assert stderr.strip() == "mlops-bot: `runs` was interrupted (Ctrl-C)"
    if as_json:
        assert json.loads(stdout)["error"]["code"] == "interrupted"
    else:
        assert stdout == ""


def _wait_until_blocked_in_open(pid: int) -> None:
    """Until the process sleeps opening the pipe (its handler is running, past start-up)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if Path(f"/proc/{pid}/wchan").read_text() in ("fifo_open", "wait_for_partner"):
            return
        time.sleep(0.05)
    raise AssertionError("the command never started reading mlops.yaml")


def test_endpoints_list_skips_an_environment_whose_state_is_damaged(repo):
    from mlops_bot.backends.local.endpoints import LocalEndpoints

    (repo / "mlops.yaml").write_text(CONFIG + "  prod:\n    endpoint: wine-prod\n")
    endpoints = LocalEndpoints(repo / ".mlops")
    endpoints.ensure("staging", "wine-staging")
    endpoints.ensure("prod", "wine-prod")
    bad = repo / ".mlops" / "endpoints" / "staging.json"
    bad.write_text('{"environment": "staging", "revis')
    listed = cli("endpoints", "list", "--json", "--repo", str(repo))
    assert listed.returncode == 0
    assert [e["environment"] for e in json.loads(listed.stdout)["environments"]] == ["prod"]
    assert f"skipped environment staging: {bad} is not valid JSON" in listed.stderr
    message = error_document(repo, "endpoints", "show", "staging", code="invalid_state")
    assert message.startswith(f"{bad} is not valid JSON") and f"mv {bad} {bad}.bad" in message


def test_an_unexpected_failure_exits_3_with_an_internal_error_document(repo, monkeypatch, capsys):
    from mlops_bot.cli import main, runs

    def broken(**_: object) -> int:
        raise RuntimeError("a bug")

    monkeypatch.setattr(runs, "run_runs_list", broken)
    assert main(["runs", "list", "--json", "--repo", str(repo)]) == 3
    out, err = capsys.readouterr()
    error = json.loads(out)["error"]
    assert error["code"] == "internal" and "RuntimeError: a bug" in error["message"]
    assert "Traceback" in err and err.count(error["message"]) == 1
