"""A deploy job killed -9 cannot end its own Deployment: the next deploy job of the environment,
once it holds the lock the killed one left to lapse, ends it with error and why, so no
Deployment stays `in_progress` forever (the fixtures and helpers of test_deploy_faults)."""

from __future__ import annotations

import signal
import time

import pytest

from tests.flows.test_deploy_faults import (  # noqa: F401 (fixtures)
    CANDIDATE,
    deploy_job,
    project,
    requested,
    serving_first,
    state,
    stopped,
    traffic,
)
from tests.support.processes import Process

pytestmark = pytest.mark.slow


def test_the_next_deploy_job_ends_the_deployment_a_killed_job_left_in_progress(
        project, state, tmp_path, github):  # noqa: F811
    asked = requested(project, state, tmp_path, github)
    job, _ = deploy_job(project, state, tmp_path, github, asked, "canary",
                        MLOPS_BOT_LOCK_SECONDS="3")
    assert isinstance(job, Process) and stopped(job, signal.SIGKILL) == -9
    [killed] = github.repo().deployments.values()
    assert [s["state"] for s in killed.statuses] == ["queued", "in_progress"]
    time.sleep(3)  # its lock lapses: nobody renews it
    next_job, _ = deploy_job(project, state, tmp_path, github,
                             requested(project, state, tmp_path, github))
    _, stderr = next_job.communicate(timeout=120)
    assert next_job.returncode == 0, stderr
    newest = max(github.repo().deployments.values(), key=lambda d: d.id)
    assert [s["state"] for s in killed.statuses] == ["queued", "in_progress", "error"]
    assert killed.statuses[-1]["description"] == (
        f"its deploy job stopped without finishing (killed); deployment {newest.id} took over "
        "staging")
    assert newest.statuses[-1]["state"] == "success"
    assert traffic(state) == {CANDIDATE: 100}
