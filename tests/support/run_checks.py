"""The push job's check runs in tests: a push through the action against the fake GitHub, and
check runs written straight into the fake (a forged one, or one a gcp push would have written)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from mlops_bot.github.run_checks import RunCheck, check_name, conclusion_of, render_check
from tests.support.action import ActionRun, run_action
from tests.support.fake_github import NOW, FakeGitHub, running

REPOSITORY = "octo/models"


def push_event(repo: Path, tmp: Path, github: FakeGitHub, before: str, after: str, *,
               branch: str = "main", env: dict[str, str] | None = None,
               image: str | None = None) -> ActionRun:
    """The push job as the mlops push workflow runs it, with the workflow token (in the action
    image with `image`)."""
    github.repo(REPOSITORY).commits.update({before, after})
    return run_action(repo, tmp, "push", {"before": before, "after": after,
                                          "ref": f"refs/heads/{branch}"},
                      inputs={"github-token": github.token},
                      env={"GITHUB_API_URL": github.url, "GITHUB_REPOSITORY": REPOSITORY,
                           "GITHUB_SERVER_URL": "https://github.example", "GITHUB_RUN_ID": "42",
                           **(env or {})}, image=image)


def pushed_with_checks(repo: Path, tmp: Path, before: str, after: str) -> list[dict[str, Any]]:
    """Push `after` once (for a module's fixture) and return the check runs it wrote, to give
    each test's fake GitHub with `give_checks`."""
    with running() as github:
        github.actions_token()
        run = push_event(repo, tmp, github, before, after)
        assert run.returncode == 0, run.stderr
        return copy.deepcopy(github.repo(REPOSITORY).check_runs)


def give_checks(github: FakeGitHub, checks: list[dict[str, Any]]) -> None:
    found = github.repo(REPOSITORY)
    found.check_runs.extend(copy.deepcopy(checks))
    found.commits.update(c["head_sha"] for c in checks)


def write_check(github: FakeGitHub, record: RunCheck, *, text: str | None = None,
                details_url: str | None = "https://github.example/octo/models/actions/runs/41",
                name: str | None = None) -> dict[str, Any]:
    """A check run on `record.recorded_on` as the push job renders it (or with another `text`:
    a forged one)."""
    title, summary, rendered = render_check(record)
    fields = {"id": 90000 + len(github.repo(REPOSITORY).check_runs),
              "name": name or check_name(record.pipeline), "head_sha": record.recorded_on,
              "status": "completed", "conclusion": conclusion_of(record),
              "details_url": details_url, "external_id": "", "started_at": NOW,
              "completed_at": NOW, "app": "github-actions",
              "output": {"title": title, "summary": summary,
                         "text": rendered if text is None else text}}
    github.repo(REPOSITORY).check_runs.append(fields)
    github.repo(REPOSITORY).commits.add(record.recorded_on)
    return fields


def records(github: FakeGitHub, sha: str) -> dict[str, dict[str, Any]]:
    """The latest check run of each name on `sha`, as the fake holds them."""
    latest: dict[str, dict[str, Any]] = {}
    for check in github.repo(REPOSITORY).check_runs:
        if check["head_sha"] == sha:
            latest[check["name"]] = check
    return latest
