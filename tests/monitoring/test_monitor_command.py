"""`mlops-bot monitor` on a state folder made by hand: the table, --json, the PNG, the drift
episode, the job summary and the drift issue (the real PyGithub client against the fake GitHub),
and one sentence with exit 1 (or 2) for each input it cannot use (nothing to judge is not
one of them: tests/monitoring/test_nothing_to_judge.py)."""

from __future__ import annotations

import json
import struct
import time
from pathlib import Path

import pytest

from mlops_bot.cli import main
from mlops_bot.errors import UserError
from mlops_bot.flows.monitor import monitor
from mlops_bot.flows.schedules import parse_now
from mlops_bot.github.pygithub_client import ClientSettings
from mlops_bot.github.pygithub_forge import GithubForge
from mlops_bot.monitoring.png import LEGEND_HEIGHT, PANEL_HEIGHT, WIDTH
from tests.monitoring.synthetic import MLOPS_YAML, NOW, NOW_ISO, log_requests, make_state, rows
from tests.support.action import run_action
from tests.support.cli import cli

DAY = 86400


@pytest.fixture
def drifted(tmp_path: Path) -> Path:
    """Alcohol shifted by one standard deviation in the last day; the day before as trained."""
    repo = tmp_path / "repo"
    state = make_state(repo)
    log_requests(state, rows(300, 2, shift=1.0), NOW)
    log_requests(state, rows(300, 3), NOW - DAY)
    return repo


def monitor_cli(repo: Path, *args: str):
    return cli("monitor", "staging", "--now", NOW_ISO, *args, cwd=repo)


def test_the_table_flags_the_shifted_feature_and_no_other(drifted):
    result = monitor_cli(drifted)
    assert result.returncode == 1, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "mlops-bot monitor staging: 1 of 4 feature(s) over the threshold: alcohol"
    assert "300 logged request(s) against wine_quality version 1's training data (1500 rows" \
        in lines[1]
    table = {tuple(line.split()[:2]): line.split() for line in lines[4:12]}
    assert table[("alcohol", "skew")][-1] == "DRIFT" and table[("alcohol", "drift")][-1] == "DRIFT"
    assert table[("ph", "skew")][2] == "ks" and table[("ph", "skew")][-1] == "ok"
    assert [row[-1] for key, row in table.items() if key[0] != "alcohol"] == ["ok"] * 6
    assert table[("colour", "skew")][2] == "jensen_shannon"  # categorical: its own statistic


def test_json_is_one_document_and_the_plot_a_png(drifted, tmp_path):
    plot = tmp_path / "worst.png"
    result = monitor_cli(drifted, "--json", "--plot", str(plot))
    assert result.returncode == 1, result.stderr
    document = json.loads(result.stdout)
    assert document["drift"] is True and document["requests"] == 300
    assert document["model"] == {"deployed_model_id": "wine_quality-1", "model": "wine_quality",
                                 "model_version": "1", "run_id": "wine-quality-run-1"}
    verdicts = {(f["feature"], f["objective"]): f["verdict"] for f in document["features"]}
    assert {k for k, v in verdicts.items() if v == "drift"} == {("alcohol", "skew"),
                                                               ("alcohol", "drift")}
    assert document["plot"] == str(plot)
    data = plot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (WIDTH, LEGEND_HEIGHT + 4 * PANEL_HEIGHT)  # the 4 worst features
    assert 2_000 < len(data) < 200_000


def test_requests_like_the_training_data_pass(tmp_path):
    repo = tmp_path / "repo"
    log_requests(make_state(repo), rows(300, 2), NOW)
    result = monitor_cli(repo)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("mlops-bot monitor staging: no drift in 4 feature(s)")
    assert "no requests were logged in the 1d before: drift is checked from the next window on" \
        in result.stdout


def test_a_categorical_shift_is_flagged(tmp_path):
    repo = tmp_path / "repo"
    log_requests(make_state(repo), rows(300, 2, red=0.95), NOW)
    document = json.loads(monitor_cli(repo, "--json").stdout)
    assert [(f["feature"], f["statistic"]) for f in document["features"]
            if f["verdict"] == "drift"] == [("colour", "jensen_shannon")]


