"""Who runs a local run: a live owner is waited for (until the deadline), a gone one is not."""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import time
from datetime import UTC, datetime

from mlops_bot.backends.local.run_owner import gone_why, process_identity
from mlops_bot.backends.local.runner import LocalRunner
from mlops_bot.backends.types import RunRequest

REQUEST = RunRequest(run_id="alpha-0123456789abcdef", pipeline="alpha", version="v-1",
                     spec=b"{}", parameters={}, git_sha="a" * 40, trigger="push")


def test_a_run_another_process_holds_is_running_then_still_running_at_the_deadline(tmp_path):
    runner = LocalRunner(tmp_path / "runs", tmp_path / "envs", poll=0.05)
    folder = tmp_path / "runs" / REQUEST.run_id
    folder.mkdir(parents=True)
    with open(folder / ".claim", "a") as claim:
        fcntl.flock(claim, fcntl.LOCK_EX)  # as the push running it (or its worker) holds it
        assert runner.start(REQUEST).status == "running"
        started = time.monotonic()
        record = runner.wait(REQUEST, started + 0.3)
    assert 0.3 <= time.monotonic() - started < 5
    assert record.status == "failed" and record.error is not None
    assert f"run {REQUEST.run_id} is still running" in record.error
    assert "did not end before this push's deadline" in record.error
    assert runner.get(REQUEST.run_id) is None  # the holder records its run, not the waiter


def test_an_owner_on_this_host_is_alive_until_it_exits_or_its_pid_is_reused(tmp_path):
    process = subprocess.Popen(["sleep", "30"])
    try:
        owner = {**process_identity(process.pid), "worker_pid": None}
        assert gone_why(owner, tmp_path / "heartbeat", 30) is None
        reused = {**owner, "started": owner["started"] + 1}  # another process got the pid
        assert "are gone" in (gone_why(reused, tmp_path / "heartbeat", 30) or "")
    finally:
        process.kill()
        process.wait()
    assert "killed or crashed" in (gone_why(owner, tmp_path / "heartbeat", 30) or "")
    assert "names no process" in (gone_why(None, tmp_path / "heartbeat", 30) or "")


def test_an_owner_on_another_host_is_alive_while_its_heartbeat_is_fresh(tmp_path):
    heartbeat = tmp_path / "heartbeat"
    owner = {"pid": 1, "host": "elsewhere", "boot_id": "x", "started": 1}
    assert "never beat" in (gone_why(owner, heartbeat, 30) or "")
    heartbeat.touch()
    assert gone_why(owner, heartbeat, 30) is None
    os.utime(heartbeat, (time.time() - 60, time.time() - 60))
    assert "last beat 60 s ago" in (gone_why(owner, heartbeat, 30) or "")


def test_a_failure_that_ended_while_waiting_is_reported_not_run_again(tmp_path):
    runner = LocalRunner(tmp_path / "runs", tmp_path / "envs", poll=0.05)
    folder = tmp_path / "runs" / REQUEST.run_id
    folder.mkdir(parents=True)
    with open(folder / ".claim", "a") as claim:
        fcntl.flock(claim, fcntl.LOCK_EX)
        assert runner.start(REQUEST).status == "running"
        now = datetime.now(UTC).isoformat(timespec="seconds")
        (folder / "run.json").write_text(json.dumps({  # the holder's run ends, failed
            **{k: v for k, v in vars(REQUEST).items() if k in ("run_id", "pipeline", "version",
                                                               "git_sha", "parameters")},
            "status": "failed", "started_at": now, "finished_at": now, "error": "task train failed",
            "owner": {**process_identity(), "attempt": 1}, "attempts": []}))
    record = runner.wait(REQUEST, time.monotonic() + 5)
    assert (record.status, record.error) == ("failed", "task train failed")
    assert not (folder / "request.json").exists()  # the waiter started nothing
