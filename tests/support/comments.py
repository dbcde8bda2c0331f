"""PR comments as the runner delivers them to the action, and what the bot answered."""

from __future__ import annotations

from pathlib import Path

from tests.support.action import ActionRun, run_action
from tests.support.fake_github import NOW, FakeGitHub
from tests.support.gitrepo import GitRepoBuilder


def comment(repo: GitRepoBuilder, tmp: Path, github: FakeGitHub, body: str, *,
            number: int = 7, login: str = "alice", action: str = "created",
            user_type: str = "User", pull: bool = True, image: str | None = None,
            env: dict[str, str] | None = None, created_at: str = NOW) -> ActionRun:
    issue: dict[str, object] = {"number": number}
    if pull:
        issue["pull_request"] = {"url": f"{github.url}/repos/octo/models/pulls/{number}"}
    event = {"action": action, "issue": issue,
             "comment": {"id": 555, "body": body, "user": {"login": login, "type": user_type},
                         "created_at": created_at}}
    return run_action(repo.path, tmp, "issue_comment", event,
                      inputs={"github-token": github.token},
                      env={"GITHUB_API_URL": github.url, "GITHUB_REPOSITORY": "octo/models",
                           **(env or {})}, image=image)


def sticky(github: FakeGitHub, number: int = 7) -> str:
    [only] = [c for c in github.comments(number) if c.author == "github-actions[bot]"]
    return only.body