@pytest.mark.parametrize(("setup", "args", "code", "sentence"), [
    ("no_monitoring", (), 1, "environments.staging.monitoring is not set in mlops.yaml: add "
     "`monitoring: {}` under staging"),
    ("no_training_data", (), 1, "run wine-quality-run-1 has no training data to compare "
     "requests with: a component of the pipeline must write an Output[Dataset] named "
     "train_data or training_data (a CSV with a header); its Dataset outputs: test_data"),
    ("unknown_feature", (), 1, "environments.staging.monitoring.features: 'alcohl' is not a "
     "feature of both the requests and the training data; did you mean 'alcohol'?"),
    ("unknown_override", (), 1, "environments.staging.monitoring.drift.per_feature: 'sugr' is "
     "neither in the requests nor in the training data; did you mean 'sugar'?"),
    ("ok", ("--window", "3 days"), 2, "--window: '3 days' is not a duration"),
])
def test_what_cannot_be_monitored_is_one_sentence(tmp_path, capsys, setup, args, code, sentence):
    repo = tmp_path / "repo"
    config = {"no_monitoring": "local: {builder: venv}\nenvironments:\n  staging: "
              "{endpoint: wine-staging}\n",
              "unknown_feature": MLOPS_YAML + "      features: [alcohl]\n",
              "unknown_override": MLOPS_YAML + "      drift:\n        per_feature:\n"
              "          sugr: {statistic: psi, threshold: 0.2}\n"}.get(setup, MLOPS_YAML)
    state = make_state(repo, training=setup != "no_training_data", config=config)
    log_requests(state, rows(50, 2), NOW)
    exit_code = main(["monitor", "staging", "--now", NOW_ISO, "--repo", str(repo), *args])
    out, err = capsys.readouterr()  # in-process: the same main() as the command, seconds less
    assert exit_code == code, out + err
    assert sentence in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 and out == ""


FAST = ClientSettings(retries=0, pace=False)
ISSUE_YAML = MLOPS_YAML + "      alerts: {github_issue: true}\n"


def test_drift_opens_an_episode_an_issue_and_the_summary_until_it_clears(tmp_path, github):
    repo = tmp_path / "repo"
    state = make_state(repo, config=ISSUE_YAML)
    log_requests(state, rows(300, 2, shift=1.0), NOW)
    github.repo()  # the repository exists on the fake
    forge = GithubForge("octo/models", github.token, github.url, settings=FAST)
    summary = tmp_path / "summary.md"
    environ = {"GITHUB_STEP_SUMMARY": str(summary)}
    first = monitor(repo, "staging", None, parse_now(NOW_ISO), forge, environ=environ)
    episode = json.loads((state / "monitoring" / "staging" / "episode.json").read_text())
    assert episode["features"] == ["alcohol"] and episode["retrain"] is None
    [issue] = github.repo().issues.values()
    assert issue.title == "mlops-bot: drift in staging (window 1d)" and first.issue == issue.number
    [comment] = issue.comments
    assert "| `alcohol` | skew | psi |" in comment.body and "**DRIFT**" in comment.body
    assert "### Model monitoring: `staging`" in summary.read_text()
    # An hour later, still drifting: the same episode, the same comment updated.
    second = monitor(repo, "staging", None, parse_now("2026-05-28T21:26:40Z"), forge,
                     environ=environ)
    assert second.episode is not None and second.episode["started"] == episode["started"]
    assert len(github.repo().issues) == 1 and len(issue.comments) == 1
    # Two days later the requests are as trained: the episode ends, said on the same comment.
    log_requests(state, rows(300, 4), NOW + 2 * DAY)
    third = monitor(repo, "staging", None, parse_now("2026-05-30T20:26:40Z"), forge,
                    environ=environ)
    assert not third.drifted and third.episode is None
    assert not (state / "monitoring" / "staging" / "episode.json").exists()
    assert len(issue.comments) == 1 and "drift cleared" in issue.comments[0].body
    assert summary.read_text().count("### Model monitoring") == 3


def test_a_foreign_issue_of_that_title_is_not_reported_on(tmp_path, github):
    repo = tmp_path / "repo"
    log_requests(make_state(repo, config=ISSUE_YAML), rows(300, 2, shift=1.0), NOW)
    foreign = github.add_issue("mlops-bot: drift in staging (window 1d)", author="mallory")
    forge = GithubForge("octo/models", github.token, github.url, settings=FAST)
    result = monitor(repo, "staging", None, parse_now(NOW_ISO), forge, environ={})
    assert result.issue is not None and result.issue != foreign.number
    assert foreign.comments == []


def test_a_handful_of_requests_is_not_judged_however_shifted(tmp_path, capsys):
    repo = tmp_path / "repo"
    state = make_state(repo, config=ISSUE_YAML + "      retrain_on_drift: weekly\nschedules:\n"
                       "  - {name: weekly, pipeline: tiny, cron: '0 3 * * 1'}\n")
    log_requests(state, rows(5, 2, shift=3.0), NOW)  # five requests: no distribution yet
    args = ["monitor", "staging", "--now", NOW_ISO, "--repo", str(repo)]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert out.startswith("mlops-bot monitor staging: no drift found, but 4 of 4 feature(s) not "
                          "judged: too few samples")
    assert "not judged, fewer than monitoring.min_samples (100) values on a side: alcohol, " \
        "colour, ph, sugar" in out
    assert main([*args, "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert {f["verdict"] for f in document["features"] if f["objective"] == "skew"} == {"too_few"}
    assert [f["value"] for f in document["features"]] == [None] * 8
    assert document["episode"] is None and document["retrain"] is None
    assert not (state / "monitoring" / "staging" / "episode.json").exists()
    # Enough of the same shift: judged, and alcohol alone is over its threshold.
    log_requests(state, rows(120, 3, shift=3.0), NOW - 60)
    (repo / "mlops.yaml").write_text(ISSUE_YAML)  # no retraining: no pipeline to run here
    assert main([*args, "--json"]) == 1
    document = json.loads(capsys.readouterr().out)
    assert {f["feature"] for f in document["features"] if f["verdict"] == "drift"} == {"alcohol"}
    # A day later five requests: too few to say the drift is over, so its episode goes on.
    log_requests(state, rows(5, 4), NOW + DAY)
    assert main([*args[:2], "--now", "2026-05-29T20:26:40Z", *args[4:]]) == 0
    out = capsys.readouterr().out
    assert "drift since 2026-05-28T20:26:40Z is not over: alcohol could not be judged" in out
    assert (state / "monitoring" / "staging" / "episode.json").exists()


def test_a_ks_override_on_a_categorical_feature_names_the_key(tmp_path):
    repo = tmp_path / "repo"
    config = MLOPS_YAML + "          colour: {statistic: ks, threshold: 0.01}\n"
    log_requests(make_state(repo, config=config), rows(50, 2), NOW)
    with pytest.raises(UserError, match=r"environments.staging.monitoring.skew.per_feature."
                       r"colour: ks needs numbers, and colour is categorical"):
        monitor(repo, "staging", None, parse_now(NOW_ISO), forge=None, environ={})  # type: ignore[arg-type]


def test_the_action_checks_each_environment_due_and_reports_in_the_summary(tmp_path, github):
    repo = tmp_path / "repo"
    config = ISSUE_YAML + "  production:\n    endpoint: wine-prod\n"  # no monitoring: skipped
    log_requests(make_state(repo, config=config), rows(300, 2, shift=1.0), time.time())
    github.add_issue("an older issue")  # the repository exists on the fake
    done = run_action(repo, tmp_path, "schedule", {}, inputs={
        "command": "monitor", "github-token": github.token},
        env={"GITHUB_API_URL": github.url, "GITHUB_REPOSITORY": "octo/models"})
    assert done.returncode == 0, done.stderr
    assert done.outputs["decision"] == "stop" and done.outputs["reason_code"] == "ok"
    details = json.loads(done.outputs["result"])["details"]
    assert list(details["environments"]) == ["staging"] and details["failed"] == []
    assert details["environments"]["staging"]["drift"] is True
    assert "### Model monitoring: `staging`" in done.summary and "**DRIFT**" in done.summary
    assert [i.title for i in github.repo().issues.values()][-1] == (
        "mlops-bot: drift in staging (window 1d)")


@pytest.mark.parametrize("damage", ['{"started": "2026-05-28T2', '{"started": 5}',
                                    '{"started": "soon"}', '{"started": "2026-05-28T20:26:40Z", '
                                    '"retrain": "weekly"}', '["started"]'],
                         ids=["truncated", "number", "not_a_time", "retrain_text", "list"])
def test_a_damaged_episode_or_last_result_is_one_sentence_naming_the_file(drifted, damage):
    episode = drifted / ".mlops" / "monitoring" / "staging" / "episode.json"
    episode.parent.mkdir(parents=True, exist_ok=True)
    episode.write_text(damage)
    result = monitor_cli(drifted)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    named = episode.relative_to(drifted)  # the state folder as mlops.yaml's folder has it
    assert f"mlops-bot: {named} is " in result.stderr and f"mv {named} {named}.bad" in result.stderr
    episode.unlink()  # the fix: the next check starts an episode again
    assert monitor_cli(drifted).returncode == 1 and episode.exists()
    last = episode.with_name("last.json")
    last.write_text('{"features": "abc", "model": []}')
    status = cli("monitoring", "status", "staging", cwd=drifted)
    assert status.returncode == 1 and "Traceback" not in status.stderr, status.stderr
    assert f"{last.relative_to(drifted)} is damaged" in status.stderr
